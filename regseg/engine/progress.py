"""Progress bars for epochs and evaluation (tqdm), shown only on a terminal unless forced."""

from __future__ import annotations

import sys
from typing import Iterable, TypeVar

T = TypeVar("T")

__all__ = ["progress_enabled", "track"]


def progress_enabled(option: bool | None) -> bool:
    """``option`` if given, else whether stderr is a terminal."""
    if option is not None:
        return bool(option)
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def track(iterable: Iterable[T], *, total: int | None, desc: str, enabled: bool) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar on stderr when ``enabled``; otherwise return it unchanged."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr)
