"""Adaptive seeds: the repeated-looks test simulated over thousands of arms (pure functions), and
the arm controller through the real queue, a real worker and stream jobs reporting prescribed
values: a clearly worse arm stops after `min` seeds, a tie runs to `max`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _search_helpers import start_workers, stop_workers, stream_job_command

from orchestrator import queue
from orchestrator.queue.arms import looks
from orchestrator.queue.store import open_store
from orchestrator.sequential import STOP, alpha_for_look, decide, simulate_arm, spending
from orchestrator.specs import expand, load_spec

N_NULL_ARMS = 3000


def test_spending_adds_up_to_alpha_whatever_looks_are_skipped():
    levels = [alpha_for_look(n, None if n == 2 else n - 1, n_min=2, n_max=7, alpha=0.05)
              for n in range(2, 7)]
    assert sum(levels) == pytest.approx(0.05) and all(a > 0 for a in levels)
    skipped = alpha_for_look(2, None, n_min=2, n_max=7, alpha=0.05) + alpha_for_look(
        5, 2, n_min=2, n_max=7, alpha=0.05) + alpha_for_look(6, 5, n_min=2, n_max=7, alpha=0.05)
    assert skipped == pytest.approx(0.05)
    assert spending(1.0, 0.05) == pytest.approx(0.05) and spending(0.0, 0.05) == 0.0


@pytest.mark.parametrize("stop_when, margin, delta", [
    ("worse", 0.1, 0.1),    # the arm beats the baseline by exactly the margin: must not stop
    ("worse", 0.0, 0.0),    # a pure tie, no margin
    ("decided", 0.1, 0.1),  # decided either way: the boundary is the hardest case
])
def test_false_stop_rate_of_null_arms_is_at_most_alpha(stop_when, margin, delta):
    rng = np.random.default_rng(17)
    alpha, stops = 0.05, 0
    for _ in range(N_NULL_ARMS):
        baseline = rng.normal(70.0, 0.5, 6)
        arm = rng.normal(70.0 + delta, 0.5, 6)
        stops += simulate_arm(arm, baseline, n_min=2, n_max=6, alpha=alpha, margin=margin,
                              stop_when=stop_when) is not None
    rate = stops / N_NULL_ARMS
    assert rate <= alpha, rate
    assert rate > 0.005  # the test spends its budget: it is not trivially never stopping


def test_clearly_worse_arms_stop_early_and_better_ones_are_decided():
    rng = np.random.default_rng(3)
    worse = [simulate_arm(rng.normal(67.0, 0.5, 6), rng.normal(70.0, 0.5, 6), n_min=2, n_max=6,
                          alpha=0.05, margin=0.1, stop_when="worse") for _ in range(500)]
    assert np.mean([n is not None for n in worse]) > 0.95
    assert np.median([n for n in worse if n is not None]) <= 3
    better = decide([73.0, 73.2, 72.9], [70.0, 70.1, 69.9], level=0.02, margin=0.1,
                    stop_when="decided")
    assert better.decision == STOP and "beats" in better.reason
    assert decide([73.0, 73.2, 72.9], [70.0, 70.1, 69.9], level=0.02, margin=0.1,
                  stop_when="worse").decision != STOP


SPEC = """\
name: arms
group: arms
base: {model_name: exp48_decoder26, epochs: 1}
grid:
  decoder: [decoder26, decoder14, decoder4]
seeds:
  max: 5
  min: 2
  stop_when: worse
  margin: 0.1
  alpha: 0.05
  baseline: {decoder: decoder26}
"""
#: final mIoU^R per model and seed: decoder14 clearly worse, decoder4 a tie with the baseline
TABLE = {
    "exp48_decoder26": {"0": 70.0, "1": 70.4, "2": 69.8, "3": 70.2, "4": 70.1},
    "exp48_decoder14": {"0": 60.0, "1": 60.3, "2": 59.9, "3": 60.2, "4": 60.1},
    "exp48_decoder4": {"0": 70.3, "1": 69.7, "2": 70.2, "3": 69.9, "4": 70.0},
}


def test_adaptive_spec_expands_seed_major_and_records_its_policy(project: Path, db_url: str):
    (project / "experiments" / "arms.yaml").write_text(SPEC)
    spec = load_spec(project / "experiments" / "arms.yaml", project_dir=project)
    runs = expand(spec)
    assert [r.seed for r in runs] == [s for s in range(5) for _ in range(3)]
    (result,) = queue.submit(open_store(db_url), [(spec, runs)])
    from orchestrator.queue.arms import seed_policy

    policy = seed_policy(open_store(db_url), result.sweep_id)
    assert policy == {"max": 5, "min": 2, "stop_when": "worse", "margin": 0.1, "alpha": 0.05,
                      "metric": "best_mIoU_reduced", "baseline": "model_name=exp48_decoder26"}


@pytest.mark.slow
def test_worse_arm_stops_after_min_seeds_and_tie_runs_to_max(project: Path, db_url: str,
                                                            tmp_path: Path):
    (project / "experiments" / "arms.yaml").write_text(SPEC)
    table = tmp_path / "table.json"
    table.write_text(json.dumps(TABLE))
    store = open_store(db_url)
    spec = load_spec(project / "experiments" / "arms.yaml", project_dir=project)
    (result,) = queue.submit(store, [(spec, expand(spec))])
    home = tmp_path / "state"
    workers = start_workers(1, db_url, project, home, tracking=True,
                            command=stream_job_command(epoch_seconds=0.0, table=table),
                            extra=("--exit-when-empty",))
    assert [w.wait(timeout=300) for w in workers] == [0]
    stop_workers(workers)
    jobs = queue.jobs(store, sweep_id=result.sweep_id)
    by_arm: dict[str, list[dict]] = {}
    for j in jobs:
        by_arm.setdefault(j["label"].split("decoder")[-1], []).append(j)
    states = {arm: sorted(j["state"] for j in members) for arm, members in by_arm.items()}
    assert states["26"] == ["succeeded"] * 5
    assert states["4"] == ["succeeded"] * 5  # a tie keeps going to max
    assert states["14"] == ["cancelled"] * 3 + ["succeeded"] * 2  # stopped after min = 2
    for j in by_arm["14"]:
        if j["state"] == "cancelled":
            assert j["seed"] >= 2
            assert j["exit_reason"].startswith("adaptive seeds: arm stopped after 2 seeds: "
                                               "cannot beat the baseline by 0.1")
    made = looks(store, result.sweep_id)
    stop = [r for r in made if r["decision"] == STOP]
    assert [(r["label"], r["n_seeds"], r["cancelled"]) for r in stop] == [
        ("model_name=exp48_decoder14", 2, 3)]
    assert stop[0]["saved_hours"] is not None and stop[0]["saved_hours"] >= 0
    tie = [r["n_seeds"] for r in made if r["label"] == "model_name=exp48_decoder4"]
    spent = sum(r["alpha_spent"] for r in made if r["label"] == "model_name=exp48_decoder4")
    assert tie == [2, 3, 4] and spent == pytest.approx(0.05)  # the whole budget, never more

    from mlflow.tracking import MlflowClient

    from reports.arms import section_for, stopped_arms

    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    rows = stopped_arms(client, [client.get_experiment_by_name("regseg/arms").experiment_id])
    assert [(r["arm"], r["runs"], r["saved_runs"]) for r in rows] == [
        ("model_name=exp48_decoder14", 2, 3)]
    assert rows[0]["saved_hours"] == pytest.approx(stop[0]["saved_hours"], abs=1e-4)
    section = section_for(uri, ["regseg/arms"])
    assert "1 arm(s) stopped early: 3 run(s)" in section and "decoder14" in section
