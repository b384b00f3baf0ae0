"""Progress bars for epochs, evaluation and dataset writing (rich, the one progress library of
the project, also behind the CLI's bars), on stderr, shown only on a terminal unless forced."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

__all__ = ["progress_enabled", "track"]


def progress_enabled(option: bool | None) -> bool:
    """``option`` if given, else whether stderr is a terminal."""
    if option is not None:
        return bool(option)
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def track(iterable: Iterable[T], *, total: int | None, desc: str, enabled: bool,
          transient: bool = True, unit: str = "it") -> Iterable[T]:
    """Wrap ``iterable`` in a rich bar on stderr when ``enabled``; otherwise return it unchanged.

    ``transient``: the bar disappears when the loop ends (epochs, evaluation) or stays as a
    record (one-off jobs such as writing a dataset). The bar is stopped however the loop ends,
    so an exception or Ctrl-C never leaves it half drawn.
    """
    if not enabled:
        return iterable
    return _bar(iterable, total=total, desc=desc, transient=transient, unit=unit)


def _bar(iterable: Iterable[T], *, total: int | None, desc: str, transient: bool,
         unit: str) -> Iterator[T]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn(unit), TimeElapsedColumn(), TimeRemainingColumn())
    console = Console(stderr=True)
    # Off a terminal (a forced bar, a log file) rich draws nothing live; keep the final state
    # so the log still says how far the loop got.
    transient = transient and console.is_terminal
    with Progress(*columns, console=console, transient=transient) as bar:
        task = bar.add_task(desc, total=total)
        for item in iterable:
            yield item
            bar.advance(task)
