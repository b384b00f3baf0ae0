"""Arms against a real sqlite MLflow store: one parent run per configuration with its seeds as
children, the aggregate on the parent, concurrent creation, imported logs, and the report
reading seed runs only."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from scipy import stats

from orchestrator.tracking import Tracker, notes
from orchestrator.tracking import arms as A

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy_logs"
REDUCED = {("exp48_decoder14", 0): 61.0, ("exp48_decoder14", 1): 63.5, ("exp48_decoder14", 2): 62.0,
           ("exp30_decoder26", 0): 58.25, ("exp30_decoder26", 1): 57.0}


def _job(make_job, train_config, model: str, seed: int, group: str):
    cfg = train_config.model_copy(update={"model_name": model, "seed": seed})
    return make_job(config=cfg.model_dump(mode="json"), run_hash=cfg.run_hash(), group=group)


def _train(tracker, job, reduced: float) -> str:
    """A job's run through the worker's calls, with the callback's final metrics."""
    from mlflow.entities import Metric

    run_id = tracker.ensure_run(job)
    tracker.client.log_batch(run_id, metrics=[Metric("best_mIoU_reduced", reduced, 0, 5),
                                              Metric("best_mIoU", reduced - 5, 0, 5)])
    tracker.finish_run(run_id, "FINISHED")
    return run_id


def _parents(client, experiment_id: str) -> list:
    return client.search_runs([experiment_id], "tags.`regseg.arm_parent` = 'true'")


def test_seeds_are_children_of_their_arm_with_the_aggregate(tracker, make_job, train_config):
    group = "arms_aggregate"
    client = tracker.client
    run_ids = {key: _train(tracker, _job(make_job, train_config, *key, group), value)
               for key, value in REDUCED.items()}
    experiment_id = client.get_run(run_ids["exp48_decoder14", 0]).info.experiment_id

    parents = {p.data.tags["regseg.config_label"]: p for p in _parents(client, experiment_id)}
    assert sorted(parents) == ["model_name=exp30_decoder26", "model_name=exp48_decoder14"]
    arm = parents["model_name=exp48_decoder14"]
    values = [61.0, 63.5, 62.0]
    mean, std = sum(values) / 3, stats.tstd(values)
    low, high = stats.t.interval(0.95, 2, loc=mean, scale=stats.sem(values))
    m = arm.data.metrics
    assert m["best_mIoU_reduced"] == pytest.approx(mean)
    assert m["best_mIoU_reduced_mean"] == pytest.approx(mean)
    assert m["best_mIoU_reduced_std"] == pytest.approx(std)
    assert m["best_mIoU_reduced_n"] == 3
    assert (m["best_mIoU_reduced_ci95_low"], m["best_mIoU_reduced_ci95_high"]) == pytest.approx(
        (low, high))
    assert m["best_mIoU_mean"] == pytest.approx(mean - 5) and m["best_mIoU_n"] == 3
    assert arm.data.params == {"model_name": "exp48_decoder14"}
    assert arm.info.status == "FINISHED" and arm.info.run_name == "exp48_decoder14"
    assert arm.data.tags["regseg.arm_runs"] == "3/3 finished"
    assert "mean 62.17 over n = 3" in arm.data.tags["mlflow.note.content"]

    for (model, seed), run_id in run_ids.items():
        run = client.get_run(run_id)
        parent = parents[f"model_name={model}"].info.run_id
        assert run.data.tags["mlflow.parentRunId"] == parent
        assert run.info.run_name == f"{model} · s{seed}"
        assert parent in run.data.tags["mlflow.note.content"]

    exp = client.get_experiment(experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "`model_name` across 2 configurations" in exp.tags["mlflow.note.content"]
    assert "regseg report --experiment regseg/arms_aggregate" in exp.tags["mlflow.note.content"]


def test_parent_runs_until_every_seed_finished(tracker, make_job, train_config):
    group = "arms_status"
    first = tracker.ensure_run(_job(make_job, train_config, "exp48_decoder26", 1, group))
    second = tracker.ensure_run(_job(make_job, train_config, "exp48_decoder26", 2, group))
    client = tracker.client
    arm_id = client.get_run(first).data.tags["mlflow.parentRunId"]
    assert client.get_run(second).data.tags["mlflow.parentRunId"] == arm_id
    client.log_metric(first, "best_mIoU_reduced", 66.0, step=5)
    tracker.finish_run(first, "FINISHED")
    arm = client.get_run(arm_id)
    assert arm.info.status == "RUNNING"
    assert arm.data.metrics["best_mIoU_reduced_n"] == 1
    assert arm.data.metrics["best_mIoU_reduced"] == 66.0
    assert arm.data.tags["regseg.arm_runs"] == "1/2 finished"
    tracker.finish_run(second, "FAILED", "exit status 1")
    assert client.get_run(arm_id).info.status == "FAILED"


def test_one_sample_has_a_mean_and_no_interval():
    one = A.summarize([70.0])
    assert one["mean"] == 70.0 and one["n"] == 1
    assert math.isnan(one["std"]) and math.isnan(one["ci95_low"])
    assert A.summarize([None, float("nan")]) == {}


def test_concurrent_workers_share_one_arm(sqlite_store, make_job, train_config):
    """Four workers claim the four seeds of one configuration at the same moment."""
    group = "arms_race"
    jobs = [_job(make_job, train_config, "exp48_decoder26", seed, group) for seed in range(4)]
    barrier = threading.Barrier(len(jobs))
    run_ids: dict[int, str] = {}
    errors: list[BaseException] = []

    def worker(job) -> None:
        tracker = Tracker(sqlite_store["uri"], artifact_root=sqlite_store["artifact_root"])
        barrier.wait()
        try:
            run_ids[job.config["seed"]] = _train(tracker, job, 60.0 + job.config["seed"])
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    client = Tracker(sqlite_store["uri"]).client
    experiment_id = client.get_run(run_ids[0]).info.experiment_id
    [arm] = _parents(client, experiment_id)
    assert {client.get_run(r).data.tags["mlflow.parentRunId"] for r in run_ids.values()} == {
        arm.info.run_id}
    assert arm.data.metrics["best_mIoU_reduced_n"] == 4
    assert arm.data.metrics["best_mIoU_reduced"] == pytest.approx(61.5)
    names = {client.get_run(r).info.run_name for r in run_ids.values()}
    assert names == {f"exp48_decoder26 · s{s}" for s in range(4)}


def test_a_duplicate_parent_is_merged_into_the_oldest(tracker, make_job, train_config):
    """What a creation race can leave behind: a younger parent holding a seed run."""
    group = "arms_duplicate"
    run_id = _train(tracker, _job(make_job, train_config, "exp48_decoder26", 0, group), 60.0)
    client = tracker.client
    run = client.get_run(run_id)
    experiment_id, oldest = run.info.experiment_id, run.data.tags["mlflow.parentRunId"]
    label = run.data.tags["regseg.config_label"]
    key = notes.arm_key(group, label)
    younger = client.create_run(experiment_id, tags={
        "regseg.arm_parent": "true", "regseg.arm_key": key, "regseg.config_label": label,
        "regseg.group": group}).info.run_id
    stray = _train(tracker, _job(make_job, train_config, "exp48_decoder26", 1, group), 62.0)
    client.set_tag(stray, "mlflow.parentRunId", younger)

    assert A.refresh_arm(client, experiment_id, key) == oldest
    assert [p.info.run_id for p in _parents(client, experiment_id)] == [oldest]
    assert client.get_run(stray).data.tags["mlflow.parentRunId"] == oldest
    assert oldest in client.get_run(stray).data.tags["mlflow.note.content"]
    assert client.get_run(oldest).data.metrics["best_mIoU_reduced_n"] == 2


def test_report_reads_seed_runs_never_the_arms(tracker, make_job, train_config):
    """If an arm's parent were counted, the report would see 3 rows and a mean of the mean."""
    from reports.mlflow_source import load_runs

    group = "arms_report"
    run_ids = {_train(tracker, _job(make_job, train_config, "exp48_decoder26", seed, group), v)
               for seed, v in ((0, 60.0), (1, 64.0))}
    df = load_runs(tracking_uri=tracker.tracking_uri, experiments=[f"regseg/{group}"])
    assert set(df["run_id"]) == run_ids
    assert sorted(df["best_mIoU_reduced"]) == [60.0, 64.0]


def test_imported_logs_get_the_same_structure(tmp_path):
    from mlflow.tracking import MlflowClient

    from reports.import_logs import import_logs
    from reports.mlflow_source import load_runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    results = import_logs([LEGACY], tracking_uri=uri)
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("reference/ddrnet_comparison")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "regseg report --experiment reference/ddrnet_comparison" in exp.tags[
        "mlflow.note.content"]
    [arm] = _parents(client, exp.experiment_id)
    assert arm.info.run_name == "cityscapes_ddrnet23_1000_epochs"
    assert arm.data.metrics["best_mIoU_n"] == 3
    best = sorted(r.best_mIoU for r in results if r.group == "ddrnet_comparison")
    assert arm.data.metrics["best_mIoU"] == pytest.approx(sum(best) / 3)
    seeds = {r.run_id for r in results if r.group == "ddrnet_comparison"}
    for run_id in seeds:
        run = client.get_run(run_id)
        assert run.data.tags["mlflow.parentRunId"] == arm.info.run_id
        assert run.info.run_name.startswith("cityscapes_ddrnet23_1000_epochs · s")
        assert "cityscapes_ddrnet23_1000_epochs_log.txt" in run.data.tags["mlflow.note.content"]
    assert len({client.get_run(r).info.run_name for r in seeds}) == 3
    assert set(load_runs(tracking_uri=uri)["run_id"]) == {r.run_id for r in results}
    again = import_logs([LEGACY], tracking_uri=uri)
    assert {r.status for r in again} == {"skipped"}
    assert len(_parents(client, exp.experiment_id)) == 1
