"""Spec expansion: grid x zip groups, minus exclude, plus include, times seeds and repeats, each
point resolved into a TrainConfig and hashed. ``expand`` is the only producer of runs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

from orchestrator.specs.loading import PATH_FIELD_SUFFIXES, Spec, confine
from orchestrator.specs.source import KeyPath
from orchestrator.specs.validation import MODEL_PARTS, Where, describe, suggest


@dataclass(frozen=True)
class Run:
    """One fully resolved training run of a spec."""

    config: Any  # regseg.config.TrainConfig
    run_hash: str
    seed: int
    point: dict  # axis values of the grid point (model_name instead of body/decoder), no seed
    label: str  # the point as "k=v,k=v" ("default" for the single point of a grid-less spec)
    spec_name: str
    group: str
    repetition: int = 0  # 0..repeats-1: the same config trained again (e.g. reproducibility)


# ----------------------------------------------------------------------------- expansion
def expand(spec: Spec) -> list[Run]:
    """All runs of ``spec``: grid x zip groups, minus exclude, plus include, times seeds, times
    ``repeats`` (repetitions share the config and its hash; the queue tells them apart by
    their repetition index)."""
    from regseg.config import TrainConfig

    defaults = {k: f.default for k, f in TrainConfig.model_fields.items()}
    known_models = _known_models()
    runs: list[Run] = []
    seen: dict[str, str] = {}
    for point, origin in _points(spec, defaults):
        values = {**spec.base, **point}
        model_name = _model_name(spec, values, origin, defaults)
        values = {k: v for k, v in values.items() if k not in MODEL_PARTS}
        values["model_name"] = model_name
        shown = _shown_point(point, model_name)
        label = ",".join(f"{k}={_fmt(v)}" for k, v in shown.items()) or "default"
        if model_name not in known_models:
            raise spec.fail(_origin_of(spec, "model_name", origin),
                            f"unknown model {model_name!r}{suggest(model_name, known_models)}; "
                            f"expected one of regseg.models.list_models()")
        for seed in spec.seeds or (None,):
            cfg = _config(spec, TrainConfig, values if seed is None else {**values, "seed": seed},
                          origin)
            digest = cfg.run_hash()
            if digest in seen:
                raise spec.fail(_origin_of(spec, "", origin), f"duplicate point: {label} "
                                f"resolves to the same run as {seen[digest]}")
            seen[digest] = label
            runs.extend(Run(config=cfg, run_hash=digest, seed=cfg.seed, point=shown, label=label,
                            spec_name=spec.name, group=spec.group, repetition=r)
                        for r in range(spec.repeats))
    if spec.seed_policy is not None:
        # Seed-major: every arm's first seeds run before any arm's later ones, so the adaptive
        # policy can look at each arm after `min` seeds while its other seeds are still queued.
        order = {seed: i for i, seed in enumerate(spec.seeds)}
        runs.sort(key=lambda r: order[r.seed])  # stable: arms keep their order within a seed
    return runs


def _points(spec: Spec, defaults: dict) -> list[tuple[dict, dict]]:
    """(point, {axis: key path of its value}) for every grid point, in a stable order."""
    rows: list[tuple[dict, dict]] = [({}, {})]
    for axis, values in spec.grid.items():
        rows = [({**p, axis: v}, {**o, axis: ("grid", axis, i)})
                for (p, o), (i, v) in product(rows, enumerate(values))]
    for prefix, group in spec.zip:
        n = len(next(iter(group.values())))
        rows = [({**p, **{a: vs[j] for a, vs in group.items()}},
                 {**o, **{a: prefix + (a, j) for a in group}})
                for (p, o), j in product(rows, range(n))]
    if not spec.grid and not spec.zip and spec.include:
        rows = []
    _check_unique(spec, rows)
    for i, ex in enumerate(spec.exclude):
        kept = [r for r in rows if not _matches(ex, {**defaults, **spec.base, **r[0]})]
        if len(kept) == len(rows):
            raise spec.fail(("exclude", i), f"matches no grid point: {ex}")
        rows = kept
    for i, inc in enumerate(spec.include):
        rows.append((dict(inc), {k: ("include", i, k) for k in inc}))
    _check_unique(spec, rows)
    if not rows:
        raise spec.fail(("exclude",), "every grid point is excluded; expected at least one run")
    return rows


def _matches(pattern: dict, values: dict) -> bool:
    return all(values.get(k) == v or (k == "model_name" and _model_of(values) == v)
               for k, v in pattern.items())


def _model_of(values: dict) -> str:
    body, _, decoder = str(values.get("model_name", "")).partition("_")
    return f"{values.get('body', body)}_{values.get('decoder', decoder)}"


def _check_unique(spec: Spec, rows: list[tuple[dict, dict]]) -> None:
    seen: set[str] = set()
    for point, origin in rows:
        key = json.dumps(point, sort_keys=True, default=repr)
        if key in seen:
            first = next(iter(origin.values()), ())
            raise spec.fail(first[:2], f"duplicate point {point}")
        seen.add(key)


def _model_name(spec: Spec, values: dict, origin: dict, defaults: dict) -> str:
    current = values.get("model_name", defaults["model_name"])
    if not any(part in values for part in MODEL_PARTS):
        return current
    body, sep, decoder = str(current).partition("_")
    if "decoder" not in values and not sep:
        raise spec.fail(_origin_of(spec, "body", origin),
                        f"cannot take the decoder from model_name {current!r}; set 'decoder' too")
    for part in MODEL_PARTS:
        if part in values and not isinstance(values[part], str):
            raise spec.fail(_origin_of(spec, part, origin),
                            f"expected a {part} name (string), got {describe(values[part])}")
    return f"{values.get('body', body)}_{values.get('decoder', decoder)}"


def _shown_point(point: dict, model_name: str) -> dict:
    if not any(part in point for part in MODEL_PARTS):
        return dict(point)
    shown = {"model_name": model_name}
    shown.update({k: v for k, v in point.items() if k not in MODEL_PARTS and k != "model_name"})
    return shown


def _origin_of(spec: Spec, key: str, origin: dict) -> KeyPath:
    if key in origin:
        return origin[key]
    if key == "model_name":
        for part in MODEL_PARTS:
            if part in origin:
                return origin[part]
    if key in spec.base:
        return ("base", key)
    return next(iter(origin.values()), ("base",) if spec.base else ())


def _config(spec: Spec, config_cls: type, values: dict, origin: dict) -> Any:
    from regseg.errors import ConfigError

    try:
        cfg = config_cls(**values)
    except ConfigError as exc:
        text = str(exc).removeprefix("invalid TrainConfig: ")
        match = re.match(r"([A-Za-z_]\w*)", text)
        key = match.group(1) if match else ""
        raise spec.fail(_origin_of(spec, key, origin), text) from None
    for name, value in values.items():
        if name.endswith(PATH_FIELD_SUFFIXES) and isinstance(value, str):
            at = _origin_of(spec, name, origin)
            confine(spec.project_dir, Path(value), _where(spec, at), at, data_roots=True)
    return cfg


def _where(spec: Spec, path: KeyPath) -> Where:
    for n in (2, 1):
        if path[:n] in spec.origins:
            return spec.origins[path[:n]]
    return spec.origins[()]


def _known_models() -> list[str]:
    from regseg.models import list_models

    return list(list_models())


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_fmt(v) for v in value) + "]"
    return str(value)

