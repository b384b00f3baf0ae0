"""A local cache of the report's runs, refreshed incrementally from MLflow (its API only).

One JSON file per (tracking URI, experiment): ``<cache dir>/<sha256(uri)[:16]>/<experiment
id>.json`` holding every FINISHED run's report row (``mlflow_source.run_record``) with its start
time and arm-parent tag, the experiment's deleted run ids and when it was last refreshed. The
CLI's cache dir is ``<state>/report-cache`` (docs/CONTRACTS.md, "The report's run cache").

MLflow records no "last modified" time for a run, so "changed since the last read" is made of
what the API can see (the rule, docs/CONTRACTS.md); each refresh of an experiment asks MLflow
for, with ``since`` = the previous refresh's start minus :data:`SETTLE_MS`:

1. FINISHED runs with ``end_time >= since``: new runs, and runs closed again (a resumed run);
2. FINISHED runs with the metric ``regseg.revised >= since``: a writer that changes a finished
   run (``regseg import-logs`` adding a group) logs that stamp in the same ``log_batch``;
3. every run that is not FINISHED and every deleted run (their ids leave the cache), and the
   runs deleted at the previous refresh that are no longer deleted (restored: read again);
4. then two counts (one-run probes at an offset): the FINISHED runs without and with another
   value of ``regseg.arm_parent`` must number what the refreshed cache holds, else the
   experiment is read again in full (a run closed with an old end time, one purged by
   ``mlflow gc`` between two reports).

A file is read again in full when it is missing, unreadable, of another format, MLflow
version or reader code (:func:`reader_fingerprint`), another URI or experiment, older than
:data:`MAX_AGE_MS`, or when the experiment was renamed. Files are written to a temporary name
and renamed, so a crash leaves the old file or the new one. What it cannot see: an edit of a
run that ended before ``since`` made outside this project's writers (a tag changed in the
MLflow UI) shows after the next full read (at most :data:`MAX_AGE_MS`) or with ``--no-cache``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import orchestrator.tracking.tags as T
from reports import mlflow_read

log = logging.getLogger(__name__)

FORMAT = 1
SETTLE_MS = 3_600_000       # re-read what ended or was revised within an hour of the last read
MAX_AGE_MS = 86_400_000     # and everything once a day
FINISHED = "attributes.status = 'FINISHED'"
NO_PARENT_TAG = f"{FINISHED} AND tags.`{T.ARM_PARENT}` IS NULL"
OTHER_PARENT_TAG = f"{FINISHED} AND tags.`{T.ARM_PARENT}` != '{T.TRUE}'"
_SOURCES = ("mlflow_source.py", "mlflow_read.py", "parallel_read.py", "run_cache.py")


def reader_fingerprint() -> str:
    """sha256 of the cache format, the MLflow version and the code that makes a row."""
    import mlflow

    digest = hashlib.sha256(f"{FORMAT}\n{mlflow.__version__}\n".encode())
    for name in _SOURCES:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def cache_path(cache_dir: str | Path, tracking_uri: str, experiment_id: str) -> Path:
    key = hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]
    return Path(cache_dir) / key / f"{experiment_id}.json"


def read_file(path: Path, *, tracking_uri: str, experiment_id: str,
              fingerprint: str) -> dict | None:
    """The cache file's content, or None when it is missing or not a valid file for this URI,
    experiment and reader (never raises)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        ok = (data["format"] == FORMAT and data["fingerprint"] == fingerprint
              and data["tracking_uri"] == tracking_uri
              and data["experiment_id"] == experiment_id
              and isinstance(data["experiment_name"], str)
              and all(isinstance(data[k], int) for k in ("refreshed_ms", "built_ms"))
              and isinstance(data["deleted"], list) and isinstance(data["runs"], dict)
              and all(_valid_entry(k, v) for k, v in data["runs"].items()))
    except (KeyError, TypeError, AttributeError):
        return None
    return data if ok else None


def _valid_entry(run_id: Any, entry: Any) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("record"), dict)
            and entry["record"].get("run_id") == run_id
            and (entry.get("start") is None or isinstance(entry["start"], int))
            and (entry.get("parent") is None or isinstance(entry["parent"], str)))


def write_file(path: Path, data: dict) -> None:
    """Write atomically (temporary file in the same directory, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, separators=(",", ":")))  # dumps: C encoder; dump is not
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _entry(run, experiment_name: str) -> tuple[str, dict] | None:
    """(run id, cache entry) of a FINISHED run; None for an arm's parent (never a row)."""
    from reports.mlflow_source import run_record

    parent = run.data.tags.get(T.ARM_PARENT)
    if parent == T.TRUE:
        return None
    return run.info.run_id, {"start": run.info.start_time, "parent": parent,
                             "record": run_record(run, experiment_name)}


def _ids(runs) -> set[str]:
    return {r.info.run_id for r in runs}


def _deleted_ids(client, experiment_id: str) -> list[str]:
    from mlflow.entities import ViewType

    runs = mlflow_read.search_all(client, experiment_id, view_type=ViewType.DELETED_ONLY)
    return sorted(_ids(runs))


def _entries(runs, exp) -> list[tuple[str, dict]]:
    return [e for e in (_entry(r, exp.name) for r in runs) if e is not None]


def _full(exp, deleted: list[str], entries: list, read_n: int, now_ms: int) -> dict:
    return {"experiment_name": exp.name, "refreshed_ms": now_ms, "built_ms": now_ms,
            "deleted": deleted, "runs": dict(entries), "mode": "full", "reread": read_n}


def full_read(client, exp, now_ms: int) -> dict:
    """The experiment read in full, in this process: its cache content."""
    runs = mlflow_read.search_all(client, exp.experiment_id, FINISHED)
    return _full(exp, _deleted_ids(client, exp.experiment_id), _entries(runs, exp), len(runs),
                 now_ms)


def full_reads(client, exps: list, now_ms: int) -> list[dict]:
    """Several experiments read in full: in forked processes on a database store when they are
    large (reports/parallel_read.py), else one thread each."""
    from reports import parallel_read

    counted = lambda runs, exp: [(len(runs), _entries(runs, exp))]  # noqa: E731
    parts = parallel_read.read(client, exps, FINISHED, counted) if exps else None
    if parts is None:
        return mlflow_read.per_experiment(lambda e: full_read(client, e, now_ms), exps)
    return [_full(exp, _deleted_ids(client, exp.experiment_id),
                  [x for _, chunk in part for x in chunk], sum(n for n, _ in part), now_ms)
            for exp, part in zip(exps, parts)]


def incremental_read(client, exp, cached: dict, now_ms: int) -> dict | None:
    """The cached experiment brought up to date (rules 1-4 of the module docstring), or None
    when the counts say the cache missed something (the caller then reads in full)."""
    eid, since = exp.experiment_id, cached["refreshed_ms"] - SETTLE_MS
    leaving = _ids(mlflow_read.search_all(client, eid, "attributes.status != 'FINISHED'"))
    deleted = _deleted_ids(client, eid)
    restored = set(cached["deleted"]) - set(deleted)
    fresh = mlflow_read.search_all(client, eid, f"{FINISHED} AND attributes.end_time >= {since}")
    fresh += mlflow_read.search_all(
        client, eid, f"{FINISHED} AND metrics.`{T.REVISED}` >= {since}")
    fresh += mlflow_read.runs_by_id(client, eid, sorted(restored), FINISHED)
    gone = leaving | set(deleted)
    runs = {k: v for k, v in cached["runs"].items() if k not in gone}
    for run in fresh:
        entry = _entry(run, exp.name)
        if entry is None:
            runs.pop(run.info.run_id, None)
        else:
            runs[entry[0]] = entry[1]
    if not _counts_match(client, eid, runs):
        return None
    return {"experiment_name": exp.name, "refreshed_ms": now_ms, "built_ms": cached["built_ms"],
            "deleted": deleted, "runs": runs, "mode": "incremental",
            "reread": len(_ids(fresh))}


def _counts_match(client, experiment_id: str, runs: dict) -> bool:
    without = sum(1 for e in runs.values() if e["parent"] is None)
    try:
        return (mlflow_read.count_is(client, experiment_id, NO_PARENT_TAG, without)
                and mlflow_read.count_is(client, experiment_id, OTHER_PARENT_TAG,
                                         len(runs) - without))
    except Exception as exc:  # a store that refuses the offset probe: read in full
        log.info("report cache: count probe failed (%s); reading in full", exc)
        return False


def refresh(client, exp, path: Path, *, tracking_uri: str, fingerprint: str) -> dict:
    """Bring one experiment's cache file up to date and return its content (with ``mode``:
    full | incremental, and ``reread``: runs read from MLflow this time)."""
    return refresh_all(client, [exp], lambda e: path, tracking_uri=tracking_uri,
                       fingerprint=fingerprint)[0]


def refresh_all(client, exps: list, path_of, *, tracking_uri: str,
                fingerprint: str) -> list[dict]:
    """:func:`refresh` for several experiments (``path_of(exp)``: its cache file): the
    incremental reads run in threads, then every experiment that needs a full read is read in
    one :func:`full_reads` call, so large ones share the machine's cores."""
    now_ms = int(time.time() * 1000)

    def incremental(exp) -> dict | None:
        cached = read_file(path_of(exp), tracking_uri=tracking_uri,
                           experiment_id=exp.experiment_id, fingerprint=fingerprint)
        if (cached is not None and cached["experiment_name"] == exp.name
                and now_ms - cached["built_ms"] <= MAX_AGE_MS):
            return incremental_read(client, exp, cached, now_ms)
        return None

    found = mlflow_read.per_experiment(incremental, exps)
    missing = [exp for exp, data in zip(exps, found) if data is None]
    full = iter(full_reads(client, missing, now_ms))
    return [_store(path_of(exp), data if data is not None else next(full), exp,
                   tracking_uri=tracking_uri, fingerprint=fingerprint)
            for exp, data in zip(exps, found)]


def _store(path: Path, data: dict, exp, *, tracking_uri: str, fingerprint: str) -> dict:
    stats = {"mode": data.pop("mode"), "reread": data.pop("reread")}
    content = {"format": FORMAT, "fingerprint": fingerprint, "tracking_uri": tracking_uri,
               "experiment_id": exp.experiment_id, **data}
    try:
        write_file(path, content)
    except OSError as exc:  # a read-only project still gets its report
        log.warning("report cache: cannot write %s (%s)", path, exc)
    return {**content, **stats}


def ordered_records(data: dict) -> list[dict]:
    """The experiment's rows in MLflow's own order (start time, newest first, then run id)."""
    entries = sorted(data["runs"].values(),
                     key=lambda e: (e["start"] is None, -(e["start"] or 0), e["record"]["run_id"]))
    return [e["record"] for e in entries]
