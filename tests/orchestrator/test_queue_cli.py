"""`regseg queue | status | cancel | retry` through the real command line, on both databases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _orch_helpers import lr_spec


def _regseg(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "regseg", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_queue_status_cancel_retry_cli(db_url: str, tmp_path: Path):
    (tmp_path / "experiments").mkdir()
    spec = lr_spec(tmp_path, 3, name="cli")
    dry = _regseg("queue", str(spec), "--dry-run", "--db", db_url, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "lr=0.001" in dry.stdout and "would queue 3 new, 0 already known" in dry.stdout
    first = _regseg("queue", str(spec), "--db", db_url, "--priority", "2", cwd=tmp_path)
    assert "sweep 1: queued 3 new, 0 already known" in first.stdout, first.stderr
    again = _regseg("queue", str(spec), "--db", db_url, "--format", "json", cwd=tmp_path)
    doc = json.loads(again.stdout)
    assert doc["sweeps"] == [{"spec": "cli", "sweep": None, "runs": 3, "new": 0, "known": 3}]
    assert {r["status"] for r in doc["runs"]} == {"known"}
    cancel = _regseg("cancel", "2", "--db", db_url, "--format", "json", cwd=tmp_path)
    assert json.loads(cancel.stdout) == {"cancelled": 1, "job_ids": [2]}
    retry = _regseg("retry", "2", "--db", db_url, "--format", "json", cwd=tmp_path)
    assert json.loads(retry.stdout) == {"requeued": 1, "job_ids": [2]}
    status = _regseg("status", "--db", db_url, "--format", "json", cwd=tmp_path)
    doc = json.loads(status.stdout)
    assert doc["counts"]["queued"] == 3
    assert [(j["id"], j["state"], j["priority"]) for j in doc["jobs"]] == [
        (1, "queued", 2), (2, "queued", 2), (3, "queued", 2)]
    table = _regseg("status", "--sweep", "1", "--db", db_url, cwd=tmp_path)
    assert "3 queued, 0 running" in table.stdout
    missing = _regseg("cancel", "99", "--db", db_url, cwd=tmp_path)
    assert missing.returncode == 1 and "unknown job id(s): [99]" in missing.stderr


def test_unknown_format_is_rejected_before_anything_is_queued(db_url: str, tmp_path: Path):
    (tmp_path / "experiments").mkdir()
    spec = lr_spec(tmp_path, 2, name="fmt")
    bad = _regseg("queue", str(spec), "--db", db_url, "--format", "yaml", cwd=tmp_path)
    assert bad.returncode == 2 and "--format" in bad.stderr and "'yaml'" in bad.stderr
    status = _regseg("status", "--db", db_url, "--format", "json", cwd=tmp_path)
    if status.returncode == 2:  # no queue was even created
        assert "only `regseg queue` and `regseg worker` create" in status.stderr
    else:
        assert json.loads(status.stdout)["jobs"] == []  # nothing was queued
    bad = _regseg("status", "--db", db_url, "--format", "yaml", cwd=tmp_path)
    assert bad.returncode == 2 and "--format" in bad.stderr
