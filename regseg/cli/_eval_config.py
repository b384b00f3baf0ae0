"""The TrainConfig `regseg eval` evaluates with: the checkpoint's run settings, then options.

Precedence: the defaults of a Cityscapes evaluation < the checkpoint's config (its
``EVAL_FIELDS``) < options given on the command line < ``--set``. Every setting that ends up
different from what the checkpoint was trained with gets one line of warning, so a 64x128 model
evaluated at 1024 says so instead of quietly printing a low mIoU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from regseg.cli._eval_source import EVAL_FIELDS, EvalSource, resolve_dataset_dir
from regseg.errors import ConfigError

#: What an evaluation uses when neither the checkpoint nor an option says (Cityscapes val).
FALLBACK = {"dataset_name": "cityscapes", "val_split": "val", "val_input_size": 1024,
            "val_label_size": 1024}


def eval_config(source: EvalSource, given: Mapping[str, Any], overrides: Mapping[str, Any], *,
                device: str, max_eval: int):
    """(TrainConfig, lines to print on stderr) for evaluating ``source``."""
    from regseg.config import REDUCED_EXCLUDE, TrainConfig
    from regseg.data.datasets import get_dataset_spec

    trained = {k: source.config[k] for k in EVAL_FIELDS if source.config and k in source.config}
    if "dataset_dir" in trained:
        trained["dataset_dir"] = resolve_dataset_dir(trained["dataset_dir"], source.project_dir)
    if not trained:
        missing = [opt for opt, key in (("--model", "model_name"), ("--data", "dataset_dir"))
                   if key not in given and key not in overrides]
        if missing:
            raise ConfigError(f"{' and '.join(missing)}: expected with weights that carry no "
                              f"training config ({source.described}), got none")
    fields = {**FALLBACK, **trained, **given}
    if "num_classes" not in trained and "num_classes" not in given:
        fields["num_classes"] = len(get_dataset_spec(fields["dataset_name"]).classes)
    if "exclude_classes" not in trained or fields["num_classes"] != trained.get("num_classes"):
        # mIoU^R leaves out Cityscapes' truck/bus/train; ids beyond a smaller dataset's go.
        fields["exclude_classes"] = [c for c in REDUCED_EXCLUDE if c < fields["num_classes"]]
    fields.update(device=device, max_eval=max_eval, class_uniform_pct=0.0, num_workers=0)
    fields.update(overrides)
    cfg = TrainConfig(**fields)
    return cfg, _notes(source, trained, cfg)


def _notes(source: EvalSource, trained: Mapping[str, Any], cfg) -> list[str]:
    if not trained:
        return [f"note: {source.described} carries no training config; evaluating with "
                f"{_settings(cfg)}"]
    lines = []
    for key, was in trained.items():
        now = getattr(cfg, key)
        if _differs(key, was, now):
            lines.append(f"warning: evaluating with {key}={_show(now)}, but the checkpoint was "
                         f"trained with {key}={_show(was)}")
    return lines


def _differs(key: str, was: Any, now: Any) -> bool:
    if key == "dataset_dir":
        return Path(was).resolve() != Path(now).resolve()
    if isinstance(was, (list, tuple)):
        return list(was) != list(now)
    return was != now


def _show(value: Any) -> str:
    return str(list(value)) if isinstance(value, tuple) else str(value)


def _settings(cfg) -> str:
    return (f"{cfg.dataset_name} at {cfg.dataset_dir}, split {cfg.val_split}, val size "
            f"{cfg.val_input_size}/{cfg.val_label_size}, {cfg.num_classes} classes")
