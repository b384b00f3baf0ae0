"""The reference project's config keys -> ``TrainConfig`` fields (``TrainConfig.from_reference``).

A reference config is line 1 of a reference training log or a reference YAML. Its keys are
bookkeeping (ignored), neutral (one value implemented here, any other rejected), renamed, or
TrainConfig fields under the same name.
"""

from __future__ import annotations

from typing import Any

from regseg.data.labels import REDUCED_EXCLUDE
from regseg.errors import ConfigError

# Reference keys that only do bookkeeping (paths, logging, benchmarking, run numbering).
_REFERENCE_BOOKKEEPING = frozenset({
    "model_type", "run", "runs", "resume", "resume_path", "save_dir", "save_name",
    "save_best_path", "save_latest_path", "log_dir", "log_path", "eval_print_every",
    "train_print_every", "warmup_iter", "num_iter", "benchmark_loader", "benchmark_model",
})
# Reference keys whose only value this project implements; another value raises ConfigError.
_REFERENCE_NEUTRAL = {
    "class_weight": None, "resize_mode": "uniform", "edge_aware_crop": False,
    "boost_rare_classes": False, "pretrained_backbone": False, "validate_train_loader": False,
    "ablate_decoder": False,
}
# reference key -> TrainConfig fields it sets
_REFERENCE_RENAMES = {
    "RNG_seed": ("seed",),
    "val_size": ("val_input_size", "val_label_size"),
    "save_every_k_epochs": ("eval_every", "save_every_k_epochs"),
    "save_last_k_epochs": ("eval_last_k_epochs",),
}
# (field, reference value) -> value here
_REFERENCE_VALUES = {("loss_type", "bootstrapped"): "bootstrapped_cross_entropy"}


def translate_reference(d: dict[str, Any], fields: set[str]) -> tuple[dict[str, Any], list[str]]:
    """Reference dict -> (TrainConfig keyword arguments, ignored reference keys)."""
    out: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in d.items():
        if key in _REFERENCE_NEUTRAL:
            if value != _REFERENCE_NEUTRAL[key]:
                raise ConfigError(f"reference key {key!r}: expected {_REFERENCE_NEUTRAL[key]!r} "
                                  f"(the only behaviour regseg implements), got {value!r}")
            ignored.append(key)
        elif key in _REFERENCE_RENAMES:
            for target in _REFERENCE_RENAMES[key]:
                out[target] = value
        elif key in fields:
            out[key] = _REFERENCE_VALUES.get((key, value), value) if isinstance(value,
                                                                                str) else value
        else:  # bookkeeping, or a key this project does not model
            ignored.append(key)
    if out.get("exclude_classes") in ([16], (16,)) and out.get("num_classes", 19) == 19:
        out["exclude_classes"] = REDUCED_EXCLUDE  # the reference's logged bug; see from_reference
    return out, sorted(ignored)
