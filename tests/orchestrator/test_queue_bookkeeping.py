"""Queue bookkeeping seen from the command line (issue 18): a re-queue that adds nothing makes
no sweep, `cancel --sweep` prints a count (ids with --verbose), and a submission of more than
1,000 new runs asks first on a terminal (--yes skips; off a terminal nothing asks)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func
from sqlalchemy import select as sql_select

from orchestrator import queue
from orchestrator.queue.schema import Sweep
from orchestrator.queue.store import open_store

from _orch_helpers import lr_spec


def _regseg(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "regseg", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300, stdin=subprocess.DEVNULL)


def _sweeps(db: str) -> int:
    with open_store(db, create=False).session_scope() as session:
        return session.execute(sql_select(func.count()).select_from(Sweep)).scalar_one()


def test_a_requeue_that_adds_nothing_creates_no_sweep(tmp_path: Path):
    (tmp_path / "experiments").mkdir()
    spec = lr_spec(tmp_path, 3, name="again")
    db = f"sqlite:///{tmp_path / 'q.db'}"
    first = _regseg("queue", str(spec), "--db", db, cwd=tmp_path)
    assert "sweep 1: queued 3 new" in first.stdout, first.stderr
    again = _regseg("queue", str(spec), "--db", db, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "nothing new to queue (no sweep created): 0 new, 3 already known" in again.stdout
    assert _sweeps(db) == 1
    forced = _regseg("queue", str(spec), "--db", db, "--force", "--format", "json", cwd=tmp_path)
    assert json.loads(forced.stdout)["sweeps"][0]["sweep"] == 2 and _sweeps(db) == 2


def test_cancel_sweep_prints_a_count_and_ids_only_when_verbose(tmp_path: Path):
    (tmp_path / "experiments").mkdir()
    db = f"sqlite:///{tmp_path / 'q.db'}"
    _regseg("queue", str(lr_spec(tmp_path, 40, name="a")), "--db", db, cwd=tmp_path)
    other = tmp_path / "experiments" / "b.yaml"
    other.write_text("name: b\ngroup: test\ngrid:\n  lr: [0.5, 0.6, 0.7, 0.8, 0.9]\n")
    _regseg("queue", str(other), "--db", db, cwd=tmp_path)
    quiet = _regseg("cancel", "--sweep", "1", "--db", db, cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "cancelled 40 job(s)"
    queue.retry(open_store(db, create=False), job_ids=[3, 4, 5, 9])
    verbose = _regseg("cancel", "--sweep", "1", "--verbose", "--db", db, cwd=tmp_path)
    assert verbose.stdout.strip() == "cancelled 4 job(s): 3-5, 9"
    as_json = _regseg("cancel", "--sweep", "2", "--db", db, "--format", "json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {"cancelled": 5, "job_ids": [41, 42, 43, 44, 45]}


def _on_a_terminal(args: list[str], answer: str, cwd: Path) -> tuple[int, str]:
    """Run `regseg ARGS` with a pseudo-terminal as stdin/stdout, answer the prompt."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "regseg", *args], cwd=cwd, stdin=follower,
                            stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    output, answered, deadline = b"", False, time.time() + 300
    while time.time() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        if not answered and b"?" in output:
            os.write(leader, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=60)
    os.close(leader)
    return proc.returncode, output.decode(errors="replace")


def test_more_than_1000_new_runs_ask_first_on_a_terminal(tmp_path: Path):
    (tmp_path / "experiments").mkdir()
    spec = lr_spec(tmp_path, 1001, name="big")
    db = f"sqlite:///{tmp_path / 'q.db'}"
    code, out = _on_a_terminal(["queue", str(spec), "--db", db], "n", tmp_path)
    assert code == 2, out
    assert "Queue 1,001 new runs?" in out and "nothing queued" in out
    assert queue.jobs(open_store(db, create=False)) == [] and _sweeps(db) == 0
    code, out = _on_a_terminal(["queue", str(spec), "--db", db, "--yes"], "n", tmp_path)
    assert code == 0 and "Queue" not in out.split("big:")[0], out
    assert "queued 1001 new" in out and len(queue.jobs(open_store(db, create=False))) == 1001


def test_off_a_terminal_nothing_asks(tmp_path: Path):
    (tmp_path / "experiments").mkdir()
    db = f"sqlite:///{tmp_path / 'q.db'}"
    done = _regseg("queue", str(lr_spec(tmp_path, 1001, name="big")), "--db", db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "queued 1001 new" in done.stdout and "?" not in done.stdout
