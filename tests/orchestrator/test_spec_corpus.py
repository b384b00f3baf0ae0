"""The malformed-spec corpus (tests/data/bad_specs/): each is rejected with its expected message,
and a submission that contains one leaves the queue exactly as it was (both databases)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator import queue
from orchestrator.errors import SpecError
from orchestrator.queue.store import open_store
from orchestrator.specs import expand, load_and_expand, load_spec

from _orch_helpers import lr_spec

BAD = Path(__file__).resolve().parents[1] / "data" / "bad_specs"
EXPECTED: dict[str, list[str]] = yaml.safe_load((BAD / "expected.yaml").read_text())


def test_corpus_is_complete():
    files = sorted(p.name for p in BAD.glob("*.yaml") if p.name != "expected.yaml")
    assert files == sorted(EXPECTED)
    assert len(files) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_spec_is_rejected_with_file_key_and_reason(name: str):
    with pytest.raises(SpecError) as info:
        expand(load_spec(BAD / name, project_dir=BAD))
    message = str(info.value)
    assert str(BAD) in message or name in message
    for fragment in EXPECTED[name]:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert info.value.exit_code == 2


def test_no_bad_spec_changes_the_queue(db_url: str, tmp_path: Path):
    # a copy of the corpus is the project: the valid spec lives inside it, so each submission is
    # refused for its bad spec (matched below), not for leaving the project directory
    project = tmp_path / "corpus"
    shutil.copytree(BAD, project)
    store = open_store(db_url)
    (tmp_path / "experiments").mkdir()
    good = lr_spec(tmp_path, 3, name="good")
    queue.submit(store, load_and_expand([good], project_dir=tmp_path))
    before = queue.jobs(store)
    (project / "experiments").mkdir()
    other = lr_spec(project, 5, name="other")  # valid, would add 2 new runs
    assert len(load_and_expand([other], project_dir=project)[0][1]) == 5
    for name in sorted(EXPECTED):
        with pytest.raises(SpecError, match=re.escape(EXPECTED[name][0])):
            queue.submit(store, load_and_expand([other, project / name], project_dir=project))
        assert queue.jobs(store) == before, name
    # a good spec outside the project directory is itself rejected by confinement
    with pytest.raises(SpecError, match="leaves the project directory"):
        queue.submit(store, load_and_expand([good], project_dir=BAD))
    assert queue.jobs(store) == before


def test_cli_exits_2_and_queues_nothing(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'q.db'}"
    (tmp_path / "experiments").mkdir()
    good = lr_spec(tmp_path, 2, name="good")
    bad = tmp_path / "experiments" / "bad.yaml"
    bad.write_text((BAD / "unknown_base_field.yaml").read_text())
    cmd = [sys.executable, "-m", "regseg", "queue", str(good), str(bad), "--db", db]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "bad.yaml, line 3: base.epoch: unknown TrainConfig field (did you mean 'epochs'?)" \
        in out.stderr
    assert queue.jobs(open_store(db)) == []
