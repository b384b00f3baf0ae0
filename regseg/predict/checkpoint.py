"""Loading a checkpoint for prediction, and naming the zoo model a foreign checkpoint fits.

The class count comes from the checkpoint (its classifier's width), so ``--model`` and
``--weights`` are all a prediction needs. A model's *signature* is its state-dict keys and
shapes with the class dimension left open; it is computed once per model name on the meta
device (no memory, no initialisation) and cached for the process. Looking for the model a
checkpoint fits first compares the ``body.*`` tensors with each body alone (one cheap build per
body), and only builds the decoders of matching bodies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping

import torch

from regseg.errors import CheckpointError, WeightsMismatchError
from regseg.predict.errors import ModelMismatchError, WeightsFileError

Shape = tuple[int, ...]
OPEN = -1  # the class dimension in a signature


@dataclass(frozen=True)
class Signature:
    """State-dict keys -> shapes (``OPEN`` at the class dimension) and the class dimension of
    each classifier tensor (key -> dimension index)."""

    shapes: Mapping[str, Shape]
    class_dims: Mapping[str, int]


def _shapes(module: torch.nn.Module) -> dict[str, Shape]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@lru_cache(maxsize=None)
def signature(name: str) -> Signature:
    """The signature of zoo model ``name`` (two builds on the meta device, cached)."""
    from regseg.models import build_model

    with torch.device("meta"):
        one, two = (_shapes(build_model(name, num_classes=n)) for n in (1, 2))
    class_dims: dict[str, int] = {}
    shapes: dict[str, Shape] = {}
    for key, shape in one.items():
        differs = [d for d, (a, b) in enumerate(zip(shape, two[key])) if a != b]
        if differs:
            class_dims[key] = differs[0]
            shape = tuple(OPEN if d == differs[0] else s for d, s in enumerate(shape))
        shapes[key] = shape
    return Signature(MappingProxyType(shapes), MappingProxyType(class_dims))


@lru_cache(maxsize=None)
def _body_shapes(body: str) -> Mapping[str, Shape]:
    from regseg.models.bodies import BODIES, Body

    with torch.device("meta"):
        shapes = {f"body.{k}": s for k, s in _shapes(Body(BODIES[body])).items()}
    return MappingProxyType(shapes)


def classes_in(state: Mapping[str, torch.Tensor], sig: Signature) -> int | None:
    """The class count the checkpoint's classifier tensors agree on, or None."""
    counts = set()
    for key, dim in sig.class_dims.items():
        tensor = state.get(key)
        if tensor is None or tensor.dim() <= dim:
            return None
        counts.add(int(tensor.shape[dim]))
    return counts.pop() if len(counts) == 1 else None


def fits(state: Mapping[str, torch.Tensor], name: str) -> int | None:
    """The class count with which ``state`` loads strictly into ``name``, or None."""
    sig = signature(name)
    if set(state) != set(sig.shapes):
        return None
    n = classes_in(state, sig)
    if n is None:
        return None
    for key, shape in sig.shapes.items():
        expected = tuple(n if s == OPEN else s for s in shape)
        if tuple(state[key].shape) != expected:
            return None
    return n


def _matching_bodies(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Bodies whose tensors are exactly the checkpoint's ``body.*`` tensors."""
    from regseg.models import list_bodies

    body_part = {k: tuple(v.shape) for k, v in state.items() if k.startswith("body.")}
    return [b for b in list_bodies() if dict(_body_shapes(b)) == body_part] if body_part else []


def fitting_models(state: Mapping[str, torch.Tensor], *,
                   prefer: str | None = None) -> list[tuple[str, int]]:
    """Every zoo model (name, class count) the checkpoint loads strictly into.

    Bodies that differ only in dilation rates have identical tensors, so a checkpoint fits all
    of them alike: the decoders are compared on the first matching body only and the result
    holds for each. Names sharing the body of ``prefer`` come first, then zoo order.
    """
    from regseg.models import list_competitors, list_decoders

    bodies = _matching_bodies(state)
    if not bodies:
        found = [(name, fits(state, name)) for name in list_competitors()]
        return [(name, n) for name, n in found if n is not None]
    decoders = [(d, fits(state, f"{bodies[0]}_{d}")) for d in list_decoders()]
    preferred_body = prefer.partition("_")[0] if prefer else None
    bodies.sort(key=lambda b: b != preferred_body)
    return [(f"{b}_{d}", n) for b in bodies for d, n in decoders if n is not None]


def _difference(state: Mapping[str, torch.Tensor], name: str) -> str:
    sig = signature(name)
    missing = [k for k in sig.shapes if k not in state]
    unexpected = [k for k in state if k not in sig.shapes]
    wrong = [k for k, s in sig.shapes.items() if k in state and k not in sig.class_dims
             and tuple(state[k].shape) != s]
    parts = [f"{len(keys)} {label} (e.g. {keys[0]})" for label, keys in
             (("missing keys", missing), ("unexpected keys", unexpected),
              ("wrongly shaped tensors", wrong)) if keys]
    return ", ".join(parts) or "classifier shapes disagree"


def read_checkpoint(weights: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict of a weights file (``torch.load(weights_only=True)``); WeightsFileError
    when the file is missing or is not a weights-only state dict."""
    from regseg.models import read_state_dict

    if not os.path.isfile(weights):
        raise WeightsFileError(f"--weights: expected an existing file, got {str(weights)!r}")
    try:
        return read_state_dict(weights)
    except (CheckpointError, WeightsMismatchError) as exc:
        raise WeightsFileError(str(exc)) from exc


def load_for_prediction(name: str, weights: str | os.PathLike) -> tuple[torch.nn.Module, int]:
    """``(model with the checkpoint loaded strictly, class count)``; the model is on the CPU.

    Raises UnknownNameError for an unknown ``name``, WeightsFileError for an unreadable file and
    ModelMismatchError, naming the zoo models the checkpoint fits, when it does not fit ``name``.
    """
    from regseg.models import build_model, load_weights, split_name

    split_name(name)
    state = read_checkpoint(weights)
    num_classes = fits(state, name)
    if num_classes is None:
        raise ModelMismatchError(_mismatch_message(name, weights, state))
    model = build_model(name, num_classes=num_classes)
    load_weights(model, state, strict=True)
    return model, num_classes


def _mismatch_message(name: str, weights, state: Mapping[str, torch.Tensor]) -> str:
    found = fitting_models(state, prefer=name)
    head = f"weights {weights} do not fit {name} ({_difference(state, name)})"
    if not found:
        return f"{head}; no zoo model fits them either"
    names = ", ".join(f"{n} ({c} classes)" for n, c in found)
    alike = " (same tensor shapes: they differ only in dilation rates)" if len(found) > 1 else ""
    return f"{head}; they fit {names}{alike}: use --model {found[0][0]}"
