"""Reading runs out of MLflow as fast as its API allows (``MlflowClient.search_runs`` only).

Where the time goes (benchmarks/bench_report.py, 10,000 runs of ~100 tags, params and latest
metrics each, SQLite store, 2 loaded cores): search_runs builds an ORM object per run, tag,
param and latest metric and then an MLflow entity from each; the SQL itself is a small part.
Measured in CPU seconds for the 10,000 runs' search_runs calls: 45 s with pages of 1,000 (the
old reader), 40 s with one page of 50,000, 17-20 s with either once Python's cyclic garbage
collector is paused; the rest of a report (rows, frame, tables, markdown) was 5 s more, 1 s
now. So:

- the collector is paused while a read builds its objects (:func:`gc_paused`): with hundreds
  of thousands of young objects alive, every generation-2 pass walks all of them, and
  MLflow's session commit (expiring every loaded object) set off one pass after another;
  :func:`heap_frozen` keeps explicit ``gc.collect()`` calls (statsmodels) off the frame;
- pages stay at 1,000 runs (the page size made no difference; larger pages hold more memory);
- experiments are read in threads sharing the client (:func:`per_experiment`): a tracking
  server's latency overlaps; on a database store the ORM work holds the GIL, so threads
  gain little there, and large experiments are read in forked processes instead
  (reports/parallel_read.py).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Sequence

PAGE = 1_000
THREADS = 4
_lock = threading.Lock()
_depth = 0
_resume = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (nested and concurrent blocks: it
    resumes when the outermost ends, and only if it was running before)."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()


@contextlib.contextmanager
def heap_frozen() -> Iterator[None]:
    """Move every object alive now out of the collector's sight for the block (``gc.freeze``):
    a library's explicit ``gc.collect()`` (statsmodels' multipletests makes one per call) then
    walks only what the block allocates, not the 10,000-run frame. Left alone when the caller
    froze objects itself."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def search_all(client, experiment_id: str, filter_string: str = "", *,
               view_type: int | None = None) -> list:
    """Every run of one experiment matching ``filter_string`` (all pages)."""
    from mlflow.entities import ViewType

    found, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string,
                                  run_view_type=view_type or ViewType.ACTIVE_ONLY,
                                  max_results=PAGE, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def runs_by_id(client, experiment_id: str, run_ids: Sequence[str],
               filter_string: str = "") -> list:
    """The active runs among ``run_ids`` (matching ``filter_string``), in chunks of 500 ids
    (MLflow's filter parser refuses very long IN lists)."""
    ids, found = sorted(set(run_ids)), []
    for i in range(0, len(ids), 500):
        chunk = ", ".join(f"'{r}'" for r in ids[i:i + 500])
        flt = f"attributes.run_id IN ({chunk})" + (f" AND {filter_string}" if filter_string
                                                   else "")
        found.extend(search_all(client, experiment_id, flt))
    return found


def count_at_least(client, experiment_id: str, filter_string: str, n: int) -> bool:
    """Whether at least ``n`` runs match, asking MLflow for the single run at offset ``n - 1``
    (a page token made by MLflow's own ``SearchUtils.create_page_token``). A store that rejects
    or ignores the token makes callers see a mismatch, never a false match (see run_cache)."""
    if n <= 0:
        return True
    from mlflow.utils.search_utils import SearchUtils

    token = SearchUtils.create_page_token(n - 1) if n > 1 else None  # offset 0: no token
    token = token.decode() if isinstance(token, bytes) else token
    page = client.search_runs([experiment_id], filter_string, max_results=1, page_token=token)
    return len(page) == 1


def count_is(client, experiment_id: str, filter_string: str, n: int) -> bool:
    """Whether exactly ``n`` runs match (two one-run probes: at offset n - 1 and at n)."""
    return count_at_least(client, experiment_id, filter_string, n) and not count_at_least(
        client, experiment_id, filter_string, n + 1)


def per_experiment(work: Callable[[Any], Any], experiments: Sequence[Any]) -> list:
    """``[work(e) for e in experiments]``, concurrently, results in the given order."""
    if len(experiments) <= 1:
        return [work(e) for e in experiments]
    with ThreadPoolExecutor(max_workers=min(THREADS, len(experiments))) as pool:
        return list(pool.map(work, experiments))
