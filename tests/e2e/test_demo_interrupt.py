"""`regseg demo` interrupted with Ctrl-C and run again (issue 18): the interruption says what
happened and that a re-run resumes (exit 75), and the re-run reports how many runs it trained
now (the unfinished ones), not "0 trained now, 8 already known"."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator import queue
from orchestrator.queue.store import open_store

DEMO = [sys.executable, "-m", "regseg", "demo", "--train-images", "8", "--val-images", "4",
        "--workers", "2"]


def _env(out: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REGSEG_DB", "REGSEG_HOME", "MLFLOW_TRACKING_URI")}
    env.update(PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return env


@pytest.mark.slow
def _jobs_so_far(db: str) -> list[dict]:
    """The demo's jobs; none while its queue file or schema is still being created."""
    from orchestrator.errors import QueueError

    try:
        return queue.jobs(open_store(db, create=False))
    except QueueError:
        return []


def test_ctrl_c_says_a_rerun_resumes_and_the_rerun_counts_what_it_trained(tmp_path: Path):
    out = tmp_path / "demo_out"
    db = f"sqlite:///{out / '.regseg' / 'queue.db'}"
    # its own process group, like a terminal's foreground job: Ctrl-C reaches demo and worker
    demo = subprocess.Popen([*DEMO, "--out", str(out)], cwd=tmp_path, env=_env(out),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.time() + 400
        while time.time() < deadline and demo.poll() is None:
            if any(j["state"] == "succeeded" for j in _jobs_so_far(db)):
                break
            time.sleep(0.5)
        os.killpg(demo.pid, signal.SIGINT)
        stdout, stderr = demo.communicate(timeout=300)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    assert demo.returncode == 75, stdout + stderr
    assert "Interrupted: stopping the worker" in stderr
    assert re.search(r"interrupted: demo stopped with \d of 8 smoke runs trained; run `regseg "
                     r"demo` again to resume", stderr), stderr
    jobs = queue.jobs(open_store(db, create=False))
    left = sum(j["state"] != "succeeded" for j in jobs)
    assert 0 < left < 8, jobs
    assert all(j["state"] in ("queued", "succeeded") for j in jobs), jobs
    worker_log = (out / ".regseg" / "worker.log").read_text()
    assert worker_log.count("received; stopping") == 1, worker_log

    again = subprocess.run([*DEMO, "--out", str(out)], cwd=tmp_path, env=_env(out),
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Runs: 8 succeeded, 0 failed ({left} trained now, {8 - left} already done)" \
        in again.stdout, again.stdout
