"""Report tables -> a LaTeX document: one booktabs table per group, compiles with pdflatex.

Each table has one line per configuration: mean ± sample std, n, the difference from the
baseline row and the Holm-adjusted Welch p-value, with the best mean in bold and a mark on the
rows that differ significantly from the baseline; a footnote under each table says what the
marks and numbers are. Packages: booktabs and graphicx only (texlive-latex-base +
texlive-latex-recommended). Byte-deterministic like the markdown.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

from reports.statistics import ALPHA
from reports.tables import Table

SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
           "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
           "^": r"\textasciicircum{}", "±": r"$\pm$", "—": "---", "Δ": r"$\Delta$",
           "×": r"$\times$"}
METRIC_TEX = {"miou": "mIoU", "miou_reduced": "mIoU$^R$"}
SIGNIFICANT = r"$^{*}$"
NO_TEST = r"$^{\dagger}$"
#: Longest first-column text that fits the page without scaling the table down.
FITS = 40


def escape(text: Any) -> str:
    """``text`` with LaTeX's special characters (and the report's few non-ASCII ones) escaped;
    any other non-ASCII character becomes ``?`` so pdflatex never stops on it."""
    out = "".join(SPECIAL.get(ch, ch) for ch in str(text))
    return re.sub(r"[^\x00-\x7f]", "?", out)


def _num(value: float | None, fmt: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "---"
    return format(value, fmt)


def _p(value: float | None) -> str:
    if value is None:
        return "---"
    return "$<$0.001" if value < 0.001 else f"{value:.3f}"


def _mean_cell(rec: dict[str, Any], best: float | None) -> str:
    mean = _num(rec["mean"])
    if rec["mean"] is not None and best is not None and round(rec["mean"], 2) == round(best, 2):
        mean = rf"\textbf{{{mean}}}"
    cell = mean if rec["std"] is None else rf"{mean} $\pm$ {_num(rec['std'])}"
    if rec["verdict"] == "significant":
        cell += SIGNIFICANT
    elif rec["verdict"].startswith("n=1"):
        cell += NO_TEST
    return cell


def _delta(rec: dict[str, Any]) -> str:
    return "baseline" if rec["baseline"] else (
        "---" if rec["delta"] is None else f"{rec['delta']:+.2f}")


def footnote(records: Sequence[dict[str, Any]]) -> str:
    k = sum(1 for r in records if r.get("p_value") is not None)
    return (r"Mean $\pm$ sample std over $n$ runs; best mean in bold. $\Delta$: difference "
            r"from the baseline row. $p$: two-sided Welch $t$-test against the baseline, "
            f"Holm-adjusted over the {k} comparison{'s' if k != 1 else ''} of this table. "
            f"{SIGNIFICANT}~significant ($p < {ALPHA}$); {NO_TEST}~a single run, no test; "
            "unmarked rows are not significantly different from the baseline at their $n$.")


def table_tex(table: Table, label: str) -> str:
    """One ``table`` environment for ``table`` (which must carry records)."""
    records = table.records
    metric = METRIC_TEX.get(records[0]["metric"], escape(records[0]["metric"]))
    means = [r["mean"] for r in records if r["mean"] is not None]
    best = max(means) if means else None
    lines = [
        r"\begin{table}[ht]", r"\centering",
        rf"\caption{{{escape(table.title)}: {metric} ({escape(records[0]['stat'])} epoch, \%)}}",
        rf"\label{{tab:{re.sub(r'[^A-Za-z0-9]+', '-', label)}}}",
    ]
    wide = max(len(str(r["key"])) for r in records) > FITS
    if wide:
        lines.append(r"\resizebox{\linewidth}{!}{%")
    lines += [r"\begin{tabular}{lrrrr}", r"\toprule",
              rf"configuration & {metric} & $n$ & $\Delta$ & $p$ (Holm) \\", r"\midrule"]
    for rec in records:
        lines.append(f"{escape(rec['key'])} & {_mean_cell(rec, best)} & {rec['n']} & "
                     rf"{_delta(rec)} & {_p(rec['p_holm'])} \\")
    lines += [r"\bottomrule", r"\end{tabular}" + ("}" if wide else "")]
    lines += [r"\par\smallskip", rf"\parbox{{\linewidth}}{{\footnotesize {footnote(records)}}}",
              r"\end{table}"]
    return "\n".join(lines)


def group_tables(tables: Sequence[Table]) -> list[Table]:
    """One table per group: the group's first table with per-row records."""
    seen, out = set(), []
    for table in tables:
        if table.records and table.group not in seen:
            seen.add(table.group)
            out.append(table)
    return out


def render_document(tables: Sequence[Table]) -> str:
    """A complete LaTeX document holding every group's table (ends with a newline)."""
    body = [table_tex(t, t.group) for t in group_tables(tables)]
    head = [r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage{booktabs}",
            r"\usepackage{graphicx}", r"\usepackage[margin=2cm]{geometry}",
            r"\begin{document}", "", r"\section*{Ablation studies}",
            "Regenerated by \\texttt{regseg report} from the MLflow tracking store.", ""]
    return "\n".join(head + ["\n\n".join(body), "", r"\end{document}", ""])
