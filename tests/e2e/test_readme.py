"""Every command shown in README.md is exercised here.

- The Quickstart has exactly the two commands, and `.ci/run` runs the test one verbatim.
- Every `regseg ...` line parses against the real CLI (subcommand and options exist).
- The lines that can run on this machine run for real, in order, in a scratch project; the rest
  (a real Cityscapes copy, GPUs, a remote PostgreSQL, the long-running UI server) are parsed only
  and listed in NOT_RUNNABLE with the reason. `make demo` is run by tests/e2e/test_demo.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from regseg.cli import app

from tests.e2e.readme_commands import readme_commands

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
COMMANDS = readme_commands(README)

# README lines (by their text prefix) that cannot run here, and why. Each is still parsed.
NOT_RUNNABLE = {
    "make demo": "runs in tests/e2e/test_demo.py (regseg demo), the venv part is CI itself",
    "make test": "this is the command running these tests",
    "CITYSCAPES_DATASET=": "needs the real Cityscapes download",
    "regseg train --config experiments/configs/regseg_cityscapes.yaml": "needs real Cityscapes",
    "regseg make-half-res cityscapes": "needs the real Cityscapes download",
    "regseg worker": "trains paper-size runs on real Cityscapes with GPUs",
    "REGSEG_DB=": "needs a remote PostgreSQL and GPUs",
    "regseg ui": "a long-running server; tests/tracking tests `regseg ui` itself",
    "createdb ": "needs a remote PostgreSQL server",
    "mlflow server": "a long-running server; tests/orchestrator/test_multi_host.py runs one",
    "MLFLOW_TRACKING_URI=http": "needs a remote tracking server and GPUs",
    "regseg slurm": "needs a SLURM cluster; tests/orchestrator/test_slurm.py runs a real one",
}


def _runnable(cmd) -> bool:
    return not any(cmd.text.startswith(prefix) for prefix in NOT_RUNNABLE)


def test_quickstart_is_exactly_two_commands():
    text = README.read_text()
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    quick_cmds = readme_commands_from_text(quick)
    assert quick_cmds == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert "\ndemo:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def readme_commands_from_text(text: str) -> list[str]:
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"readme-part-{os.getpid()}.md"
    tmp.write_text(text)
    try:
        return [c.text for c in readme_commands(tmp)]
    finally:
        tmp.unlink()


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c.argv[:1] == ("regseg",)],
                         ids=lambda c: f"L{c.line}")
def test_regseg_command_parses(cmd):
    group = typer.main.get_command(app)
    ctx = group.make_context("regseg", [], resilient_parsing=True)
    name, *rest = cmd.argv[1:]
    sub = group.get_command(ctx, name)
    assert sub is not None, f"README line {cmd.line}: unknown command {name!r}"
    sub.make_context(name, list(rest), parent=ctx)  # raises click.UsageError on a bad option


def test_config_files_named_by_readme_commands_are_valid_train_configs():
    from regseg.config import TrainConfig

    named = [c.argv[c.argv.index("--config") + 1] for c in COMMANDS
             if c.argv[:2] == ("regseg", "train") and "--config" in c.argv]
    assert named
    for path in named:
        TrainConfig.from_file(ROOT / path)  # raises ConfigError naming the field


def test_every_command_is_runnable_or_explained():
    for cmd in COMMANDS:
        if cmd.argv[:1] == ("regseg",) or not _runnable(cmd):
            continue
        pytest.fail(f"README line {cmd.line}: {cmd.text!r} is neither run nor explained")


@pytest.mark.slow
def test_runnable_readme_commands_run(tmp_path):
    """Run the runnable README lines in order in a scratch copy of the project."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "experiments", project / "experiments")
    shutil.copytree(ROOT / "tests" / "data" / "legacy_logs", project / "tests/data/legacy_logs")
    env = dict(os.environ, REGSEG_HOME=str(project / ".regseg"), PYTHONUNBUFFERED="1")
    bindir = Path(sys.executable).parent
    ran = []
    for cmd in COMMANDS:
        if cmd.argv[:1] != ("regseg",) or not _runnable(cmd):
            continue
        argv = [str(bindir / "regseg"), *cmd.argv[1:]]
        proc = subprocess.run(argv, cwd=project, env={**env, **cmd.env}, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, (f"README line {cmd.line}: {cmd.text}\n"
                                      f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}")
        ran.append(cmd.text)
    assert (project / "AblationStudies.md").exists()
    assert (project / "paper_tables.md").read_text().count("75.75") >= 1
    assert len(ran) >= 10


def test_configuration_reference_lists_every_trainconfig_field_with_its_default():
    from regseg.config import TrainConfig

    section = README.read_text().split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 3:
            rows[cells[0]] = cells[1]
    fields = TrainConfig.model_fields
    assert set(rows) == set(fields)
    for name, field in fields.items():
        assert rows[name] == repr(field.default), name
