"""`TrainConfig`: the one typed, frozen record of every training knob.

Defaults are the reference's ``configs/cityscapes_500epochs.yaml`` (RolandGao/RegSeg). A config is
validated once, at construction; every invalid value raises :class:`regseg.errors.ConfigError`
whose message names the field, the expected and the actual value. Nothing deeper re-validates.

Types are strict (pydantic strict mode): an int field takes an int, a float field an int or a
float, a bool field ``true``/``false``; ``lr: true`` or ``epochs: "6"`` is rejected rather than
read as 1.0 or 6. Two spellings that JSON and YAML produce on their own stay accepted: lists for
the tuple fields (a JSON round trip turns tuples into lists), and exponent literals such as
``1e-4`` as floats (YAML 1.1, which PyYAML implements, reads a float without a dot as a string).

Identity: ``canonical_json()`` is the JSON of *all* fields (defaults included) with sorted keys;
``run_hash()`` is its sha256 hex digest.

Evaluation schedule (the reference's ``get_epochs_to_save``; epochs are 0-based like its logs):
evaluate after epoch ``k*eval_every - 1`` for k = 1, 2, ..., after epoch 0, after the last epoch,
and after each of the last ``eval_last_k_epochs`` epochs; nothing when ``eval_while_train`` is
false. ``eval_epochs()`` returns that sorted list. The reference's key ``save_every_k_epochs``
meant this evaluation cadence; here ``eval_every`` carries it and ``save_every_k_epochs`` is the
cadence of numbered ``epoch_<k>`` checkpoints (0 = none); ``from_reference`` copies the
reference value into both.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
import typing
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from regseg.data.labels import REDUCED_EXCLUDE
from regseg.errors import ConfigError

LrSchedulerName = Literal["poly", "cosine", "exp", "step"]
LossTypeName = Literal["cross_entropy", "bootstrapped_cross_entropy"]
DatasetName = Literal["cityscapes", "camvid", "synthetic"]
# Must equal the keys of regseg.data.class_uniform.CENTROID_RULES (a test checks it).
CentroidRuleName = Literal["center_of_mass", "nearest_class_pixel"]
# Must equal the keys of regseg.data.augment's registry (a test checks it); kept here as a
# Literal so validating a config never imports torch.
AugModeName = Literal[
    "baseline", "custom3", "colour_jitter", "randaug", "randaug_reduced", "randaug_reduced3",
    "rotate", "noise", "noise2", "noise3", "custom1",
]

_DEVICE_RE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
# A float literal with an exponent but no dot (1e-4, 5E+2): YAML 1.1 leaves it a string.
_EXPONENT_RE = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+")


class TrainConfig(BaseModel):
    """Every training knob of a RegSeg run. Frozen; unknown fields are rejected.

    Units: sizes in pixels (``train_crop_size`` is (height, width)); ``lr`` is the peak learning
    rate; ``warmup_iters`` counts optimiser steps; ``class_uniform_pct`` is a probability.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, strict=True)

    # model
    model_name: str = Field("exp48_decoder26", min_length=1)
    num_classes: int = Field(19, ge=1)
    ignore_value: int = Field(255, ge=0, le=255)
    pretrained_path: str | None = None
    # load pretrained weights except a differently-sized classifier
    change_num_classes: bool = False
    # optimisation
    epochs: int = Field(500, ge=1)
    max_epochs: int | None = Field(None, ge=1)  # schedule length in epochs; None = epochs
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    bn_weight_decay: bool = False
    lr_scheduler: LrSchedulerName = "poly"
    poly_power: float = Field(0.9, gt=0)
    # exp schedule: lr factor beta**(it/total); not in the reference configs
    exp_beta: float = Field(0.1, gt=0)
    warmup_iters: int = Field(3000, ge=0)
    warmup_factor: float = Field(0.1, ge=0, le=1)
    mixed_precision: bool = True
    seed: int = Field(0, ge=0)
    loss_type: LossTypeName = "cross_entropy"
    exclude_classes: tuple[int, ...] = REDUCED_EXCLUDE
    # data
    dataset_name: DatasetName = "cityscapes"
    dataset_dir: str = Field("cityscapes_dataset", min_length=1)
    batch_size: int = Field(8, ge=1)
    train_min_size: int = Field(400, ge=1)
    train_max_size: int = Field(1600, ge=1)
    train_crop_size: tuple[int, int] = (768, 768)
    val_input_size: int = Field(1024, ge=1)
    val_label_size: int = Field(1024, ge=1)
    aug_mode: AugModeName = "randaug_reduced"
    class_uniform_pct: float = Field(0.5, ge=0, le=1)
    # where a class-uniform crop is centred: the reference's truncated centre of mass of the class
    # in its tile (may lie off the class), or that point moved to the nearest pixel of the class
    class_uniform_centroid: CentroidRuleName = "center_of_mass"
    train_split: str = Field("train", min_length=1)
    val_split: str = Field("val", min_length=1)
    num_workers: int = Field(6, ge=0)
    max_eval: int = Field(600, ge=1)  # evaluate on at most this many validation images
    # evaluation and checkpoints
    bn_precise_stats: bool = False
    bn_precise_num_samples: int = Field(600, ge=1)
    eval_while_train: bool = True
    eval_every: int = Field(25, ge=1)
    eval_last_k_epochs: int = Field(15, ge=0)
    save_every_k_epochs: int = Field(25, ge=0)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps

    # ------------------------------------------------------------------ construction
    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise ConfigError(f"{name}: TrainConfig is frozen; expected with_overrides({name}=...), "
                          f"got an assignment of {value!r}")

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> "TrainConfig":  # type: ignore[override]
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None

    @field_validator("*", mode="before")
    @classmethod
    def _json_and_yaml_spellings(cls, v: Any, info: ValidationInfo) -> Any:
        """The two spellings strict mode would reject although JSON / YAML produce them.

        Defined first so it runs after the other "before" validators (pydantic runs them in
        reverse order): their messages show the value as it was given."""
        kind = _FIELD_KINDS.get(info.field_name)
        if kind == "tuple" and isinstance(v, list):
            return tuple(v)
        if kind == "float" and isinstance(v, str) and _EXPONENT_RE.fullmatch(v.strip()):
            return float(v)
        return v

    @field_validator("train_crop_size", mode="before")
    @classmethod
    def _crop_pair(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            v = (v, v)  # the reference accepts one int for a square crop
        ok = (isinstance(v, (list, tuple)) and len(v) == 2
              and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v))
        if not ok:
            raise ValueError(f"train_crop_size: expected a positive int or [height, width] of "
                             f"positive ints, got {v!r}")
        return tuple(v)

    @field_validator("device")
    @classmethod
    def _device_name(cls, v: str) -> str:
        if not _DEVICE_RE.fullmatch(v):
            raise ValueError(f"device: expected auto, cpu, mps, cuda or cuda:<index>, got {v!r}")
        return v

    @field_validator("pretrained_path", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if v == "" else v

    @model_validator(mode="after")
    def _cross_field(self) -> "TrainConfig":
        if self.train_min_size > self.train_max_size:
            raise ValueError(f"train_min_size: expected <= train_max_size ({self.train_max_size}), "
                             f"got {self.train_min_size}")
        bad = [c for c in self.exclude_classes if not 0 <= c < self.num_classes]
        if bad:
            raise ValueError(f"exclude_classes: expected class ids in [0, {self.num_classes}), "
                             f"got {list(self.exclude_classes)}")
        if self.max_epochs is not None and self.max_epochs < self.epochs:
            raise ValueError(f"max_epochs: expected None or >= epochs ({self.epochs}), "
                             f"got {self.max_epochs}")
        if self.max_epochs == self.epochs:  # one spelling per run, so equal runs hash equally
            object.__setattr__(self, "max_epochs", None)
        return self

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        """Build from a mapping of field names (raises ConfigError on a bad key or value)."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"config: expected a mapping of field names, got {type(d).__name__}")
        return cls(**dict(d))

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        """Read a ``.json`` file (json) or a YAML file (``yaml.safe_load``) holding a mapping of
        field names. YAML 1.1 reads ``1e-4`` as a string; pydantic still parses it as a float."""
        import yaml

        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file: expected an existing file, got {str(p)!r}")
        try:
            text = p.read_text(encoding="utf-8")
            data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
        except (yaml.YAMLError, ValueError) as exc:
            raise ConfigError(f"config file {str(p)!r}: expected YAML or JSON, got a parse error: "
                              f"{exc}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"config file {str(p)!r}: expected a mapping at the top level, "
                              f"got {type(data).__name__}")
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"config file {str(p)!r}: {exc}") from None

    def with_overrides(self, **overrides: Any) -> "TrainConfig":
        """A new, re-validated config with ``overrides`` applied (unknown keys raise)."""
        data = self.model_dump()
        data.update(overrides)
        return type(self)(**data)

    @classmethod
    def from_reference(cls, d: Mapping[str, Any]) -> tuple["TrainConfig", list[str]]:
        """Map a reference config dict (line 1 of a reference training log, or a reference YAML).

        Returns the config and the sorted list of reference keys that do not affect training
        (bookkeeping such as ``save_dir``, ``run``, ``model_type``) or that this project does not
        model. Renames: ``RNG_seed`` -> seed, ``val_size`` -> val_input_size and val_label_size,
        ``save_every_k_epochs`` -> eval_every and save_every_k_epochs, ``save_last_k_epochs`` ->
        eval_last_k_epochs, ``loss_type: bootstrapped`` -> bootstrapped_cross_entropy, ``''``
        pretrained_path -> None. The logged ``exclude_classes: [16]`` of 19-class runs is the
        reference's known bug; it becomes the paper's (14, 15, 16). A key that would change
        training in a way this project does not implement (e.g. ``edge_aware_crop: True``)
        raises ConfigError.
        """
        from regseg.config_reference import translate_reference

        fields, ignored = translate_reference(dict(d), set(cls.model_fields))
        return cls(**fields), ignored

    # ------------------------------------------------------------------ derived values
    @property
    def schedule_epochs(self) -> int:
        """Epochs the LR schedule spans (the reference's max_epochs)."""
        return self.max_epochs if self.max_epochs is not None else self.epochs

    def eval_epochs(self) -> list[int]:
        """Sorted 0-based epochs after which the model is evaluated (see the module docstring)."""
        if not self.eval_while_train:
            return []
        n, k = self.epochs, self.eval_every
        chosen = {i * k - 1 for i in range(1, n // k + 1)} | {0, n - 1}
        chosen |= set(range(max(n - self.eval_last_k_epochs, 0), n))
        return sorted(chosen)

    def should_evaluate(self, epoch: int) -> bool:
        """Whether the 0-based ``epoch`` is in :meth:`eval_epochs`."""
        return epoch in self.eval_epochs()

    def canonical_json(self) -> str:
        """JSON of every field, keys sorted, no whitespace: the complete resolved config."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def identity(self) -> dict[str, Any]:
        """What a run's hash covers: every field of schema 1 (defaults included, as the hashes
        of existing runs always had them) plus each later field only when it differs from its
        default. A field added with a default that keeps the old behaviour therefore keeps every
        existing hash; a change of meaning bumps ``SCHEMA_VERSION``, which then enters the hash.
        """
        data = self.model_dump(mode="json")
        defaults = _json_defaults(type(self))
        out = {k: v for k, v in data.items()
               if k in SCHEMA1_FIELDS or v != defaults.get(k, _NO_DEFAULT)}
        if SCHEMA_VERSION > 1:
            out["__schema__"] = SCHEMA_VERSION
        return out

    def run_hash(self) -> str:
        """sha256 hex digest of the sorted, whitespace-free JSON of :meth:`identity`."""
        payload = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


#: Bumped only when an existing field changes meaning (every run hash then changes on purpose).
SCHEMA_VERSION = 1
#: The fields of schema 1. Never edit this list: a new field goes into TrainConfig only, with a
#: default that preserves the previous behaviour, and stays out of hashes while it has it.
SCHEMA1_FIELDS = frozenset({
    "aug_mode", "batch_size", "bn_precise_num_samples", "bn_precise_stats", "bn_weight_decay",
    "change_num_classes", "class_uniform_pct", "dataset_dir", "dataset_name", "device", "epochs",
    "eval_every", "eval_last_k_epochs", "eval_while_train", "exclude_classes", "exp_beta",
    "ignore_value", "loss_type", "lr", "lr_scheduler", "max_epochs", "max_eval",
    "mixed_precision", "model_name", "momentum", "num_classes", "num_workers", "poly_power",
    "pretrained_path", "save_every_k_epochs", "seed", "train_crop_size", "train_max_size",
    "train_min_size", "train_split", "val_input_size", "val_label_size", "val_split",
    "warmup_factor", "warmup_iters", "weight_decay",
})
_NO_DEFAULT = object()


@functools.cache  # per class: run_hash() of every expanded run reads it (read-only)
def _json_defaults(cls: type[BaseModel]) -> dict[str, Any]:
    """Each field's default as ``model_dump(mode="json")`` writes it (fields with one)."""
    out = {}
    for name, info in cls.model_fields.items():
        if not info.is_required():
            out[name] = json.loads(json.dumps(info.get_default(call_default_factory=True),
                                              default=list))
    return out


def _field_kind(annotation: Any) -> str | None:
    """"float" for float fields (optional or not), "tuple" for tuple fields, else None."""
    args = typing.get_args(annotation)
    if annotation is float or (type(None) in args and float in args):
        return "float"
    if typing.get_origin(annotation) is tuple:
        return "tuple"
    return None


_FIELD_KINDS = {name: kind for name, field in TrainConfig.model_fields.items()
                if (kind := _field_kind(field.annotation)) is not None}


_STRICT_KINDS = {
    "int_type": "an int, not a string, float or bool",
    "float_type": "an int or a float, not a string or bool",
    "bool_type": "true or false, not a number or string",
    "string_type": "a string",
    "tuple_type": "a list",
}


def _describe(exc: ValidationError) -> str:
    """One line per pydantic error: ``field: expected ..., got <value>``."""
    known = list(TrainConfig.model_fields)
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "config"
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(err["loc"][0]), known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            lines.append(f"{field}: unknown field{hint}; expected one of the TrainConfig fields, "
                         f"got {err['input']!r}")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if re.match(r"^\w+: expected ", msg):  # our own validators already say field/expected/got
            lines.append(msg)
        else:
            expected = msg[0].lower() + msg[1:] if msg else "a valid value"
            expected = expected.removeprefix("input should be ")
            got = err.get("input")
            if err["type"].endswith("_type"):  # strict types: say which type it was
                expected = f"{expected} ({_STRICT_KINDS.get(err['type'], 'strict type')})"
                lines.append(f"{field}: expected {expected}, got {got!r} ({type(got).__name__})")
            else:
                lines.append(f"{field}: expected {expected}, got {got!r}")
    return "invalid TrainConfig: " + "; ".join(lines)
