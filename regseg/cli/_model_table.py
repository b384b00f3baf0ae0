"""The rows of `regseg models`, cached on disk per model, input size and code version.

Counting GFLOPs builds each model and traces it at 1024x2048: about a quarter of a second per
model, 101 models. The figures only change with the model code or the libraries, so they are
kept in ``<cache>/models-<fingerprint>.json`` where the fingerprint covers the regseg and torch
versions and the source of ``regseg/models/``. A warm call reads that file and never imports
torch. The cache directory is ``$REGSEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/regseg``, else
``~/.cache/regseg``; a cache that cannot be read or written is recomputed, never an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

# torch-free: regseg.models imports its names on first use
from regseg.models.complexity_cache import cache_dir  # noqa: F401  (tests, callers)
from regseg.models.complexity_cache import code_fingerprint as fingerprint

#: Fields of a row taken from ``regseg.models.describe`` (the rest are counted).
DESCRIBED = ("body", "decoder", "field_of_view", "dilation_rates")


class ModelTable:
    """The cached names and rows of one code version; :meth:`save` writes what was added."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / f"models-{fingerprint()}.json"
        self._data: dict[str, Any] = {"names": None, "rows": {}}
        self._dirty = False
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict) and isinstance(loaded.get("rows"), dict):
                self._data = loaded
        except (OSError, ValueError):
            pass

    def names(self) -> list[str]:
        """Every model name (``regseg.models.list_models()``, cached)."""
        if self._data.get("names") is None:
            from regseg.models import list_models

            self._data["names"] = list(list_models())
            self._dirty = True
        return list(self._data["names"])

    def check_names(self, names: list[str]) -> None:
        """Raise UnknownNameError (listing the valid names) for a name that is no model."""
        known = set(self.names())
        for name in names:
            if name not in known:
                from regseg.models import split_name

                split_name(name)  # raises with the registry's own message

    def row(self, name: str, input_size: tuple[int, int]) -> dict[str, Any]:
        """name, DESCRIBED fields, params and GFLOPs (unrounded) at 1x3xHxW."""
        key = f"{name}@{input_size[0]}x{input_size[1]}"
        cached = self._data["rows"].get(key)
        if cached is None:
            cached = _count(name, input_size)
            self._data["rows"][key] = cached
            self._dirty = True
        return dict(cached)

    def rows(self, names: list[str], input_size: tuple[int, int], *,
             on_row: Callable[[], None] = lambda: None) -> list[dict[str, Any]]:
        out = []
        for name in names:
            out.append(self.row(name, input_size))
            on_row()
        return out

    def missing(self, names: list[str], input_size: tuple[int, int]) -> int:
        """How many of ``names`` would be counted (not in the cache)."""
        return sum(f"{n}@{input_size[0]}x{input_size[1]}" not in self._data["rows"] for n in names)

    def save(self) -> None:
        """Write the cache atomically when something was added (errors are ignored)."""
        if not self._dirty:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self._data, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
            self._dirty = False
        except OSError:
            tmp.unlink(missing_ok=True)


def _count(name: str, input_size: tuple[int, int]) -> dict[str, Any]:
    """One model's row, built on the meta device (no weights initialised)."""
    import torch

    from regseg.models import build_model, describe
    from regseg.models.complexity import count_gflops, count_params

    info = describe(name)
    with torch.device("meta"):
        model = build_model(name)
    row = {"name": name, **{k: info[k] for k in DESCRIBED}}
    row.update(params=count_params(model), gflops=count_gflops(model, input_size=input_size))
    return row
