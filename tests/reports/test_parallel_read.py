"""Large experiments read in forked processes (reports/parallel_read.py) on a real SQLite MLflow
store: the report is byte-identical to a one-process read, with and without the cache, and a
slicing that misses runs is caught by MLflow's count and read again in one piece."""

from __future__ import annotations

import os
import signal

import pytest

from reports import mlflow_read, parallel_read, run_cache
from reports.report import build_report

from tests.reports.test_run_cache import store, template_store  # noqa: F401  (fixtures)


@pytest.fixture
def forking(monkeypatch):
    """Every experiment counts as large and two processes read it."""
    monkeypatch.setattr(parallel_read, "MIN_RUNS", 1)
    monkeypatch.setenv("REGSEG_REPORT_PROCESSES", "2")
    monkeypatch.setattr(run_cache, "SETTLE_MS", 0)


def _reports(uri, cache_dir):
    return [build_report(tracking_uri=uri, cache_dir=cache_dir),
            build_report(tracking_uri=uri)]


def _same(a, b) -> None:
    assert a.markdown == b.markdown
    assert a.rows_as("csv") == b.rows_as("csv") and a.rows_as("json") == b.rows_as("json")


def test_slices_cover_the_range_once():
    filters = parallel_read.slice_filters("x = 1", 100, 109, 4)
    bounds = [tuple(int(p.split()[-1]) for p in f.split(" AND ")[1:]) for f in filters]
    assert bounds == [(100, 102), (102, 105), (105, 107), (107, 110)]
    assert parallel_read.slice_filters("", 5, 5, 3) == [
        "attributes.start_time >= 5 AND attributes.start_time < 6"]


def test_forked_read_equals_one_process(store, forking, monkeypatch):  # noqa: F811
    uri, client, cache_dir = store
    forks = []
    real = parallel_read._run_in_processes
    monkeypatch.setattr(parallel_read, "_run_in_processes",
                        lambda *a: forks.append(os.getpid()) or real(*a))
    parallel = _reports(uri, cache_dir)
    assert len(forks) == 2  # the cached read and the direct one both forked
    monkeypatch.setenv("REGSEG_REPORT_PROCESSES", "1")
    single = _reports(uri, cache_dir.with_name("cache-single"))
    assert len(forks) == 2
    for a, b in zip(parallel, single):
        _same(a, b)
    cached = run_cache.read_file(
        run_cache.cache_path(cache_dir, uri, client.get_experiment_by_name(
            "regseg/backbone").experiment_id),
        tracking_uri=uri, experiment_id=client.get_experiment_by_name(
            "regseg/backbone").experiment_id, fingerprint=run_cache.reader_fingerprint())
    assert cached is not None and len(cached["runs"]) == 12  # the arm parent is not a row


def test_slices_that_miss_runs_are_read_again(store, forking, monkeypatch):  # noqa: F811
    uri, _, cache_dir = store
    expected = build_report(tracking_uri=uri)
    real = parallel_read.start_range

    def narrow(client, eid, flt):  # leaves the newest run of each experiment out
        first, last = real(client, eid, flt)
        return first, last - 1

    monkeypatch.setattr(parallel_read, "start_range", narrow)
    for got in _reports(uri, cache_dir):
        _same(got, expected)


def test_a_server_store_is_not_forked():
    class Client:  # what an http tracking URI gives: no SQLAlchemy engine behind it
        class _tracking_client:
            store = object()

    assert parallel_read.database_engine(Client()) is None
    assert parallel_read.read(Client(), [object()], "", lambda r, e: []) is None


@pytest.mark.timeout(120)
def test_an_inherited_sigterm_handler_does_not_hang_the_read(store, forking, monkeypatch):  # noqa: F811
    """A process that trained in-process keeps the training loop's SIGTERM handler; forked
    readers inherit it and must still leave when the read is done."""
    uri, _, cache_dir = store
    expected = build_report(tracking_uri=uri)
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # what ignore_stop_signals leaves
    try:
        forks = []
        real = parallel_read._run_in_processes
        monkeypatch.setattr(parallel_read, "_run_in_processes",
                            lambda *a: forks.append(1) or real(*a))
        _same(build_report(tracking_uri=uri, cache_dir=cache_dir), expected)
        assert forks == [1]
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.timeout(120)
def test_a_child_that_dies_falls_back_to_one_process(store, forking, monkeypatch, caplog):  # noqa: F811
    uri, _, _ = store
    expected = build_report(tracking_uri=uri)
    real, parent = mlflow_read.search_all, os.getpid()

    def killed_in_a_child(*args, **kwargs):  # a forked reader killed as the OOM killer would
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    monkeypatch.setattr(mlflow_read, "search_all", killed_in_a_child)
    with caplog.at_level("WARNING", logger="reports.parallel_read"):
        _same(build_report(tracking_uri=uri), expected)
    assert "parallel read failed" in caplog.text
