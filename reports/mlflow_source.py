"""Read runs from MLflow into one pandas DataFrame (one row per run); the report's only input.

Columns (stable names, percent for IoU-like values):
``run_id, experiment, group, model, config_label, source, seed, reference_file,
reference_run, status`` (from tags / run info), ``groups`` (every group the run belongs
to, comma-separated: ``regseg.groups``, else the group), the provenance columns of
:data:`PROVENANCE_COLUMNS` (tag values, "" when absent), ``best_mIoU, best_mIoU_reduced, best_epoch,
last_mIoU, last_mIoU_reduced`` (metrics; ``last_*`` is the value at the highest step),
``model_params, model_gflops, model_field_of_view`` (float, from params) and ``param.<name>``
for every other logged param (strings as logged). Rows are sorted by (group, config_label,
run_id) so the frame is the same for the same runs whatever order MLflow returns them in.

An arm's parent run (tag ``regseg.arm_parent``: the aggregate over a configuration's seeds that
the MLflow UI shows) is never a row: the report computes its own statistics from the runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import orchestrator.tracking.tags as T
from reports.errors import ReportError

TAG_COLUMNS = {
    "group": "regseg.group", "model": "regseg.model", "config_label": "regseg.config_label",
    "source": "regseg.source", "seed": "regseg.seed", "reference_file": "regseg.reference_file",
    "reference_run": "regseg.reference_run",
}
#: Provenance columns -> tag (regseg.provenance.TAGS plus the spec and the reference file).
PROVENANCE_COLUMNS = {
    "git_commit": "regseg.git_commit", "git_dirty": "regseg.provenance.git_dirty",
    "python": "regseg.provenance.python", "torch": "regseg.provenance.torch",
    "cuda": "regseg.provenance.cuda", "cudnn": "regseg.provenance.cudnn",
    "gpu": "regseg.provenance.gpu",
    "dataset_fingerprint": "regseg.provenance.dataset_fingerprint",
    "spec_hash": "regseg.spec_hash", "reference_file_sha256": "regseg.reference_file_sha256",
    "device": "regseg.device",
}
METRIC_COLUMNS = {
    "best_mIoU": "best_mIoU", "best_mIoU_reduced": "best_mIoU_reduced",
    "best_epoch": "best_epoch", "last_mIoU": "mIoU", "last_mIoU_reduced": "mIoU_reduced",
}
FACT_COLUMNS = ("model_params", "model_gflops", "model_field_of_view")
BASE_COLUMNS = ("run_id", "experiment", "status", *TAG_COLUMNS, "groups", *PROVENANCE_COLUMNS,
                *METRIC_COLUMNS, *FACT_COLUMNS)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def run_record(run, experiment_name: str) -> dict[str, Any]:
    """One MLflow ``Run`` -> one flat row (see the module docstring)."""
    tags, metrics, params = run.data.tags, run.data.metrics, run.data.params
    row: dict[str, Any] = {"run_id": run.info.run_id, "experiment": experiment_name,
                           "status": run.info.status}
    for col, tag in TAG_COLUMNS.items():
        row[col] = tags.get(tag, "")
    if not row["model"]:
        row["model"] = params.get("model_name", "")
    if not row["group"]:
        row["group"] = experiment_name.rsplit("/", 1)[-1]
    if not row["config_label"]:
        row["config_label"] = f"model_name={row['model']}" if row["model"] else row["run_id"]
    extra = [g for g in tags.get("regseg.groups", "").split(",") if g]
    row["groups"] = ",".join(sorted({row["group"], *extra}))
    for col, tag in PROVENANCE_COLUMNS.items():
        row[col] = tags.get(tag, "")
    for col, key in METRIC_COLUMNS.items():
        row[col] = metrics.get(key)
    for col in FACT_COLUMNS:
        row[col] = _float(params.get(col))
    row.update({f"param.{k}": v for k, v in params.items() if k not in FACT_COLUMNS})
    return row


def frame_from_records(records: Iterable[dict[str, Any]]):
    """DataFrame with at least BASE_COLUMNS, sorted deterministically."""
    import pandas as pd

    df = pd.DataFrame.from_records(list(records))
    for col in BASE_COLUMNS:
        if col not in df.columns:
            df[col] = None
    df = df.sort_values(["group", "config_label", "run_id"], kind="mergesort")
    return df.reset_index(drop=True)


def frame_records(df) -> list[dict[str, Any]]:
    """``df.to_dict("records")``, the same values and types, ten times faster on the runs frame
    (str and float columns; pandas boxes every cell one by one). Other dtypes: to_dict."""
    import pandas as pd

    if not all(pd.api.types.is_string_dtype(t) or pd.api.types.is_float_dtype(t)
               for t in df.dtypes):
        return df.to_dict("records")
    columns = list(df.columns)
    arrays = [df[c].to_numpy(dtype=object) for c in columns]
    return [dict(zip(columns, row)) for row in zip(*arrays)]


def active_experiments(client) -> list:
    """Every active experiment of the store, by name (MlflowClient pages; this reads them all)."""
    from mlflow.entities import ViewType

    found, token = [], None
    while True:
        page = client.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=1000,
                                         page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return sorted(found, key=lambda e: e.name)


def _experiments(client, names: list[str] | None):
    if not names:
        return active_experiments(client)
    out = []
    for name in names:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            known = sorted(e.name for e in client.search_experiments(max_results=1000))
            raise ReportError(f"report: unknown experiment {name!r}; "
                              f"known: {', '.join(known) or 'none'}")
        out.append(exp)
    return out


def member_groups(record: dict[str, Any]) -> list[str]:
    """Groups a run record belongs to (``groups`` column, else its ``group``)."""
    raw = record.get("groups")
    found = [g for g in raw.split(",") if g] if isinstance(raw, str) else []
    return found or [str(record["group"])]


def load_histories(run_ids: Iterable[str], key: str, *, tracking_uri: str | None = None
                   ) -> dict[str, list[tuple[int, float]]]:
    """``{run_id: [(step, value), ...]}`` of metric ``key`` (sorted by step; the latest value
    per step wins), through the MLflow API; runs without the metric map to []."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    out: dict[str, list[tuple[int, float]]] = {}
    for run_id in run_ids:
        by_step: dict[int, tuple[int, float]] = {}
        for m in client.get_metric_history(run_id, key):
            if m.step not in by_step or m.timestamp >= by_step[m.step][0]:
                by_step[m.step] = (m.timestamp, m.value)
        out[run_id] = [(step, v) for step, (_, v) in sorted(by_step.items())]
    return out


def _direct_rows(runs, exp) -> list[tuple[int | None, dict[str, Any]]]:
    return [(r.info.start_time, run_record(r, exp.name)) for r in runs
            if r.data.tags.get(T.ARM_PARENT) != T.TRUE]


def _in_mlflow_order(rows) -> list[dict[str, Any]]:
    """Rows in MLflow's own order (start time, newest first, then run id)."""
    rows = sorted(rows, key=lambda r: (r[0] is None, -(r[0] or 0), r[1]["run_id"]))
    return [record for _, record in rows]


def _direct_chunks(client, exps, finished_only: bool) -> list[list[dict[str, Any]]]:
    """Each experiment's rows read from MLflow (no cache), in MLflow's order; large
    experiments of a database store are read in forked processes (reports/parallel_read)."""
    from reports import parallel_read
    from reports.mlflow_read import per_experiment, search_all

    flt = "attributes.status = 'FINISHED'" if finished_only else ""
    parts = parallel_read.read(client, exps, flt, _direct_rows) if exps else None
    if parts is None:
        parts = per_experiment(
            lambda e: _direct_rows(search_all(client, e.experiment_id, flt), e), exps)
    return [_in_mlflow_order(p) for p in parts]


def _cached_chunks(client, exps, cache_dir: Path, tracking_uri: str,
                   stats: dict[str, Any]) -> list[list[dict[str, Any]]]:
    from reports import run_cache

    data = run_cache.refresh_all(
        client, exps, lambda e: run_cache.cache_path(cache_dir, tracking_uri, e.experiment_id),
        tracking_uri=tracking_uri, fingerprint=run_cache.reader_fingerprint())
    for exp, d in zip(exps, data):
        stats[exp.name] = {"mode": d["mode"], "reread": d["reread"], "runs": len(d["runs"])}
    return [run_cache.ordered_records(d) for d in data]


def load_runs(*, tracking_uri: str | None = None, experiments: list[str] | None = None,
              finished_only: bool = True, cache_dir: str | Path | None = None,
              stats: dict[str, Any] | None = None):
    """All runs of ``experiments`` (default: every active experiment) as a DataFrame.

    Only FINISHED runs count by default (a running or failed run has no final best metric);
    arms' parent runs never do. With ``cache_dir`` the FINISHED runs come from the local run
    cache there, refreshed incrementally from MLflow (reports.run_cache; the frame is the one a
    direct read gives); ``stats``, when given, gets each experiment's refresh (mode, runs
    re-read, runs). Experiments are read concurrently (reports.mlflow_read).
    Raises ReportError when an experiment name is unknown or no run matches.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    from reports.mlflow_read import gc_paused

    uri = tracking_uri or mlflow.get_tracking_uri()
    client = MlflowClient(tracking_uri=uri)
    exps = _experiments(client, list(experiments or []))
    with gc_paused():
        if cache_dir is not None and finished_only:
            found: dict[str, Any] = {}
            chunks = _cached_chunks(client, exps, Path(cache_dir), uri, found)
            if stats is not None:
                stats.update(found)
        else:
            chunks = _direct_chunks(client, exps, finished_only)
        records = [rec for chunk in chunks for rec in chunk]
        if not records:
            where = ", ".join(e.name for e in exps) or "the tracking store"
            raise ReportError(f"report: no finished runs in {where}")
        return frame_from_records(records)
