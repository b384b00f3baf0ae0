"""Extract the shell commands shown in README.md so tests can exercise every one of them.

A command is a line inside a ```bash fenced block (comments and blank lines skipped; a trailing
backslash joins lines). Environment assignments in front (``REGSEG_DB=... regseg status``) are
split off.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^```(\w*)\s*$")
ENV_ASSIGN = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass(frozen=True)
class Command:
    line: int
    text: str
    env: dict[str, str] = field(default_factory=dict)
    argv: tuple[str, ...] = ()


def _joined_lines(block: list[tuple[int, str]]):
    start, buf = None, ""
    for lineno, raw in block:
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        start = start if buf else lineno
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        yield start, buf + stripped
        buf = ""


def readme_commands(readme: Path) -> list[Command]:
    """Every command line of every ```bash block of ``readme``, in order."""
    commands: list[Command] = []
    in_block, shell, block = False, False, []
    for lineno, raw in enumerate(readme.read_text().splitlines(), start=1):
        fence = FENCE.match(raw.strip())
        if fence and not in_block:
            in_block, shell, block = True, fence.group(1) in ("bash", "sh", "shell"), []
        elif fence:
            in_block = False
            if shell:
                commands.extend(_commands(block))
        elif in_block:
            block.append((lineno, raw))
    return commands


def _commands(block: list[tuple[int, str]]) -> list[Command]:
    out = []
    for start, text in _joined_lines(block):
        words = shlex.split(text, comments=True)
        env = {}
        while words and ENV_ASSIGN.match(words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        out.append(Command(start, text, env, tuple(words)))
    return out
