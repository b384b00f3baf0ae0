"""Reading large experiments on every core: forked processes, each reading a start-time slice.

On a database-backed MLflow store (SQLite, PostgreSQL, MySQL) nearly all of a cold report is
search_runs building ORM objects and entities in Python (reports/mlflow_read.py), which holds
the GIL, so threads cannot spread it. This module splits each large experiment's runs into
disjoint slices by ``attributes.start_time`` (between the experiment's first and last start,
two one-run probes) and reads the slices in ``fork``ed processes, each turning its runs into
what the caller keeps (``convert``, run in the child, so that work is spread too; the results
come back pickled). Still MLflow's API only: each slice is one paged ``search_runs``.

Rules that keep it safe and exact:

- only a store with a SQLAlchemy engine is read this way (a tracking server's latency already
  overlaps in threads; its requests session must not be shared by two processes); each child
  first drops the pool it inherited without closing the parent's connections
  (``engine.dispose(close=False)``, SQLAlchemy's rule for ``os.fork``);
- the fork happens on the calling thread before any reader thread of this module runs;
- each child restores the default SIGTERM and SIGINT handlers (a handler inherited from a
  process that trained would outlive the read), and a child that dies fails the parallel read,
  which then runs in this process, instead of hanging it;
- after the read, the runs of each experiment are counted by MLflow (two one-run probes): a
  slice that missed or repeated a run (runs created during the read, a start time outside the
  probed range) makes that experiment be read again the plain way, so the result is always
  what one ``search_runs`` over the experiment gives;
- an experiment under :data:`MIN_RUNS` runs, a machine with one core, a system other than
  Linux (``fork`` with these libraries is not safe on macOS), or ``REGSEG_REPORT_PROCESSES=1``
  reads in this process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Sequence

from reports import mlflow_read

log = logging.getLogger(__name__)

MIN_RUNS = 2_000            # below this a fork costs more than it saves
SLICES_PER_PROCESS = 3      # several slices per process even out uneven start times
MAX_PROCESSES = 8
_state: dict[str, Any] = {}  # what the forked children inherit (set just before the fork)


def processes() -> int:
    """Processes to read with: ``REGSEG_REPORT_PROCESSES`` or the cores this process may use
    (at most :data:`MAX_PROCESSES`)."""
    env = os.environ.get("REGSEG_REPORT_PROCESSES", "").strip()
    if env.isdigit() and int(env) > 0:
        return min(int(env), MAX_PROCESSES)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_PROCESSES))


def database_engine(client):
    """The SQLAlchemy engine behind ``client`` when its store is a database, else None."""
    try:
        import sqlalchemy

        store = client._tracking_client.store
    except Exception:  # another client layout: read the plain way
        return None
    engine = getattr(store, "engine", None)
    return engine if isinstance(engine, sqlalchemy.engine.Engine) else None


def start_range(client, experiment_id: str, filter_string: str) -> tuple[int, int] | None:
    """The first and last start time (ms) among the matching runs, or None if there are none."""
    ends = []
    for order in ("ASC", "DESC"):
        page = client.search_runs([experiment_id], filter_string, max_results=1,
                                  order_by=[f"attributes.start_time {order}"])
        if not page or page[0].info.start_time is None:
            return None
        ends.append(int(page[0].info.start_time))
    return ends[0], ends[1]


def slice_filters(filter_string: str, first: int, last: int, n: int) -> list[str]:
    """``n`` filters that split ``first <= start_time <= last`` into disjoint ranges."""
    span = last - first + 1
    cuts = sorted({first + span * i // n for i in range(n)} | {last + 1})
    joined = f"{filter_string} AND " if filter_string else ""
    return [f"{joined}attributes.start_time >= {lo} AND attributes.start_time < {hi}"
            for lo, hi in zip(cuts, cuts[1:])]


def _child_start() -> None:
    # A child inherits the parent's signal handlers: a training loop's SIGTERM handler (set
    # when the report runs in a process that trained) would keep it alive past the read.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    _state["engine"].dispose(close=False)


def _read_slice(index: int) -> tuple[int, int, Any]:
    exp, flt = _state["tasks"][index]
    runs = mlflow_read.search_all(_state["client"], exp.experiment_id, flt)
    return index, len(runs), _state["convert"](runs, exp)


def read(client, experiments: Sequence[Any], filter_string: str,
         convert: Callable[[list, Any], list]) -> list[list] | None:
    """``[convert(runs, exp) for exp in experiments]`` where ``runs`` are the experiment's runs
    matching ``filter_string`` (any order; ``convert`` returns a list, concatenated over the
    slices newest first). None when this store or machine does not read in parallel or no
    experiment is large enough: the caller then reads the plain way. Experiments whose slices
    did not add up to MLflow's count are read the plain way here."""
    engine, procs = database_engine(client), processes()
    if engine is None or procs < 2 or not sys.platform.startswith("linux"):
        return None  # fork is safe with these libraries on Linux; elsewhere read the plain way
    large = [e for e in experiments
             if mlflow_read.count_at_least(client, e.experiment_id, filter_string, MIN_RUNS)]
    if not large:
        return None
    tasks = []
    per_exp = max(2, -(-SLICES_PER_PROCESS * procs // len(large)))
    for exp in large:
        bounds = start_range(client, exp.experiment_id, filter_string)
        if bounds is not None:
            tasks += [(exp, f) for f in reversed(slice_filters(filter_string, *bounds, per_exp))]
    try:
        parts = _run_in_processes(client, engine, tasks, convert, procs)
    except Exception as exc:  # a child that died or failed: the plain read says what is wrong
        log.warning("report: parallel read failed (%s); reading in one process", exc)
        return None
    results = {}
    for exp in experiments:
        idx = [i for i, (e, _) in enumerate(tasks) if e is exp]
        read_n = sum(parts[i][0] for i in idx)
        if idx and mlflow_read.count_is(client, exp.experiment_id, filter_string, read_n):
            results[exp.experiment_id] = [x for i in idx for x in parts[i][1]]
        else:
            if idx:
                log.info("report: slices of %s read %d runs, MLflow counts otherwise; "
                         "reading it again in one piece", exp.name, read_n)
            runs = mlflow_read.search_all(client, exp.experiment_id, filter_string)
            results[exp.experiment_id] = convert(runs, exp)
    return [results[e.experiment_id] for e in experiments]


def _run_in_processes(client, engine, tasks, convert, procs) -> dict[int, tuple[int, list]]:
    # An executor, not multiprocessing.Pool: a child that dies (OOM killer, a signal) breaks
    # the executor and raises here instead of leaving its slice pending forever, and the
    # children leave when told to, with no SIGTERM. With "fork" it starts every child at once,
    # before its own management thread.
    _state.update(client=client, engine=engine, tasks=tasks, convert=convert)
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(procs, len(tasks)), mp_context=ctx,
                                 initializer=_child_start) as pool:
            return {i: (n, out) for i, n, out in pool.map(_read_slice, range(len(tasks)))}
    finally:
        _state.clear()
