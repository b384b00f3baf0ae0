"""Hostile specs: random YAML trees over the spec schema and random bytes never end in a
traceback: the loader raises SpecError with one line naming the file (the CLI: exit 2, that line
on stderr) and nothing is queued, not even the valid spec submitted alongside."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import queue
from orchestrator.errors import SpecError
from orchestrator.queue.store import open_store
from orchestrator.specs import load_and_expand

pytestmark = pytest.mark.reliability

TOP_KEYS = ["name", "group", "description", "extends", "include", "base", "grid", "seeds",
            "repeats", "tags", "resources", "search", "seed_policy"]
FIELD_KEYS = ["model_name", "epochs", "lr", "batch_size", "dataset_dir", "train_crop_size",
              "seed", "aug_mode", "num_workers", "pretrained_path", "body", "decoder", "gpus"]
VALID = "name: ok\ngroup: test\ngrid:\n  lr: [0.01, 0.02]\n"

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["../../etc", "/etc/passwd", "~", "exp48_decoder26", ""]))
keys = st.one_of(st.sampled_from(TOP_KEYS + FIELD_KEYS), st.text(max_size=8))
trees = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)), max_leaves=20)
specs = st.dictionaries(st.sampled_from(TOP_KEYS), trees, max_size=6)


def _assert_one_line_naming(exc: SpecError, path: Path) -> None:
    message = str(exc)
    assert str(path) in message or path.name in message, message
    assert "\n" not in message.strip(), message


def _submit_pair(project: Path, db: str, text: bytes) -> None:
    """Submit a valid spec and the hostile one in one call, as `regseg queue a b` does."""
    good = project / "experiments" / "good.yaml"
    good.write_text(VALID)
    bad = project / "experiments" / "hostile.yaml"
    bad.write_bytes(text)
    store = open_store(db)
    try:
        batches = load_and_expand([good, bad], project_dir=project)
    except SpecError as exc:
        _assert_one_line_naming(exc, bad)
        assert queue.jobs(store) == []  # nothing of the valid spec either
        return
    queue.submit(store, batches)  # a valid random spec: it queues whole
    assert len(queue.jobs(store)) >= 2


@pytest.fixture(scope="module")
def fuzz_project(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "experiments").mkdir()
    return root, f"sqlite:///{root / 'queue.db'}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=specs)
def test_random_yaml_trees_over_the_schema(fuzz_project, tree):
    project, db = fuzz_project
    _submit_pair(project, db, yaml.safe_dump(tree, allow_unicode=True).encode())
    _clear(db)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_random_bytes(fuzz_project, data):
    project, db = fuzz_project
    _submit_pair(project, db, data)
    _clear(db)


def _clear(db: str) -> None:
    """Drop what a valid random spec queued, so the next example starts from an empty queue."""
    from sqlalchemy import delete

    from orchestrator.queue.schema import Job, JobAttempt, Sweep

    store = open_store(db)
    with store.session_scope() as s:
        for table in (JobAttempt, Job, Sweep):
            s.execute(delete(table))


def _hostile_files(root: Path) -> list[Path]:
    rng = random.Random(19)
    texts = {
        "bytes.yaml": rng.randbytes(200),
        "latin1.yaml": "name: caf\xe9\n".encode("latin-1"),
        "tabs.yaml": b"name: x\n\tgroup: y\n",
        "unclosed.yaml": b"name: x\ngrid: {lr: [0.1, \n",
        "deep.yaml": b"base: " + b"[" * 5000 + b"]" * 5000 + b"\n",
        "alias_bomb.yaml": b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a]\n"
                           b"c: &c [*b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c]\n",
        "scalar.yaml": b"42\n",
    }
    paths = []
    for name, text in texts.items():
        (root / name).write_bytes(text)
        paths.append(root / name)
    return paths


def test_the_cli_exits_2_with_one_line_and_queues_nothing(tmp_path: Path):
    project = tmp_path / "project"
    (project / "experiments").mkdir(parents=True)
    (project / "experiments" / "good.yaml").write_text(VALID)
    db = f"sqlite:///{tmp_path / 'queue.db'}"
    hostile = _hostile_files(project / "experiments")
    # one process checks every file (a CLI start is seconds on a busy CPU)
    script = ("import subprocess, sys, json\n"
              "out = []\n"
              "for f in sys.argv[2:]:\n"
              "    p = subprocess.run([sys.executable, '-m', 'regseg', 'queue',"
              " 'experiments/good.yaml', f, '--db', sys.argv[1]], capture_output=True,"
              " text=True)\n"
              "    out.append([f, p.returncode, p.stderr])\n"
              "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", script, db, *map(str, hostile)], cwd=project,
                          capture_output=True, text=True, timeout=300)
    import json

    for path, status, stderr in json.loads(done.stdout):
        assert status == 2, (path, status, stderr)
        assert "Traceback" not in stderr, (path, stderr)
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and Path(path).name in lines[0], (path, stderr)
    assert queue.jobs(open_store(db)) == []


@pytest.mark.parametrize("text", [b"\x01", b"name: x\x07\n", b"# pad\n" * 2000 + b"name: \x1b\n"],
                         ids=["alone", "in-a-value", "past-the-first-chunk"])
def test_a_control_character_is_one_line_spec_error(tmp_path: Path, text: bytes):
    # found by the fuzzer: the YAML reader's own error escaped the loader as a traceback
    path = tmp_path / "experiments" / "control.yaml"
    path.parent.mkdir()
    path.write_bytes(text)
    with pytest.raises(SpecError, match=r"control\.yaml: invalid YAML: expected printable") as e:
        load_and_expand([path], project_dir=tmp_path)
    _assert_one_line_naming(e.value, path)


def test_deep_nesting_is_one_line_spec_error(tmp_path: Path):
    # found by the hostile-file list: the YAML composer's RecursionError escaped as a traceback
    path = tmp_path / "experiments" / "deep.yaml"
    path.parent.mkdir()
    path.write_bytes(b"base: " + b"[" * 5000 + b"]" * 5000 + b"\n")
    with pytest.raises(SpecError, match=r"deep\.yaml: invalid YAML: .*nested deeper") as e:
        load_and_expand([path], project_dir=tmp_path)
    _assert_one_line_naming(e.value, path)
