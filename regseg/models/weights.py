"""Loading released / saved weights into zoo models, safely (``weights_only=True``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Mapping

import torch
from torch import nn

from regseg.errors import CheckpointError, WeightsMismatchError

_SHOW = 10  # keys listed per category in error messages


@dataclass
class LoadReport:
    """What ``load_weights`` did: keys absent from the checkpoint, keys only in the checkpoint,
    and keys whose checkpoint shape differed (``key: checkpoint shape -> model shape``), which
    kept the model's own (fresh) initialisation."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    reinitialised: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.unexpected or self.reinitialised)


def read_state_dict(source: str | PathLike | Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """A state dict from a path (``{"model": sd}`` or a bare sd) or from such an object already
    in memory. Files are read with ``torch.load(weights_only=True, map_location="cpu")``;
    an unreadable file (missing, corrupt, or pickling arbitrary objects) raises CheckpointError."""
    obj = source
    if not isinstance(source, Mapping):
        try:
            obj = torch.load(source, map_location="cpu", weights_only=True)
        except FileNotFoundError as exc:
            raise CheckpointError(f"checkpoint: expected an existing file, got {str(source)!r}") \
                from exc
        except Exception as exc:  # noqa: BLE001 - unpickling refused / corrupt file
            raise CheckpointError(f"checkpoint {str(source)!r}: not a weights-only torch file "
                                  f"({type(exc).__name__}: {_first_line(exc)})") \
                from exc
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsMismatchError(
            f"checkpoint {source if not isinstance(source, Mapping) else '<mapping>'}: expected a "
            f"state dict or {{'model': state_dict}}, got {type(obj).__name__}")
    return dict(obj)


def _first_line(exc: Exception) -> str:
    """The first line of the error's message, at most 200 characters ('' for an empty one, as
    EOFError from an empty file has)."""
    return (str(exc).splitlines() or [""])[0][:200]


def _fmt(keys: list[str]) -> str:
    more = f" ... (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return ", ".join(keys[:_SHOW]) + more


def load_weights(model: nn.Module, path: str | PathLike | Mapping[str, Any], *, strict: bool = True,
                 num_classes_change: bool = False) -> LoadReport:
    """Load a checkpoint into ``model`` in place and return a ``LoadReport``.

    ``strict``: any missing, unexpected or wrongly-shaped key raises WeightsMismatchError naming
    them (nothing is loaded then). ``num_classes_change``: the reference's change_num_classes --
    tensors whose shape differs (the classifier, when the class count differs, e.g. Cityscapes
    -> CamVid) keep the model's fresh initialisation and every other tensor is loaded.
    With ``strict=False`` only keys present in both with equal shapes are loaded.
    """
    ckpt = read_state_dict(path)
    own = model.state_dict()
    report = LoadReport(
        missing=[k for k in own if k not in ckpt],
        unexpected=[k for k in ckpt if k not in own],
        reinitialised=[f"{k}: {tuple(ckpt[k].shape)} -> {tuple(v.shape)}"
                       for k, v in own.items() if k in ckpt and ckpt[k].shape != v.shape])
    shape_problem = report.reinitialised and not num_classes_change
    if strict and (report.missing or report.unexpected or shape_problem):
        parts = [f"{label} ({len(keys)}): {_fmt(keys)}" for label, keys in
                 (("missing", report.missing), ("unexpected", report.unexpected),
                  ("wrong shape", report.reinitialised if shape_problem else [])) if keys]
        raise WeightsMismatchError(
            f"checkpoint {path if not isinstance(path, Mapping) else '<mapping>'} does not fit "
            f"{type(model).__name__}: " + "; ".join(parts))
    merged = {k: (ckpt[k] if k in ckpt and ckpt[k].shape == v.shape else v) for k, v in own.items()}
    model.load_state_dict(merged, strict=True)
    return report


def load_pretrained_backbone(model: nn.Module, path: str | PathLike) -> LoadReport:
    """Fine-tuning start (e.g. CamVid from Cityscapes weights): every matching tensor is loaded,
    the differently-shaped classifier is re-initialised. Keys must still match exactly."""
    return load_weights(model, path, strict=True, num_classes_change=True)
