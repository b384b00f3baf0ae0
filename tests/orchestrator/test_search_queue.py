"""Pruning through the queue: the job's epoch reports, the driver's prune request and the
worker's pruned transition, as compare-and-set statements on a real database (SQLite and
PostgreSQL), plus the search spec section's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import queue
from orchestrator.errors import SpecError
from orchestrator.queue.pruning import (
    epoch_metrics,
    prune,
    prune_requested,
    report_epoch,
    request_prune,
)
from orchestrator.queue.store import open_store
from orchestrator.specs import expand, load_spec
from orchestrator.workers.outcomes import EXIT_PRUNED, Outcome, classify

from _orch_helpers import lr_spec


def _two_jobs(project: Path, db_url: str):
    store = open_store(db_url)
    spec = load_spec(lr_spec(project, 2), project_dir=project)
    queue.submit(store, [(spec, expand(spec))])
    return store, queue.claim(store, "w1", lease_seconds=60)


def test_epoch_reports_prune_request_and_pruned_state(project: Path, db_url: str):
    store, job = _two_jobs(project, db_url)
    assert report_epoch(store, job.id, "w1", 0, {"mIoU": 10.0, "mIoU_reduced": 12.0}) is None
    assert report_epoch(store, job.id, "w1", 1, {"mIoU_reduced": 15.0}) is None
    assert report_epoch(store, job.id, "w1", 1, {"mIoU_reduced": 14.0}) is None  # redone epoch
    assert report_epoch(store, job.id, "intruder", 2, {"mIoU_reduced": 99.0}) is False
    assert epoch_metrics(store, [job.id], "mIoU_reduced") == {job.id: {0: 12.0, 1: 14.0}}
    assert request_prune(store, job.id, 1) == "running"
    assert request_prune(store, job.id, 5) == "running"  # the first request stands
    assert prune_requested(store, job.id) == 1
    # After the request the stream ends: nothing later is stored, the answer says stop.
    assert report_epoch(store, job.id, "w1", 2, {"mIoU_reduced": 20.0}) == 1
    assert 2 not in epoch_metrics(store, [job.id], "mIoU_reduced")[job.id]
    assert prune(store, job.id, "intruder") is None
    assert prune(store, job.id, "w1") == "pruned"
    row = {j["id"]: j for j in queue.jobs(store)}[job.id]
    assert (row["state"], row["pruned_epoch"]) == ("pruned", 1)
    assert queue.attempts_of(store, [job.id])[job.id][-1]["outcome"] == "pruned"
    assert queue.counts(store)["pruned"] == 1 and not queue.retry(store, failed=True)


def test_an_epoch_stored_while_the_prune_request_is_written_is_not_in_the_trial(
        project: Path, db_url: str):
    """The driver decides at epoch 1 from what it read; the job stores epoch 2 before the
    request lands. The trial's stream ends at the requested epoch, the job's pruned epoch."""
    store, job = _two_jobs(project, db_url)
    for epoch, value in enumerate((12.0, 14.0, 16.0)):
        assert report_epoch(store, job.id, "w1", epoch, {"mIoU_reduced": value}) is None
    assert request_prune(store, job.id, 1) == "running"
    assert epoch_metrics(store, [job.id], "mIoU_reduced") == {job.id: {0: 12.0, 1: 14.0}}
    assert report_epoch(store, job.id, "w1", 3, {"mIoU_reduced": 18.0}) == 1
    assert prune(store, job.id, "w1") == "pruned"
    assert {j["id"]: j for j in queue.jobs(store)}[job.id]["pruned_epoch"] == 1


def test_a_job_that_finished_before_its_prune_request_keeps_its_whole_stream(
        project: Path, db_url: str):
    """The request landed after the job's last report: the job succeeds, every epoch counts."""
    store, job = _two_jobs(project, db_url)
    for epoch, value in enumerate((12.0, 14.0, 16.0)):
        assert report_epoch(store, job.id, "w1", epoch, {"mIoU_reduced": value}) is None
    assert request_prune(store, job.id, 1) == "running"
    assert queue.succeed(store, job.id, "w1") == "succeeded"
    assert epoch_metrics(store, [job.id], "mIoU_reduced") == {
        job.id: {0: 12.0, 1: 14.0, 2: 16.0}}


def test_a_queued_job_is_pruned_at_once_and_a_finished_one_is_left(project: Path, db_url: str):
    store, running = _two_jobs(project, db_url)
    other = [j for j in queue.jobs(store) if j["id"] != running.id][0]
    assert request_prune(store, other["id"], 3) == "pruned"
    assert queue.claim(store, "w2", lease_seconds=60) is None  # nothing left to claim
    queue.succeed(store, running.id, "w1")
    assert request_prune(store, running.id, 0) is None
    assert {j["id"]: j["state"] for j in queue.jobs(store)} == {running.id: "succeeded",
                                                                other["id"]: "pruned"}


def test_the_database_refuses_unknown_states(db_url: str, project: Path):
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from orchestrator.queue.schema import Job

    store, job = _two_jobs(project, db_url)
    # SQLite: "CHECK constraint failed"; PostgreSQL: "violates check constraint"
    with pytest.raises(IntegrityError, match=r"(?i)check constraint"):
        with store.session_scope() as s:
            s.execute(update(Job).where(Job.id == job.id).values(state="bogus"))


def test_exit_status_table_has_pruned():
    assert classify(EXIT_PRUNED, term_sent=False, lost=False) is Outcome.PRUNED
    assert classify(EXIT_PRUNED, term_sent=False, lost=True) is Outcome.LOST


BAD_SECTIONS = [
    ("search:\n  space:\n    lr: {type: float, low: 1, high: 0.5}\n",
     "line 4: search.space.lr.high: expected high > low"),
    ("search:\n  space:\n    lr:\n      type: float\n      low: 0\n      high: 1\n"
     "      log: true\n",
     "line 6: search.space.lr.low: expected low > 0 for a log scale"),
    ("search:\n  space:\n    decoder: {type: categorical, choices: [decoder14, decodr26]}\n",
     "search.space.decoder.choices[1]: unknown decoder 'decodr26' (did you mean 'decoder26'?)"),
    ("search:\n  pruner: hyperbnd\n", "line 3: search.pruner: expected one of median, hyperband"),
    ("search:\n  sampler: {name: grid}\n  space:\n    lr: {type: float, low: 0.1, high: 1}\n",
     "the grid sampler needs finite axes"),
    ("search:\n  trials: 0\n", "line 3: search.trials: expected an integer >= 1, got int 0"),
    ("search:\n  space:\n    seed: {type: int, low: 0, high: 3}\n", "seed is not searched"),
    ("search:\n  spaces: {}\n", "search.spaces: unknown key (did you mean 'space'?)"),
    ("seeds: {max: 3, min: 4}\n", "seeds.min: expected min <= max (3), got 4"),
    ("seeds: {max: 3, alpha: 0.9}\n", "seeds.alpha: expected a number in (0, 0.5)"),
    ("seeds: {min: 2}\n", "seeds: expected 'max'"),
    ("seeds: {max: 3, baseline: {lrr: 0.1}}\n", "seeds.baseline.lrr: unknown TrainConfig field"),
]


@pytest.mark.parametrize("text, message", BAD_SECTIONS, ids=[m[:30] for _, m in BAD_SECTIONS])
def test_search_and_seed_sections_fail_with_file_line_and_path(project: Path, text, message):
    path = project / "experiments" / "bad.yaml"
    path.write_text("name: bad\n" + text)  # the section starts on line 2
    with pytest.raises(SpecError) as err:
        load_spec(path, project_dir=project)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_command_line_options_override_the_spec_section(project: Path, tmp_path: Path):
    from orchestrator.search import Search, parse_param

    path = project / "experiments" / "s.yaml"
    path.write_text("name: s\nsearch:\n  space:\n    lr: {type: float, low: 0.01, high: 0.1}\n"
                    "    decoder: {type: categorical, choices: [decoder14, decoder26]}\n"
                    "  sampler: {name: random, seed: 4}\n  pruner: hyperband\n  trials: 5\n")
    store = open_store(f"sqlite:///{tmp_path / 'q.db'}")
    s = Search(store, path, [parse_param("lr=float:0.001:0.01:log")], sampler="tpe",
               pruner="none", storage=f"sqlite:///{tmp_path / 'o.db'}", project_dir=project)
    lr = {p.name: p for p in s.section.space}["lr"]
    assert (lr.low, lr.high, lr.log) == (0.001, 0.01, True)
    assert [p.name for p in s.section.space] == ["lr", "decoder"]
    assert (s.section.sampler, s.section.seed, s.section.pruner, s.section.trials) == (
        "tpe", 4, "none", 5)
    assert type(s.study.pruner).__name__ == "NopPruner"


SPACES = {
    "tpe": "    lr: {type: float, low: 0.01, high: 0.1, log: true}\n",
    "random": "    decoder: {type: categorical, choices: [decoder14, decoder26]}\n",
    "grid": "    batch_size: {type: int, low: 2, high: 4, step: 2}\n",
    "cmaes": "    lr: {type: float, low: 0.01, high: 0.1}\n"
             "    batch_size: {type: int, low: 2, high: 8}\n",
}


@pytest.mark.parametrize("pruner", ["median", "hyperband", "none"])
@pytest.mark.parametrize("sampler", sorted(SPACES))
def test_every_sampler_and_pruner_queues_trials_in_the_space(project: Path, tmp_path: Path,
                                                             sampler: str, pruner: str):
    from orchestrator.search import Search

    path = project / "experiments" / "s.yaml"
    path.write_text(f"name: s\nbase: {{epochs: 4}}\nsearch:\n  space:\n{SPACES[sampler]}"
                    f"  sampler: {{name: {sampler}, seed: 1}}\n  pruner: {pruner}\n")
    store = open_store(f"sqlite:///{tmp_path / 'q.db'}")
    search = Search(store, path, storage=f"sqlite:///{tmp_path / 'o.db'}", project_dir=project)
    assert search.ask(trials=3, parallel=3) == (2 if sampler == "grid" else 3)  # grid: 2 points
    jobs = {j["id"]: j for j in queue.jobs(store)}
    for t in search.study.get_trials():
        config = json.loads(_config(store, t.user_attrs["job_id"]))
        for name, value in t.params.items():
            shown = config["model_name"].split("_")[1] if name == "decoder" else config[name]
            assert shown == value
        assert jobs[t.user_attrs["job_id"]]["state"] == "queued"
    if sampler == "grid":
        assert sorted(t.params["batch_size"] for t in search.study.get_trials()) == [2, 4]


def _config(store, job_id: int) -> str:
    from sqlalchemy import select

    from orchestrator.queue.schema import Job

    with store.session_scope() as s:
        return s.execute(select(Job.config).where(Job.id == job_id)).scalar_one()
