"""`regseg report --format latex`: booktabs tables that pdflatex compiles."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from reports.latex import escape, render_document
from reports.mlflow_source import frame_from_records
from reports.report import report_from_frame

from tests.reports.test_tables import run


def _pdflatex():
    path = shutil.which("pdflatex")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdflatex is missing (run tools/ensure-pdflatex)")
        pytest.skip("pdflatex is missing (tools/ensure-pdflatex installs it)")
    return path


def _runs():
    runs = [run("decoder", "exp43_decoder14", v, seed=s) for s, v in enumerate((75.0, 75.2, 75.1))]
    runs += [run("decoder", "exp43_decoder26", v, seed=s) for s, v in enumerate((76.5, 76.7, 76.6))]
    runs += [run("decoder", "exp43_lraspp", 74.0)]
    runs += [run("my_sweep", "exp48_decoder26", 70.0 + s, seed=s,
                 label="model_name=exp48_decoder26,lr=0.01&momentum=50%_#1") for s in (0, 1)]
    return runs


def test_document_has_one_booktabs_table_per_group_best_in_bold_and_marks():
    tex = report_from_frame(frame_from_records(_runs())).latex
    assert tex.count(r"\begin{table}") == 2 and tex.count(r"\toprule") == 2
    line26 = next(row for row in tex.splitlines() if row.startswith("decoder26 &"))
    assert line26.startswith(r"decoder26 & \textbf{76.60} $\pm$ 0.10$^{*}$ & 3 & +1.50 &")
    assert next(row for row in tex.splitlines() if row.startswith("lraspp &")).startswith(
        r"lraspp & 74.00$^{\dagger}$ & 1")
    assert "Holm-adjusted over the 1 comparison of this table" in tex
    assert r"lr=0.01\&momentum=50\%\_\#1" in tex


def test_escape():
    assert escape(r"a_b & 100% {x} ~^\ ±—é") == (
        r"a\_b \& 100\% \{x\} \textasciitilde{}\textasciicircum{}\textbackslash{} $\pm$---?")


def test_latex_compiles_with_pdflatex(tmp_path, imported_store):
    pdflatex = _pdflatex()
    from regseg.cli import app

    res = CliRunner().invoke(app, ["report", "--tracking-uri", imported_store[0],
                                   "--format", "latex", "--out", str(tmp_path / "tables.md")],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    tex = tmp_path / "tables.tex"
    synthetic = tmp_path / "synthetic.tex"
    synthetic.write_text(render_document(report_from_frame(frame_from_records(_runs())).tables))
    for source in (tex, synthetic):
        done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", source.name],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-3000:]
        pdf = source.with_suffix(".pdf")
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
