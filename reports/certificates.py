"""The report's appendix: per table row, a compact certificate of where its numbers came from.

A certificate lists the row's MLflow run ids, the code (commit, dirty tree; for imported
reference runs the log file and its sha256), the spec hash, the dataset fingerprint and the
environment (python / torch / CUDA / GPU), each as the distinct values over the row's runs.
A tag a run does not carry shows as ``unknown``; nothing here raises on missing tags. Each
table then gets warnings a reviewer should see: rows that mix commits or come from a dirty
tree, and dataset fingerprints that differ within the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

UNKNOWN = "unknown"
SHORT = 12  # characters of a hash shown in the appendix


def _text(run: Mapping[str, Any], column: str) -> str:
    value = run.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _short(value: str) -> str:
    prefix, _, digest = value.rpartition(":")
    return f"{prefix}:{digest[:SHORT]}" if prefix else value[:SHORT]


def distinct(runs: Sequence[Mapping[str, Any]], column: str) -> list[str]:
    """Sorted distinct non-empty values of ``column`` over ``runs``."""
    return sorted({_text(r, column) for r in runs} - {""})


def code_of(run: Mapping[str, Any]) -> str:
    """``<commit>`` (``+dirty`` when the tree was dirty), else the reference log and its
    sha256, else unknown."""
    commit = _text(run, "git_commit")
    if commit:
        return _short(commit) + ("+dirty" if _text(run, "git_dirty") == "true" else "")
    log, digest = _text(run, "reference_file"), _text(run, "reference_file_sha256")
    if log:
        return f"log {log} sha256:{digest[:SHORT]}" if digest else f"log {log}"
    return UNKNOWN


def environment_of(run: Mapping[str, Any]) -> str:
    parts = [f"{label} {_text(run, col)}" for label, col in
             (("python", "python"), ("torch", "torch"), ("CUDA", "cuda"), ("cuDNN", "cudnn"))
             if _text(run, col)]
    gpu = _text(run, "gpu") or _text(run, "device")
    if gpu:
        parts.append(gpu)
    return ", ".join(parts) or UNKNOWN


def _joined(values: Sequence[str]) -> str:
    return "; ".join(values) if values else UNKNOWN


@dataclass(frozen=True)
class Certificate:
    label: str
    run_ids: list[str]
    code: str
    spec_hash: str
    dataset: str
    environment: str
    commits: list[str] = field(default_factory=list)
    dirty: bool = False
    fingerprints: list[str] = field(default_factory=list)

    def cells(self) -> list[str]:
        return [self.label, str(len(self.run_ids)), " ".join(f"`{r}`" for r in self.run_ids),
                self.code, self.spec_hash, self.dataset, self.environment]


def certify(label: str, run_ids: Sequence[str], runs_by_id: Mapping[str, Mapping[str, Any]]
            ) -> Certificate:
    """The certificate of one row; run ids missing from ``runs_by_id`` count as unknown."""
    runs = [runs_by_id.get(r, {}) for r in run_ids]
    codes = sorted({code_of(r) for r in runs})
    specs = [_short(v) for v in distinct(runs, "spec_hash")]
    fingerprints = distinct(runs, "dataset_fingerprint")
    return Certificate(label, list(run_ids), _joined(codes), _joined(specs),
                       _joined([_short(f) for f in fingerprints]),
                       _joined(sorted({environment_of(r) for r in runs})),
                       commits=distinct(runs, "git_commit"),
                       dirty=any(_text(r, "git_dirty") == "true" for r in runs),
                       fingerprints=fingerprints)


def warnings_for(certificates: Sequence[Certificate]) -> list[str]:
    """What a reviewer must know about one table's provenance (empty when it is clean)."""
    out = []
    for c in certificates:
        if len(c.commits) > 1:
            out.append(f"row {c.label} mixes commits: " + ", ".join(_short(x) for x in c.commits))
    commits = sorted({x for c in certificates for x in c.commits})
    if len(commits) > 1:
        out.append("rows come from different commits: " + ", ".join(_short(x) for x in commits))
    dirty = [c.label for c in certificates if c.dirty]
    if dirty:
        out.append("runs from a dirty tree (uncommitted changes) in: " + ", ".join(dirty))
    prints = sorted({f for c in certificates for f in c.fingerprints})
    if len(prints) > 1:
        out.append("dataset fingerprints differ within this table: "
                   + ", ".join(_short(f) for f in prints))
    return out


HEADERS = ["group / row", "runs", "MLflow run ids", "code", "spec hash", "dataset", "environment"]
