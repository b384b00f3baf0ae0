"""`--help` reads as plain text (issue 18): no docstring markup such as ``x`` printed verbatim,
and no option default cut off at 80 columns; every default a command declares is shown whole."""

from __future__ import annotations

import sys

import pytest
import typer

from regseg.cli import app, main

from tests.cli.test_exit_codes import COMMANDS


def _help(capsys, monkeypatch, command: str) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys, "argv", ["regseg", *command.split(), "--help"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code in (0, None)
    return capsys.readouterr().out


def _params(command: str):
    node = typer.main.get_command(app)
    for part in command.split():
        node = node.commands[part]
    return node.params


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_plain_text_with_every_default_whole(capsys, monkeypatch, command: str):
    text = _help(capsys, monkeypatch, command)
    assert "``" not in text
    assert "…" not in text and "╭" not in text  # no rich panel, nothing elided
    assert all(len(line) <= 80 for line in text.splitlines()), text
    flat = " ".join(text.split())  # wrapped lines joined
    for param in _params(command):
        default = param.default
        if getattr(param, "show_default", None) is False or default in (None, (), []) \
                or isinstance(default, bool):  # a flag shows its name, not True or False
            continue
        if isinstance(default, (tuple, list)):
            default = ", ".join(str(d) for d in default)
        assert f"default: {default}" in flat, (param.name, flat)
