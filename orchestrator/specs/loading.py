"""Loading ablation specs: parse (safely), inherit (``extends``), check shapes, keys and paths.

Format (docs/SPECS.md has the full description)::

    name: backbone            # default: the file's stem (never inherited)
    group: backbone           # MLflow experiment regseg/<group>; default: name
    extends: base.yaml        # another spec, relative to this file, inside the project
    base: {epochs: 500, ...}  # TrainConfig overrides; merged key by key with the parent's
    grid: {body: [exp48, exp43], lr: [0.05, 0.1]}    # cartesian product
    zip: {train_min_size: [400, 512], train_max_size: [1600, 2048]}  # varied together
    include: [{body: exp53, decoder: decoder29}]     # extra points
    exclude: [{body: exp43, lr: 0.1}]                # points removed (partial match)
    seeds: 3                  # or [0, 5, 7]; the paper's run1..runN; or adaptive:
                              # {max: 5, min: 2, stop_when: worse, margin: 0.1, alpha: 0.05}
    tags: {paper_table: 2}    # merged key by key with the parent's
    resources: {gpus: 1}
    search: {space: {lr: {type: float, low: 0.001, high: 0.1, log: true}}, pruner: median}

Precedence: TrainConfig defaults < extends chain < base < grid point (< seed). ``body`` and
``decoder`` build ``model_name`` (``<body>_<decoder>``; a missing part comes from model_name).
A run's identity is ``TrainConfig.run_hash()`` (sha256 of the canonical JSON, seed included).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.errors import SpecError
from orchestrator.specs.source import KeyPath, load_yaml_with_lines
from orchestrator.specs.validation import IDENTIFIER, Where, check_config_keys, check_document

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
    content_hash: str = ""  # sha256 of the spec file, its extends chain and any --set overrides
    seed_policy: Any = None  # sections.SeedPolicy when `seeds` is adaptive
    search: Any = None  # sections.SearchSection when the spec has a `search:` section

    def fail(self, path: KeyPath, message: str) -> SpecError:
        for n in (2, 1):
            if path[:n] in self.origins:
                return self.origins[path[:n]].fail(path, message)
        return self.origins[()].fail(path, message)


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
    spec = replace(spec, content_hash=_content_hash(spec_path, origins, overrides))
    fields = TrainConfig.model_fields
    for key in spec.base:
        check_config_keys(spec.origins.get(("base", key), spec.origins[()]), ("base",), [key],
                          fields)
    check_config_keys(spec.origins.get(("grid",), spec.origins[()]), ("grid",), spec.grid, fields)
    for prefix, group in spec.zip:
        check_config_keys(spec.origins[("zip",)], prefix, group, fields)
    for key in ("include", "exclude"):
        for i, point in enumerate(getattr(spec, key)):
            check_config_keys(spec.origins[(key,)], (key, i), point, fields)
    if spec.search is not None:
        names = [p.name for p in spec.search.space]
        check_config_keys(spec.origins[("search",)], ("search", "space"), names, fields)
    if spec.seed_policy is not None and spec.seed_policy.baseline:
        check_config_keys(spec.origins[("seeds",)], ("seeds", "baseline"),
                          spec.seed_policy.baseline, fields)
    return spec


def _content_hash(spec_path: Path, origins: dict, overrides: dict[str, Any] | None) -> str:
    """What the spec says, as bytes: every file of its extends chain, then the overrides."""
    files = {spec_path} | {w.file for w in origins.values() if w.file.is_file()}
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps(overrides or {}, sort_keys=True, default=str).encode())
    return digest.hexdigest()


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
            raise where.fail(("extends",), f"expected an existing spec file, got "
                                           f"{doc['extends']!r} ({parent} does not exist)")
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
    if "name" not in doc and not IDENTIFIER.fullmatch(name):
        raise origins[()].fail(("name",), f"the spec's name defaults to its file name, "
                                          f"{name!r}, which is not a plain identifier "
                                          f"(letters, digits, '-', '_', '.'): set name:")
    raw_zip = doc.get("zip", [])
    zips = tuple((("zip", i), g) for i, g in enumerate(raw_zip)) if isinstance(raw_zip, list) \
        else ((("zip",), raw_zip),)
    from orchestrator.specs.sections import search_section, seed_policy

    seeds = doc.get("seeds")
    policy = seed_policy(seeds) if isinstance(seeds, dict) else None
    if policy is not None:
        seeds = policy.max
    if isinstance(seeds, int):
        seeds = list(range(seeds))
    resources = {"gpus": 1, **doc.get("resources", {})}
    return Spec(name=name, description=doc.get("description", ""), group=doc.get("group", name),
                path=path, project_dir=project, base=dict(doc.get("base", {})),
                grid=dict(doc.get("grid", {})), zip=zips, include=tuple(doc.get("include", [])),
                exclude=tuple(doc.get("exclude", [])), seeds=tuple(seeds) if seeds else None,
                repeats=int(doc.get("repeats", 1)), tags=dict(doc.get("tags", {})),
                resources=resources, origins=origins, seed_policy=policy,
                search=search_section(doc["search"]) if "search" in doc else None)
