"""Spec input that must end in one clear line (exit 2), never a traceback: files that are not
UTF-8 text, and names or groups that are not plain identifiers (they become experiment names)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import SpecError
from orchestrator.specs import load_spec


def _queue(spec: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "regseg", "queue", str(spec), "--dry-run",
                           "--db", f"sqlite:///{cwd / 'q.db'}"], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("content, fragment", [
    ("name: s\n".encode("utf-16"), "expected UTF-8 YAML text"),
    (bytes(range(256)) * 4, "expected UTF-8 YAML text"),
    (b"name: s\x00\ngrid: {}\n", "got a binary file (NUL byte"),
])
def test_a_spec_that_is_not_utf8_text_is_one_line_exit_2(project: Path, content: bytes,
                                                         fragment: str):
    spec = project / "experiments" / "bad.yaml"
    spec.write_bytes(content)
    out = _queue(spec, project)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(spec) in lines[0] and fragment in lines[0]


@pytest.mark.parametrize("key, value", [
    ("name", "../../escape"), ("group", "../../escape"), ("name", "a b"), ("group", "x/y"),
    ("group", ".hidden"), ("name", "a..b"),
])
def test_names_and_groups_are_plain_identifiers(project: Path, key: str, value: str):
    spec = project / "experiments" / "s.yaml"
    spec.write_text(f"{key}: {value!r}\n")
    with pytest.raises(SpecError, match=f"{key}: expected a plain identifier"):
        load_spec(spec, project_dir=project)


def test_a_file_name_that_is_no_identifier_needs_a_name(project: Path):
    spec = project / "experiments" / "my spec.yaml"
    spec.write_text("base: {epochs: 1}\n")
    with pytest.raises(SpecError, match="defaults to its file name, 'my spec'"):
        load_spec(spec, project_dir=project)
    spec.write_text("name: my-spec\nbase: {epochs: 1}\n")
    assert load_spec(spec, project_dir=project).name == "my-spec"


def test_identifiers_that_are_fine(project: Path):
    spec = project / "experiments" / "ok.yaml"
    spec.write_text("name: backbone_v2.1\ngroup: Decoder-14\n")
    loaded = load_spec(spec, project_dir=project)
    assert (loaded.name, loaded.group) == ("backbone_v2.1", "Decoder-14")
