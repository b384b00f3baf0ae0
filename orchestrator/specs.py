"""Ablation specs: parse (safely), inherit (``extends``), validate, expand to hashed runs.

Format (docs/SPECS.md has the full description)::

    name: backbone            # default: the file's stem (never inherited)
    group: backbone           # MLflow experiment regseg/<group>; default: name
    extends: base.yaml        # another spec, relative to this file, inside the project
    base: {epochs: 500, ...}  # TrainConfig overrides; merged key by key with the parent's
    grid: {body: [exp48, exp43], lr: [0.05, 0.1]}    # cartesian product
    zip: {train_min_size: [400, 512], train_max_size: [1600, 2048]}  # varied together
    include: [{body: exp53, decoder: decoder29}]     # extra points
    exclude: [{body: exp43, lr: 0.1}]                # points removed (partial match)
    seeds: 3                  # or [0, 5, 7]; the paper's run1..runN
    tags: {paper_table: 2}    # merged key by key with the parent's
    resources: {gpus: 1}

Precedence: TrainConfig defaults < extends chain < base < grid point (< seed). ``body`` and
``decoder`` build ``model_name`` (``<body>_<decoder>``; a missing part comes from model_name).
A run's identity is ``TrainConfig.run_hash()`` (sha256 of the canonical JSON, seed included).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from orchestrator.errors import SpecError
from orchestrator.spec_validation import (MODEL_PARTS, Where, check_config_keys, check_document,
                                          describe, suggest)
from orchestrator.spec_yaml import KeyPath, format_path, load_yaml_with_lines

MERGED_KEYS = ("base", "tags")  # merged key by key along `extends`; every other key is replaced
PATH_FIELD_SUFFIXES = ("_dir", "_path")  # TrainConfig fields holding filesystem paths


@dataclass(frozen=True)
class Spec:
    """A loaded, shape-checked spec with its `extends` chain already merged."""

    name: str
    description: str
    group: str
    path: Path
    project_dir: Path
    base: dict
    grid: dict
    zip: tuple  # of (path prefix, {axis: values})
    include: tuple
    exclude: tuple
    seeds: tuple | None
    repeats: int
    tags: dict
    resources: dict
    origins: dict = field(repr=False)  # key path prefix -> Where it was written

    def fail(self, path: KeyPath, message: str) -> SpecError:
        for n in (2, 1):
            if path[:n] in self.origins:
                return self.origins[path[:n]].fail(path, message)
        return self.origins[()].fail(path, message)


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


# ----------------------------------------------------------------------------- loading
def load_spec(path: str | os.PathLike, *, project_dir: str | os.PathLike | None = None,
              overrides: dict[str, Any] | None = None) -> Spec:
    """Load ``path`` and its ``extends`` chain; check shapes, keys and paths. Raises SpecError.

    ``project_dir`` (default: the current directory when it holds the spec, else the parent of
    the spec's ``experiments/`` directory) confines every path the spec names. ``overrides``
    (``--set key=value``) are applied on top of ``base``.
    """
    from regseg.config import TrainConfig

    spec_path = Path(path).absolute()
    project = _project_dir(spec_path, project_dir)
    spec_path = confine(project, spec_path, Where(spec_path, {}), ("<spec path>",))
    merged, origins = _load_chain(spec_path, project, ())
    if overrides:
        merged["base"] = {**merged.get("base", {}), **overrides}
        for key in overrides:
            origins[("base", key)] = Where(Path("--set"), {})
    spec = _build(spec_path, project, merged, origins)
    fields = TrainConfig.model_fields
    for key in spec.base:
        check_config_keys(spec.origins.get(("base", key), spec.origins[()]), ("base",), [key], fields)
    check_config_keys(spec.origins.get(("grid",), spec.origins[()]), ("grid",), spec.grid, fields)
    for prefix, group in spec.zip:
        check_config_keys(spec.origins[("zip",)], prefix, group, fields)
    for key in ("include", "exclude"):
        for i, point in enumerate(getattr(spec, key)):
            check_config_keys(spec.origins[(key,)], (key, i), point, fields)
    return spec


def _project_dir(spec_path: Path, given: str | os.PathLike | None) -> Path:
    if given is not None:
        return Path(given).resolve()
    cwd = Path.cwd().resolve()
    if spec_path.resolve().is_relative_to(cwd):
        return cwd
    parent = spec_path.resolve().parent
    return parent.parent if parent.name == "experiments" else parent


def confine(project: Path, candidate: Path, where: Where, key: KeyPath, *,
            data_roots: bool = False) -> Path:
    """``candidate`` resolved (relative to the project) if it stays inside ``project`` (or,
    with ``data_roots``, inside one of the roots listed in $REGSEG_DATA_ROOTS)."""
    # expanduser: the data loader expands "~", so "~/x" must be checked where it really points
    resolved = (project / Path(candidate).expanduser()).resolve()
    roots = [project]
    if data_roots:
        roots += [Path(p).resolve() for p in
                  os.environ.get("REGSEG_DATA_ROOTS", "").split(os.pathsep) if p]
    if not any(resolved.is_relative_to(root) for root in roots):
        raise where.fail(key, f"path {str(candidate)!r} leaves the project directory {project} "
                              f"(resolves to {resolved}); expected a path inside it")
    return resolved


def _load_chain(path: Path, project: Path, stack: tuple) -> tuple[dict, dict]:
    if path in stack:
        chain = " -> ".join(p.name for p in stack + (path,))
        raise SpecError(f"{stack[-1]}: extends: cycle in extends chain: {chain}")
    data, lines = load_yaml_with_lines(path)
    where = Where(path, lines)
    doc = check_document(where, data)
    merged: dict = {}
    origins: dict = {}
    if "extends" in doc:
        parent = confine(project, path.parent / doc["extends"], where, ("extends",))
        if not parent.is_file():
            raise where.fail(("extends",), f"expected an existing spec file, got {doc['extends']!r} "
                                           f"({parent} does not exist)")
        merged, origins = _load_chain(parent, project, stack + (path,))
        merged.pop("name", None)  # a spec's name is its own, never inherited
    for key, value in doc.items():
        if key == "extends":
            continue
        if key in MERGED_KEYS:
            merged[key] = {**merged.get(key, {}), **value}
            origins.update({(key, k): where for k in value})
        else:
            merged[key] = value
        origins[(key,)] = where
    origins[()] = where
    return merged, origins


def _build(path: Path, project: Path, doc: dict, origins: dict) -> Spec:
    name = doc.get("name", path.stem)
    raw_zip = doc.get("zip", [])
    zips = tuple((("zip", i), g) for i, g in enumerate(raw_zip)) if isinstance(raw_zip, list) \
        else ((("zip",), raw_zip),)
    seeds = doc.get("seeds")
    if isinstance(seeds, int):
        seeds = list(range(seeds))
    return Spec(name=name, description=doc.get("description", ""), group=doc.get("group", name),
                path=path, project_dir=project, base=dict(doc.get("base", {})),
                grid=dict(doc.get("grid", {})), zip=zips, include=tuple(doc.get("include", [])),
                exclude=tuple(doc.get("exclude", [])), seeds=tuple(seeds) if seeds else None,
                repeats=int(doc.get("repeats", 1)), tags=dict(doc.get("tags", {})), resources={"gpus": 1, **doc.get("resources", {})},
                origins=origins)


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
        if known_models is not None and model_name not in known_models:
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
                 {**o, **{a: prefix + (a, j) for a in group}}) for (p, o), j in product(rows, range(n))]
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


def _known_models() -> list[str] | None:
    try:
        from regseg.models import list_models
    except ImportError:  # the model zoo is optional for spec checks
        return None
    return list(list_models())


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_fmt(v) for v in value) + "]"
    return str(value)


__all__ = ["Spec", "Run", "load_spec", "expand", "confine", "format_path"]
