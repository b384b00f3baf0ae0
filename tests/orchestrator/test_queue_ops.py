"""Queue operations against SQLite and PostgreSQL: submit, claim, leases, reaping, retries."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from orchestrator import queue
from orchestrator.errors import QueueError
from orchestrator.queue.store import open_store
from orchestrator.specs import expand, load_spec

from _orch_helpers import lr_spec


def _batch(project: Path, n: int, name: str = "many"):
    spec = load_spec(lr_spec(project, n, name=name), project_dir=project)
    return spec, expand(spec)


def test_schema_is_migrated_on_open_and_head_constant_matches_migrations(db_url: str):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from orchestrator.queue.store import MIGRATIONS_DIR, SCHEMA_HEAD, close_all

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_HEAD
    store = open_store(db_url)
    with store.session_scope() as s:
        version = s.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        assert version == SCHEMA_HEAD
    close_all()
    store = open_store(db_url)  # reopening an up-to-date database is a no-op
    assert queue.counts(store) == dict.fromkeys(
        ("queued", "running", "succeeded", "failed", "cancelled", "pruned"), 0)


def test_submit_is_idempotent_per_run_hash_and_force_adds_repetitions(db_url: str, project: Path):
    store = open_store(db_url)
    (r1,) = queue.submit(store, [_batch(project, 5)])
    assert (r1.n_runs, r1.n_new, r1.n_known) == (5, 5, 0)
    (r2,) = queue.submit(store, [_batch(project, 7)])  # 5 known + 2 new
    assert (r2.n_new, r2.n_known) == (2, 5)
    (r3,) = queue.submit(store, [_batch(project, 3)], force=True)
    assert (r3.n_new, r3.n_known) == (3, 0)
    rows = queue.jobs(store)
    assert len(rows) == 10
    reps = sorted(r["repetition"] for r in rows if r["sweep_id"] == r3.sweep_id)
    assert reps == [1, 1, 1]
    (dry,) = queue.submit(store, [_batch(project, 8)], dry_run=True)
    assert (dry.sweep_id, dry.n_new, dry.n_known) == (None, 1, 7)
    assert len(queue.jobs(store)) == 10  # a dry run writes nothing
    assert {r["status"] for r in dry.rows} == {"new", "known"}


def test_repeats_queue_repetitions_of_one_config_idempotently(db_url: str, project: Path):
    from _orch_helpers import write_spec

    path = write_spec(project, "rep.yaml", "name: rep\ngroup: test\nbase: {lr: 0.01}\nrepeats: 3\n")
    spec = load_spec(path, project_dir=project)
    runs = expand(spec)
    assert [r.repetition for r in runs] == [0, 1, 2] and len({r.run_hash for r in runs}) == 1
    store = open_store(db_url)
    (r1,) = queue.submit(store, [(spec, runs)])
    assert (r1.n_new, r1.n_known) == (3, 0)
    (r2,) = queue.submit(store, [(spec, runs)])
    assert (r2.n_new, r2.n_known) == (0, 3)
    (r3,) = queue.submit(store, [(spec, runs[:1])], force=True)
    assert r3.n_new == 1
    assert sorted(j["repetition"] for j in queue.jobs(store)) == [0, 1, 2, 3]


def test_submission_of_several_specs_is_one_transaction(db_url: str, project: Path):
    store = open_store(db_url)
    good = _batch(project, 3, name="good")

    class Broken:  # a run whose config cannot be serialised: fails mid-transaction
        run_hash, label, seed = "f" * 64, "broken", 0

        class config:  # noqa: N801
            model_name = "x"

            @staticmethod
            def canonical_json():
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="^boom$"):
        queue.submit(store, [good, (good[0], [Broken()])])
    assert queue.jobs(store) == []
    with store.session_scope() as s:
        assert s.execute(text("SELECT count(*) FROM sweeps")).scalar_one() == 0


def test_claim_order_priority_then_fifo_and_none_when_empty(db_url: str, project: Path):
    store = open_store(db_url)
    queue.submit(store, [_batch(project, 2, name="low")])
    queue.submit(store, [_batch(project, 1, name="high")], priority=5, force=True)
    order = [queue.claim(store, "w", lease_seconds=30) for _ in range(4)]
    assert [j.id if j else None for j in order] == [3, 1, 2, None]
    job = order[0]
    assert job.attempt == 1 and job.config["lr"] == pytest.approx(0.001)
    assert job.project_dir == str(project)


def test_concurrent_claims_hand_out_each_job_once(db_url: str, project: Path):
    store = open_store(db_url)
    queue.submit(store, [_batch(project, 60)])
    got: list[int] = []
    lock = threading.Lock()

    def drain(wid: str) -> None:
        while (job := queue.claim(store, wid, lease_seconds=30)) is not None:
            with lock:
                got.append(job.id)

    threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 61))


def test_heartbeat_renews_and_reaper_requeues_then_fails(db_url: str, project: Path):
    store = open_store(db_url)
    queue.submit(store, [_batch(project, 1)], max_attempts=1, max_lost_attempts=2)
    # Leases of seconds with seconds of headroom: a loaded 2-core machine can stall a process
    # for a second, so no step may depend on sub-second timing.
    job = queue.claim(store, "w1", lease_seconds=3)
    for _ in range(3):  # heartbeats keep the lease alive past its first length
        time.sleep(1.2)
        assert queue.heartbeat(store, job.id, "w1", lease_seconds=3)
        assert queue.reap(store) == []
    assert not queue.heartbeat(store, job.id, "w2", lease_seconds=5)  # not w2's job
    time.sleep(4)
    assert queue.reap(store) == [(job.id, "queued")]
    assert not queue.heartbeat(store, job.id, "w1", lease_seconds=5)  # lost
    assert queue.succeed(store, job.id, "w1") is None  # a stale worker cannot finish it
    (row,) = queue.jobs(store)
    # a lost worker is counted apart from the job's own failures (max_attempts=1 is untouched)
    assert (row["attempts"], row["lost_attempts"]) == (0, 1)
    assert row["exit_reason"] == "lease expired (worker w1)"
    again = queue.claim(store, "w2", lease_seconds=1)
    assert again.id == job.id and again.attempt == 2
    time.sleep(2.5)
    assert queue.reap(store) == [(job.id, "failed")]  # the second loss exhausts max_lost_attempts
    (row,) = queue.jobs(store)
    assert row["state"] == "failed" and row["finished_at"] is not None
    history = queue.attempts_of(store, [job.id])[job.id]
    assert [(a["worker_id"], a["outcome"]) for a in history] == [("w1", "lost"), ("w2", "lost")]
    assert all(a["ended_at"] is not None for a in history)


def test_outcomes_fail_interrupt_succeed(db_url: str, project: Path):
    store = open_store(db_url)
    queue.submit(store, [_batch(project, 1)], max_attempts=2)
    job = queue.claim(store, "w", lease_seconds=30)
    assert queue.requeue_interrupted(store, job.id, "w", "interrupted") == "queued"
    job = queue.claim(store, "w", lease_seconds=30)
    assert job.attempt == 2  # the second attempt, though an interruption is not a failure
    assert queue.jobs(store)[0]["attempts"] == 0
    assert queue.fail(store, job.id, "w", "exit status 1") == "queued"
    job = queue.claim(store, "w", lease_seconds=30)
    assert queue.record(store, job.id, "w", mlflow_run_id="abc", job_dir="/tmp/x")
    assert queue.succeed(store, job.id, "w") == "succeeded"
    (row,) = queue.jobs(store)
    assert (row["state"], row["attempts"], row["mlflow_run_id"]) == ("succeeded", 1, "abc")
    assert row["started_at"] <= row["finished_at"]
    assert queue.claim(store, "w", lease_seconds=30) is None


def test_cancel_and_retry(db_url: str, project: Path):
    store = open_store(db_url)
    (res,) = queue.submit(store, [_batch(project, 4)], max_attempts=1)
    j1 = queue.claim(store, "w", lease_seconds=30)
    assert queue.fail(store, j1.id, "w", "exit status 2") == "failed"
    assert queue.cancel(store, job_ids=[2]) == [2]
    assert queue.cancel(store, sweep_id=res.sweep_id) == [3, 4]
    assert queue.claim(store, "w", lease_seconds=30) is None
    assert queue.retry(store, failed=True) == [1]
    assert queue.retry(store, job_ids=[3]) == [3]
    states = {r["id"]: (r["state"], r["attempts"]) for r in queue.jobs(store)}
    assert states == {1: ("queued", 0), 2: ("cancelled", 0), 3: ("queued", 0),
                      4: ("cancelled", 0)}
    with pytest.raises(QueueError, match="unknown job id"):
        queue.cancel(store, job_ids=[99])
    with pytest.raises(QueueError, match="unknown sweep id"):
        queue.cancel(store, sweep_id=42)
    with pytest.raises(QueueError, match="--failed"):
        queue.retry(store)


def test_a_cancelled_running_job_is_not_retried_while_its_worker_still_holds_it(
        db_url: str, project: Path):
    store = open_store(db_url)
    queue.submit(store, [_batch(project, 2)])
    a = queue.claim(store, "host-a", lease_seconds=30)
    assert queue.cancel(store, job_ids=[a.id]) == [a.id]
    with pytest.raises(QueueError, match=f"job {a.id} is still being stopped by worker host-a"):
        queue.retry(store, job_ids=[a.id])
    assert not queue.release(store, a.id, "host-b")  # only the holder releases
    assert queue.release(store, a.id, "host-a")  # host A has stopped the job
    assert queue.retry(store, job_ids=[a.id]) == [a.id]
    # A holder that died: its lease runs out, then the job may be retried.
    b = queue.claim(store, "host-b", lease_seconds=4)
    assert b is not None and queue.cancel(store, job_ids=[b.id]) == [b.id]
    with pytest.raises(QueueError, match="still being stopped"):
        queue.retry(store, job_ids=[b.id])
    time.sleep(5)
    assert queue.retry(store, job_ids=[b.id]) == [b.id]


def test_status_rejects_an_unknown_state_filter(db_url: str, project: Path):
    store = open_store(db_url)
    queue.submit(store, [_batch(project, 2)])
    assert [r["state"] for r in queue.jobs(store, states=["queued"])] == ["queued", "queued"]
    # a typo must not read as "no such jobs"
    with pytest.raises(QueueError, match=r"state: expected one of queued, running.*got 'runing'"):
        queue.jobs(store, states=["queued", "runing"])


def test_timestamps_come_from_the_database_clock(db_url: str, project: Path):
    store = open_store(db_url)
    queue.submit(store, [_batch(project, 1)])
    queue.claim(store, "w", lease_seconds=100)
    (row,) = queue.jobs(store)
    with store.session_scope() as s:
        now = s.execute(text("SELECT CURRENT_TIMESTAMP")).scalar_one()
    if isinstance(now, str):  # sqlite: "YYYY-MM-DD HH:MM:SS" UTC
        import datetime as dt
        now = dt.datetime.fromisoformat(now)
    now = now.replace(tzinfo=None) if now.tzinfo is None else now.astimezone(
        __import__("datetime").timezone.utc).replace(tzinfo=None)
    lease_left = (row["lease_expires_at"] - now).total_seconds()
    assert 90 < lease_left <= 101
    assert abs((row["created_at"] - now).total_seconds()) < 30


def test_attempt_numbers_count_each_jobs_own_attempts(db_url: str, project: Path):
    """Attempt numbers and attempt rows per job, with jobs whose ids differ from their attempt
    rows' ids (a count over the wrong column would still pass a one-job test)."""
    store = open_store(db_url)
    queue.submit(store, [_batch(project, 3)], max_attempts=5)
    first = [queue.claim(store, f"w{i}", lease_seconds=30, host="h", slot=f"s{i}")
             for i in range(3)]
    assert [(j.id, j.attempt) for j in first] == [(1, 1), (2, 1), (3, 1)]
    assert queue.requeue_interrupted(store, 3, "w2", "stop") == "queued"
    assert queue.fail(store, 2, "w1", "exit status 1") == "queued"
    again = [queue.claim(store, "w9", lease_seconds=30) for _ in range(2)]
    assert [(j.id, j.attempt) for j in again] == [(2, 2), (3, 2)]
    assert queue.requeue_interrupted(store, 3, "w9", "stop") == "queued"
    third = queue.claim(store, "w8", lease_seconds=30)
    assert (third.id, third.attempt) == (3, 3)
    assert queue.succeed(store, 1, "w0") == "succeeded"
    history = queue.attempts_of(store, [1, 2, 3])
    assert [(a["worker_id"], a["slot"], a["outcome"]) for a in history[1]] == \
        [("w0", "s0", "succeeded")]
    assert [(a["worker_id"], a["outcome"]) for a in history[2]] == \
        [("w1", "failed"), ("w9", None)]
    assert [(a["worker_id"], a["outcome"]) for a in history[3]] == \
        [("w2", "interrupted"), ("w9", "interrupted"), ("w8", None)]
    assert third.attempt_id == max(a["id"] for a in _attempt_rows(store, 3))


def _attempt_rows(store, job_id: int) -> list[dict]:
    with store.session_scope() as s:
        return [dict(r._mapping) for r in s.execute(
            text("SELECT id, job_id FROM job_attempts WHERE job_id = :j"), {"j": job_id})]


def test_a_stale_holder_cannot_end_or_renew_a_job_and_its_attempt_stays_open(
        db_url: str, project: Path):
    store = open_store(db_url)
    queue.submit(store, [_batch(project, 1)])
    job = queue.claim(store, "w1", lease_seconds=30)
    for end in (lambda: queue.succeed(store, job.id, "w2"),
                lambda: queue.fail(store, job.id, "w2", "x"),
                lambda: queue.requeue_interrupted(store, job.id, "w2", "x")):
        assert end() is None
    assert not queue.heartbeat(store, job.id, "w2", lease_seconds=30)
    (attempt,) = queue.attempts_of(store, [job.id])[job.id]
    assert (attempt["worker_id"], attempt["outcome"], attempt["ended_at"]) == ("w1", None, None)
    assert queue.jobs(store)[0]["state"] == "running"


def test_claims_read_the_head_of_the_queue_through_the_queued_index(db_url: str, project: Path):
    """The claim's pick of the queue head reads the partial index of queued jobs, no sort of every
    queued job (on PostgreSQL with the table analysed; SQLite is told to use it)."""
    from sqlalchemy.dialects import postgresql, sqlite

    from orchestrator.queue import transitions

    store = open_store(db_url)
    queue.submit(store, [_batch(project, 50)])
    dialect = postgresql.dialect() if store.dialect == "postgresql" else sqlite.dialect()
    pick = transitions.head_of_queue(store.dialect)
    sql = str(pick.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    with store.session_scope() as s:
        if store.dialect == "postgresql":
            s.execute(text("ANALYZE jobs"))
            plan = s.execute(text("EXPLAIN " + sql)).scalars().all()
        else:
            plan = [r[-1] for r in s.execute(text("EXPLAIN QUERY PLAN " + sql))]
    text_plan = "\n".join(plan)
    assert "ix_jobs_queued" in text_plan, text_plan
    assert "Sort" not in text_plan and "TEMP B-TREE" not in text_plan, text_plan
