"""The one MLflow param convention, shared by the worker's tracking and by the import of the
reference logs, so both kinds of runs compare in the UI and in reports (a leaf module)."""

from __future__ import annotations

import json
from typing import Any, Mapping


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A config dict as MLflow params: scalars as ``str``, None as "None", lists/tuples as JSON,
    nested mappings as dotted keys; sorted by key."""
    out: dict[str, str] = {}
    for key in sorted(config):
        value, name = config[key], f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_config(value, prefix=f"{name}."))
        elif isinstance(value, (list, tuple)):
            out[name] = json.dumps(list(value))
        else:
            out[name] = str(value)
    return out
