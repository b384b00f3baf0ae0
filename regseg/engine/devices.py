"""Device names and autocast: the small helpers every engine module shares."""

from __future__ import annotations

import contextlib

import torch

__all__ = ["AMP_DTYPES", "autocast_context", "resolve_device"]

AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``'auto'`` -> ``cuda`` when available, else ``cpu``; anything else as given."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_context(device: torch.device, amp: str | None):
    """``torch.autocast`` in ``amp`` (``'fp16'`` | ``'bf16'``) on ``device``, or a no-op for
    None."""
    if amp is None:
        return contextlib.nullcontext()
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp: expected one of {sorted(AMP_DTYPES)} or None, got {amp!r}")
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[amp])
