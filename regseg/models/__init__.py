"""The RegSeg model zoo: bodies and decoders as data tables, one registry, weights loading,
complexity figures in the paper's convention.

``build_model("exp48_decoder26")`` is RegSeg; ``list_models()`` names every buildable model.

The names below are imported on first use (PEP 562), so a caller that needs only the torch-free
body table (``regseg.models.body_table``: the report's dilation rates) does not pay for torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "BODIES": "body_table", "BodySpec": "body_table",
    "count_gflops": "complexity", "count_params": "complexity", "field_of_view": "complexity",
    "describe": "describe", "dilation_rates": "describe",
    "DECODERS": "registry", "RegSeg": "registry", "build_model": "registry",
    "list_bodies": "registry", "list_competitors": "registry", "list_decoders": "registry",
    "list_models": "registry", "split_name": "registry",
    "LoadReport": "weights", "load_pretrained_backbone": "weights", "load_weights": "weights",
    "read_state_dict": "weights",
}

__all__ = sorted([*_HOME, "complexity"])


def __getattr__(name: str) -> Any:
    if name == "complexity":
        return importlib.import_module("regseg.models.complexity")
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'regseg.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"regseg.models.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
