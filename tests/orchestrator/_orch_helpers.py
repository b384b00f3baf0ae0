"""Helpers of the orchestrator tests: spec writers, the quick-job test seam, worker argv."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
QUICK_JOB = HERE / "quick_job.py"
SMOKE = HERE.parents[1] / "experiments" / "smoke.yaml"


def smoke_spec(name: str, group: str, *, grid: dict | None = None, **base) -> str:
    """A spec in experiments/smoke.yaml's tiny CPU setting (synthetic 64x128), named ``name`` in
    ``group``, with ``base`` overrides and ``grid`` (none: a single run, no seeds)."""
    doc = {"name": name, "group": group,
           "base": {**yaml.safe_load(SMOKE.read_text())["base"], **base}}
    if grid:
        doc["grid"] = grid
    return yaml.safe_dump(doc, sort_keys=False)


def write_spec(project: Path, name: str, text: str) -> Path:
    path = project / "experiments" / name
    path.write_text(text)
    return path


def lr_spec(project: Path, n: int, *, name: str = "many") -> Path:
    """A spec of n runs (an lr axis) - the runs are never trained, quick jobs stand in."""
    lrs = ", ".join(f"{0.001 * (i + 1):.6f}" for i in range(n))
    return write_spec(project, f"{name}.yaml", f"name: {name}\ngroup: test\ngrid:\n  lr: [{lrs}]\n")


def quick_job_env(tmp_path: Path, *, steps: int = 0, step_seconds: float = 0.0,
                  exit_code: int = 0, kill_self: bool = False) -> dict[str, str]:
    """Environment for worker processes whose jobs are quick_job.py runs; the job command rides
    along under QUICK_JOB_ARGV for :func:`worker_argv` (the worker itself reads no such var)."""
    argv = ["{python}", str(QUICK_JOB), "--out", "{out}", "--job-id", "{job_id}",
            "--attempt", "{attempt}", "--db", "{db}", "--worker-id", "{worker_id}",
            "--worker-pid", "{worker_pid}", "--ledger", str(tmp_path / "ledger.txt"),
            "--steps", str(steps), "--step-seconds", str(step_seconds),
            "--exit-code", str(exit_code)] + (["--kill-self"] if kill_self else [])
    env = {k: v for k, v in os.environ.items() if k not in ("REGSEG_DB", "MLFLOW_TRACKING_URI")}
    env.update({"REGSEG_HOME": str(tmp_path / "state"), "QUICK_JOB_ARGV": json.dumps(argv),
                "PYTHONUNBUFFERED": "1"})
    return env


def worker_argv(db_url: str, *, slots: int = 1, lease: float = 30, extra: tuple = (),
                env: dict | None = None) -> list[str]:
    """`regseg worker` on CPU slots; with ``env`` from :func:`quick_job_env`, running quick jobs."""
    command = ["--job-command", env["QUICK_JOB_ARGV"]] if env and "QUICK_JOB_ARGV" in env else []
    return [sys.executable, "-m", "regseg", "worker", "--db", db_url, "--gpus", "none",
            "--cpu-slots", str(slots), "--lease-seconds", str(lease), "--poll-seconds", "0.1",
            "--no-tracking", *command, *extra]
