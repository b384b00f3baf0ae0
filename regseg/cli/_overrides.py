"""``--set key=value`` parsing for the commands that take overrides (train, eval, queue)."""

from __future__ import annotations

from typing import Any, Sequence

from regseg.errors import ConfigError


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``["key=value", ...]`` (CLI ``--set``) into a dict; values are YAML-typed.

    ``lr=0.01`` -> 0.01, ``train_crop_size=[512,1024]`` -> [512, 1024], ``pretrained_path=``
    -> None. Raises ConfigError on an item without ``=`` or with an empty key.
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set: expected key=value, got {item!r}")
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            out[key] = raw
    return out
