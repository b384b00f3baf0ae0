"""One exit-status rule for every command (regseg/exit_codes.py, README "Exit status"):
0 success, 1 a runtime failure, 2 bad usage or bad input (nothing changed), 75 interrupted and
resumable. Every `regseg` command is tried with --help (0) and with one bad input that reaches
the command itself (2); a command added without a bad-input case fails the coverage test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import typer

from regseg.cli import app, main

MISSING = "no/such/file"
MISSING_DB = "sqlite:///{tmp}/no/such/dir/queue.db"  # absolute: stores are cached per URL

#: command path -> arguments that are bad input for it (each must exit 2, changing nothing).
BAD_INPUT: dict[str, list[str]] = {
    "models": ["-m", "exp48_decoder99"],
    "benchmark": ["--model", "exp48_decoder99"],
    "train": ["--config", f"{MISSING}.yaml", "--out", "run"],
    "eval": ["--weights", f"{MISSING}.pt"],
    "predict": [f"{MISSING}.png", "--model", "exp48_decoder26", "--weights", f"{MISSING}.pt",
                "--out", "pred"],
    "make-synthetic": ["data", "--format", "xml"],
    "make-half-res": [MISSING, "half"],
    "queue": [f"{MISSING}.yaml"],
    "status": ["--db", MISSING_DB],
    "cancel": ["1", "--db", MISSING_DB],
    "retry": ["1", "--db", MISSING_DB],
    "worker": ["--gpus", "99", "--db", MISSING_DB],
    "search": [f"{MISSING}.yaml", "--db", MISSING_DB],
    "ui": ["--port", "notaport"],
    "report": ["--format", "xml"],
    "import-logs": [MISSING],
    "diff": ["0" * 32, "1" * 32],
    "demo": ["--workers", "0"],
    "slurm submit": ["--tasks", "0"],
    "slurm status": ["--format", "xml"],
    "slurm cancel": ["--format", "xml"],
}


def _commands(group, prefix: str = "") -> list[str]:
    names = []
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):  # a group (typer ships its own click)
            names += _commands(command, f"{prefix}{name} ")
        elif not command.hidden:
            names.append(f"{prefix}{name}")
    return names


COMMANDS = _commands(typer.main.get_command(app))


def _run(capsys, args: list[str]) -> tuple[int, str]:
    argv = sys.argv
    sys.argv = ["regseg", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project directory and state; nothing reads the developer's own queue or store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REGSEG_HOME", str(tmp_path / ".regseg"))
    monkeypatch.setenv("REGSEG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("REGSEG_DB", raising=False)
    return tmp_path


def test_every_command_has_a_bad_input_case():
    assert sorted(BAD_INPUT) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_exits_0(capsys, command: str):
    code, out = _run(capsys, [*command.split(), "--help"])
    assert code == 0, out
    assert "Usage:" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_input_exits_2_with_one_error_line(capsys, command: str, isolated: Path):
    before = sorted(p.relative_to(isolated) for p in isolated.rglob("*"))
    args = [a.format(tmp=isolated) for a in BAD_INPUT[command]]
    code, out = _run(capsys, [*command.split(), *args])
    assert code == 2, out
    assert "Traceback" not in out and out.strip()
    after = sorted(p.relative_to(isolated) for p in isolated.rglob("*"))
    assert after == before, "bad input changed the project directory"


def test_an_unknown_option_is_a_usage_error(capsys):
    code, out = _run(capsys, ["status", "--no-such-option"])
    assert code == 2 and "No such option" in out
