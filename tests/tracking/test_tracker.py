"""Tracker (worker side) against a real sqlite MLflow store: experiments, runs, tags, params,
status."""

from __future__ import annotations

import json
import os
import socket

import pytest

from orchestrator.errors import TrackingError
from orchestrator.tracking import Tracker, flatten_config, git_commit
from orchestrator.tracking.notes import arm_key


def test_flatten_config_every_field_lists_as_json(train_config):
    cfg = train_config.model_dump(mode="json")
    flat = flatten_config(cfg)
    assert set(flat) == set(type(train_config).model_fields)
    assert flat["train_crop_size"] == "[768, 768]"
    assert json.loads(flat["exclude_classes"]) == [14, 15, 16]
    assert flat["lr"] == "0.05" and flat["seed"] == "3" and flat["pretrained_path"] == "None"
    assert flatten_config({"a": {"b": [1]}, "c": True}) == {"a.b": "[1]", "c": "True"}


def test_ensure_run_creates_experiment_run_tags_params(tracker, make_job, train_config,
                                                       sqlite_store):
    job = make_job(attempt=1)
    run_id = tracker.ensure_run(job)
    client = tracker.client
    run = client.get_run(run_id)

    exp = client.get_experiment(run.info.experiment_id)
    assert exp.name == f"regseg/{job.group}"
    root = sqlite_store["artifact_root"].resolve()
    assert exp.artifact_location == (root / "regseg" / job.group).as_uri()
    assert run.info.status == "RUNNING"

    assert run.data.params == flatten_config(train_config.model_dump(mode="json"))
    expected_tags = {
        "regseg.spec": "tracking_test", "regseg.group": job.group, "regseg.sweep": "7",
        "regseg.run_hash": train_config.run_hash(), "regseg.seed": "3",
        "regseg.job_id": str(job.id), "regseg.attempt": "1", "regseg.host": socket.gethostname(),
        "regseg.source": "regseg", "regseg.model": "exp48_decoder26",
        "regseg.config_label": "model_name=exp48_decoder26",
        "regseg.arm_key": arm_key(job.group, "model_name=exp48_decoder26"),
    }
    commit = git_commit()  # the tests run from a git checkout: the tag must be there
    assert commit and len(commit) == 40, commit
    expected_tags["regseg.git_commit"] = commit
    ours = {k: v for k, v in run.data.tags.items() if k.startswith("regseg.")}
    assert ours == expected_tags
    assert run.info.run_name == "exp48_decoder26 · s3"
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.data.tags["regseg.arm_parent"] == "true"
    assert parent.info.run_name == "exp48_decoder26"
    note = run.data.tags["mlflow.note.content"]
    assert f"job {job.id}" in note and "sweep 7" in note and parent.info.run_id in note


def test_later_attempt_reuses_the_run(tracker, make_job):
    job = make_job(attempt=1)
    run_id = tracker.ensure_run(job)
    tracker.finish_run(run_id, "FAILED", "exit status 1")

    job.mlflow_run_id, job.attempt = run_id, 2
    assert tracker.ensure_run(job) == run_id
    run = tracker.client.get_run(run_id)
    assert run.data.tags["regseg.attempt"] == "2"
    assert run.info.status == "RUNNING"

    # A worker that died after creating the run but before storing its id: found by job tags.
    job.mlflow_run_id, job.attempt = None, 3
    assert tracker.ensure_run(job) == run_id
    runs = tracker.client.search_runs([run.info.experiment_id])
    assert [r.info.run_id for r in runs if "regseg.arm_parent" not in r.data.tags] == [run_id]
    assert tracker.client.get_run(run_id).data.tags["regseg.attempt"] == "3"


def test_distinct_jobs_get_distinct_runs_in_one_experiment(tracker, make_job):
    a, b = make_job(), make_job(run_hash="f" * 64)
    ra, rb = tracker.ensure_run(a), tracker.ensure_run(b)
    assert ra != rb
    exp_ids = {tracker.client.get_run(r).info.experiment_id for r in (ra, rb)}
    assert len(exp_ids) == 1


@pytest.mark.parametrize("status,error", [("FINISHED", None), ("FAILED", "killed by SIGKILL"),
                                          ("KILLED", None)])
def test_finish_run_mirrors_job_status(tracker, make_job, status, error, tmp_path):
    run_id = tracker.ensure_run(make_job())
    (tmp_path / "job.log").write_text("Traceback ...\nRuntimeError: boom\n")
    tracker.finish_run(run_id, status, error, out_dir=tmp_path)
    run = tracker.client.get_run(run_id)
    assert run.info.status == status
    assert run.info.end_time is not None
    assert run.data.tags.get("regseg.error") == error
    local = tracker.client.download_artifacts(run_id, "logs/job.log", str(tmp_path / "dl"))
    assert open(local).read().endswith("RuntimeError: boom\n")


def test_finish_run_rejects_unknown_status(tracker, make_job):
    run_id = tracker.ensure_run(make_job())
    with pytest.raises(TrackingError, match="FINISHED, FAILED, KILLED"):
        tracker.finish_run(run_id, "DONE")


def test_unreachable_store_raises_tracking_error(make_job):
    from _tracking_helpers import unreachable_uri

    with pytest.raises(TrackingError, match="cannot create/resume the MLflow run"):
        Tracker(unreachable_uri()).ensure_run(make_job())


def test_default_store_is_under_the_state_dir(tmp_path, monkeypatch, make_job):
    monkeypatch.setenv("REGSEG_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    t = Tracker()
    assert t.tracking_uri == f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}"
    run_id = t.ensure_run(make_job(group="backbone"))
    exp = t.client.get_experiment(t.client.get_run(run_id).info.experiment_id)
    assert exp.name == "regseg/backbone"
    expected_root = tmp_path / "state" / "mlartifacts" / "regseg" / "backbone"
    assert exp.artifact_location == expected_root.as_uri()
    assert (tmp_path / "state" / "mlflow.db").exists()


def test_ui_refuses_a_remote_store():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "regseg", "ui", "--tracking-uri",
                           "http://127.0.0.1:9"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "already a tracking server" in done.stderr


def test_ui_warns_that_a_non_loopback_bind_has_no_authentication(tmp_path):
    import subprocess
    import sys

    from orchestrator.tracking.server import free_port

    argv = [sys.executable, "-m", "regseg", "ui", "--host", "0.0.0.0", "--port", str(free_port()),
            "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--wait", "0.1"]
    env = {**os.environ, "REGSEG_HOME": str(tmp_path / "home")}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert "the MLflow UI has no authentication" in done.stderr
    assert argv[5] == "0.0.0.0"
    loopback = subprocess.run([*argv[:5], "127.0.0.1", *argv[6:]], capture_output=True,
                              text=True, timeout=120, env=env)
    assert "mlflow server" in loopback.stderr  # it got as far as starting the server
    assert "no authentication" not in loopback.stderr
