"""The malformed-spec corpus (tests/data/bad_specs/): each is rejected with its expected message,
and a submission that contains one leaves the queue exactly as it was (both databases)."""

from __future__ import annotations

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
    project = BAD  # bad specs are confined to their own directory
    store = open_store(db_url)
    (tmp_path / "experiments").mkdir()
    good = lr_spec(tmp_path, 3, name="good")
    queue.submit(store, load_and_expand([good], project_dir=tmp_path))
    before = queue.jobs(store)
    for name in sorted(EXPECTED):
        other = lr_spec(tmp_path, 5, name="other")  # valid, would add 2 new runs
        with pytest.raises(SpecError):
            queue.submit(store, load_and_expand([other, BAD / name], project_dir=project))
        assert queue.jobs(store) == before, name
    # a good spec outside the project directory is itself rejected by confinement
    with pytest.raises(SpecError, match="leaves the project directory"):
        queue.submit(store, load_and_expand([tmp_path / "experiments" / "other.yaml"],
                                            project_dir=BAD))
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
