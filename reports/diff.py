"""Two tracked runs side by side: the config params that differ, the provenance that differs,
and their best metrics. Runs are found through the MLflow API only.

A reference resolves, in order, as an MLflow run id, a queue job id (tag ``regseg.job_id``),
or a run hash or its prefix (tag ``regseg.run_hash``), in any active experiment. A reference
matching several runs (a retried job's runs, repetitions of one configuration) is an error
that lists them, so the comparison is never of an arbitrary pick.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reports.errors import ReportError

#: Tags compared as provenance (regseg.provenance.* are added as found).
PROVENANCE_TAGS = ("regseg.git_commit", "regseg.spec", "regseg.spec_hash", "regseg.host",
                   "regseg.device", "regseg.source", "regseg.reference_file",
                   "regseg.reference_file_sha256", "regseg.import_hash")
PROVENANCE_PREFIX = "regseg.provenance."
METRICS = ("best_mIoU", "best_mIoU_reduced", "best_epoch", "mIoU", "mIoU_reduced")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_SAFE = re.compile(r"^[A-Za-z0-9_.:-]+$")


class RunNotFound(ReportError):
    """A diff reference matched no run, or several."""

    exit_code = 2


@dataclass(frozen=True)
class Resolved:
    ref: str
    run_id: str
    how: str  # "run id" | "job id" | "run hash"
    run: Any


def _experiment_ids(client) -> list[str]:
    from reports.mlflow_source import active_experiments

    return [e.experiment_id for e in active_experiments(client)]


def _search(client, flt: str) -> list:
    ids = _experiment_ids(client)
    found = []
    for i in range(0, len(ids), 100):
        found += client.search_runs(ids[i:i + 100], flt, max_results=100)
    return sorted(found, key=lambda r: r.info.run_id)


def resolve(client, ref: str) -> Resolved:
    """The one run ``ref`` names (see the module docstring); RunNotFound otherwise."""
    from mlflow.exceptions import MlflowException

    ref = ref.strip()
    if _RUN_ID.match(ref):
        try:
            return Resolved(ref, ref, "run id", client.get_run(ref))
        except MlflowException:
            pass  # not a run id after all: try the tags
    if not _SAFE.match(ref):
        raise RunNotFound(f"diff: {ref!r} is not a run id, job id or run hash")
    for how, flt in (("job id", f"tags.`regseg.job_id` = '{ref}'"),
                     ("run hash", f"tags.`regseg.run_hash` LIKE '{ref}%'")):
        runs = _search(client, flt)
        if len(runs) == 1:
            return Resolved(ref, runs[0].info.run_id, how, runs[0])
        if len(runs) > 1:
            ids = ", ".join(r.info.run_id for r in runs[:10])
            raise RunNotFound(f"diff: {ref!r} is the {how} of {len(runs)} runs ({ids}); "
                              "pass one MLflow run id")
    raise RunNotFound(f"diff: no run has run id, job id or run hash {ref!r}")


def _differing(a: dict[str, str], b: dict[str, str], keys) -> list[dict[str, Any]]:
    return [{"name": k, "a": a.get(k), "b": b.get(k)} for k in sorted(keys)
            if a.get(k) != b.get(k)]


def provenance_keys(*tag_sets: dict[str, str]) -> set[str]:
    keys = {k for tags in tag_sets for k in tags if k.startswith(PROVENANCE_PREFIX)}
    return keys | {k for k in PROVENANCE_TAGS if any(k in tags for tags in tag_sets)}


def diff_runs(a: Resolved, b: Resolved) -> dict[str, Any]:
    """``{a, b, params, provenance, metrics}``: ``params`` and ``provenance`` list only what
    differs (``{name, a, b}``, None where a run lacks it); ``metrics`` lists METRICS that
    either run has (latest value), side by side with ``b - a``."""
    pa, pb = a.run.data.params, b.run.data.params
    ta, tb = a.run.data.tags, b.run.data.tags
    ma, mb = a.run.data.metrics, b.run.data.metrics
    metrics = []
    for key in METRICS:
        if key in ma or key in mb:
            va, vb = ma.get(key), mb.get(key)
            metrics.append({"name": key, "a": va, "b": vb,
                            "b_minus_a": None if va is None or vb is None else vb - va})
    def side(r):
        return {"ref": r.ref, "resolved_as": r.how, "run_id": r.run_id,
                "experiment_id": r.run.info.experiment_id,
                "run_name": r.run.data.tags.get("mlflow.runName")}
    return {"a": side(a), "b": side(b), "params": _differing(pa, pb, set(pa) | set(pb)),
            "provenance": _differing(ta, tb, provenance_keys(ta, tb)), "metrics": metrics}


def diff(ref_a: str, ref_b: str, *, tracking_uri: str | None = None) -> dict[str, Any]:
    """Resolve both references in the store at ``tracking_uri`` and diff them."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    return diff_runs(resolve(client, ref_a), resolve(client, ref_b))
