"""`regseg search`: an Optuna study (real RDB storage) whose trials are real queued training runs
drained by a real worker process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator import queue
from orchestrator.errors import SpecError
from orchestrator.queue.store import open_store
from orchestrator.search import Search, parse_param

ROOT = Path(__file__).resolve().parents[2]


def _tiny_spec() -> str:
    """The shipped smoke setting as a one-run spec (no grid, one seed), trained for 1 epoch."""
    import yaml

    smoke = yaml.safe_load((ROOT / "experiments" / "smoke.yaml").read_text())
    base = {**smoke["base"], "model_name": "exp48_decoder14", "epochs": 1, "max_eval": 4}
    return yaml.safe_dump({"name": "tiny", "group": "tiny", "base": base})


TINY = _tiny_spec()


def test_parse_param_kinds_and_errors():
    assert parse_param("lr=float:0.001:0.1:log").log is True
    assert parse_param("batch_size=int:2:8").high == 8
    assert parse_param("aug_mode=choice:baseline,custom3").choices == ("baseline", "custom3")
    for bad in ("lr", "lr=uniform:0:1", "lr=float:1:0", "lr=float:a:b", "lr=float:0:1:ln",
                "aug_mode=choice:"):
        with pytest.raises(SpecError, match="--param"):
            parse_param(bad)


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from regseg.data.synthetic import make_synthetic

    make_synthetic(tmp_path / "data" / "synthetic", train=8, val=4, size=(64, 128), seed=0)
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "tiny.yaml").write_text(TINY)
    monkeypatch.setenv("REGSEG_HOME", str(tmp_path / ".regseg"))
    monkeypatch.delenv("REGSEG_DB", raising=False)
    return tmp_path


def test_search_needs_a_single_run_spec_and_known_fields(project: Path):
    store = open_store()
    grid = project / "experiments" / "grid.yaml"
    grid.write_text(TINY.replace("name: tiny", "name: grid") + "seeds: 2\n")
    with pytest.raises(SpecError, match="exactly one run"):
        Search(store, grid, [parse_param("lr=float:0.01:0.1")], project_dir=project)
    with pytest.raises(SpecError, match="not a TrainConfig field"):
        Search(store, project / "experiments" / "tiny.yaml", [parse_param("lrr=float:0.01:0.1")],
               project_dir=project)


@pytest.mark.slow
def test_trials_are_queued_trained_by_a_worker_and_told(project: Path):
    store = open_store()
    spec = project / "experiments" / "tiny.yaml"
    search = Search(store, spec, [parse_param("lr=float:0.001:0.1:log")], project_dir=project)
    worker = subprocess.Popen([sys.executable, "-m", "regseg", "worker", "--gpus", "none",
                               "--cpu-slots", "2", "--no-tracking", "--poll-seconds", "0.3"],
                              cwd=project, env=dict(os.environ), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        search.drive(trials=3, parallel=2, poll_seconds=0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=120) == 0
    trials = search.study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    jobs = {j["id"]: j for j in queue.jobs(store)}
    for t in trials:
        job = jobs[t.user_attrs["job_id"]]
        summary = json.loads((Path(job["job_dir"]) / "summary.json").read_text())
        assert t.value == pytest.approx(summary["best_mIoU_reduced"])
        config = json.loads((Path(job["job_dir"]) / "config.json").read_text())
        assert config["lr"] == pytest.approx(t.params["lr"])
    # Running the driver again adds nothing: the study is durable, the trials are done.
    again = Search(store, spec, [parse_param("lr=float:0.001:0.1:log")], project_dir=project)
    again.drive(trials=3, parallel=2, poll_seconds=0.1)
    assert len(again.study.get_trials()) == 3 and len(queue.jobs(store)) == len(jobs)
