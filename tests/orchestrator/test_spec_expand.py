"""Spec semantics: grid / zip / include / exclude / seeds, extends merging, precedence, identity."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from orchestrator.errors import SpecError
from orchestrator.specs import expand, load_spec
from regseg.config import TrainConfig

from _orch_helpers import write_spec

ROOT = Path(__file__).resolve().parents[2]


def test_grid_zip_seeds_product_order_labels_and_identity(project: Path):
    path = write_spec(project, "s.yaml", """
name: s
group: g
base: {epochs: 3, decoder: decoder14}
grid:
  body: [exp48, exp43]
  lr: [0.05, 0.1]
zip:
  train_min_size: [400, 512]
  train_max_size: [1600, 2048]
seeds: [3, 4]
""")
    runs = expand(load_spec(path, project_dir=project))
    assert len(runs) == 2 * 2 * 2 * 2
    first = runs[0]
    assert first.point == {"model_name": "exp48_decoder14", "lr": 0.05, "train_min_size": 400,
                           "train_max_size": 1600}
    assert first.label == ("model_name=exp48_decoder14,lr=0.05,train_min_size=400,"
                           "train_max_size=1600")
    assert [r.seed for r in runs[:2]] == [3, 4] and runs[0].label == runs[1].label
    assert first.config.epochs == 3 and first.config.model_name == "exp48_decoder14"
    assert (first.spec_name, first.group) == ("s", "g")
    for run in runs:
        identity = json.dumps(run.config.identity(), sort_keys=True, separators=(",", ":"))
        assert run.run_hash == hashlib.sha256(identity.encode()).hexdigest()
    assert len({r.run_hash for r in runs}) == len(runs)
    again = expand(load_spec(path, project_dir=project))
    assert [r.run_hash for r in again] == [r.run_hash for r in runs]  # deterministic


def test_include_exclude_and_model_name_matching(project: Path):
    path = write_spec(project, "s.yaml", """
grid:
  body: [exp48, exp43]
  decoder: [decoder14, decoder26]
exclude:
  - {model_name: exp43_decoder26}
  - {body: exp48, decoder: decoder14}
include:
  - {model_name: exp53_decoder29, lr: 0.01}
""")
    runs = expand(load_spec(path, project_dir=project))
    assert [r.config.model_name for r in runs] == ["exp48_decoder26", "exp43_decoder14",
                                                   "exp53_decoder29"]
    assert runs[-1].config.lr == 0.01 and runs[-1].label == "model_name=exp53_decoder29,lr=0.01"
    assert runs[0].config.seed == TrainConfig().seed  # no seeds: the default seed


def test_extends_merges_base_and_tags_replaces_the_rest(project: Path):
    write_spec(project, "grand.yaml", """
name: grand
group: paper
description: grand
base: {epochs: 500, lr: 0.05, batch_size: 8}
tags: {a: 1, b: 1}
grid: {lr: [0.01, 0.02]}
seeds: 3
""")
    write_spec(project, "parent.yaml", """
extends: grand.yaml
base: {lr: 0.1, aug_mode: custom3}
tags: {b: 2}
""")
    child = write_spec(project, "child.yaml", """
extends: parent.yaml
base: {batch_size: 4}
tags: {c: 3}
grid: {body: [exp48], decoder: [decoder26]}
""")
    spec = load_spec(child, project_dir=project)
    assert spec.name == "child"  # never inherited
    assert (spec.group, spec.description) == ("paper", "grand")  # inherited
    assert spec.base == {"epochs": 500, "lr": 0.1, "batch_size": 4, "aug_mode": "custom3"}
    assert spec.tags == {"a": 1, "b": 2, "c": 3}
    assert spec.grid == {"body": ["exp48"], "decoder": ["decoder26"]}  # replaced, not merged
    runs = expand(spec)
    assert [r.seed for r in runs] == [0, 1, 2]
    cfg = runs[0].config
    assert (cfg.epochs, cfg.lr, cfg.batch_size, cfg.aug_mode) == (500, 0.1, 4, "custom3")
    assert cfg.momentum == TrainConfig().momentum  # defaults fill the rest


def test_precedence_defaults_base_overrides_point(project: Path):
    path = write_spec(project, "s.yaml", "base: {lr: 0.2, epochs: 7}\ngrid: {epochs: [1, 2]}\n")
    spec = load_spec(path, project_dir=project, overrides={"lr": 0.3, "epochs": 9})
    runs = expand(spec)
    assert [r.config.epochs for r in runs] == [1, 2]  # the point wins over --set
    assert {r.config.lr for r in runs} == {0.3}  # --set wins over base
    with pytest.raises(SpecError, match=r"--set: base\.lrr: unknown TrainConfig field"):
        load_spec(path, project_dir=project, overrides={"lrr": 1})


def test_paths_are_confined_unless_a_data_root_allows_them(project: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    outside = tmp_path / "cityscapes"
    outside.mkdir()
    path = write_spec(project, "s.yaml", f"base: {{dataset_dir: {outside}}}\n")
    with pytest.raises(SpecError, match="leaves the project directory"):
        expand(load_spec(path, project_dir=project))
    monkeypatch.setenv("REGSEG_DATA_ROOTS", str(outside))
    (run,) = expand(load_spec(path, project_dir=project))
    assert run.config.dataset_dir == str(outside)
    inside = write_spec(project, "t.yaml", "base: {dataset_dir: data/../data/x}\n")
    assert expand(load_spec(inside, project_dir=project))[0].config.dataset_dir == "data/../data/x"
    with pytest.raises(SpecError, match="leaves the project directory"):
        load_spec(path, project_dir=tmp_path / "elsewhere")  # the spec itself is outside


def test_home_and_symlink_paths_cannot_escape_the_project(project: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    # The data loader expands "~" (regseg/data/loaders.py), so "~/x" is checked expanded.
    home = tmp_path / "home"
    (home / "cityscapes").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    tilde = write_spec(project, "h.yaml", "base: {dataset_dir: ~/cityscapes}\n")
    with pytest.raises(SpecError, match=r"h\.yaml.*base\.dataset_dir.*leaves the project"):
        expand(load_spec(tilde, project_dir=project))
    (project / "link").symlink_to(home, target_is_directory=True)
    linked = write_spec(project, "l.yaml", "base: {pretrained_path: link/w.pt}\n")
    with pytest.raises(SpecError, match="leaves the project directory"):
        expand(load_spec(linked, project_dir=project))
    (home / "evil.yaml").write_text("base: {epochs: 1}\n")
    (project / "experiments" / "evil.yaml").symlink_to(home / "evil.yaml")
    with pytest.raises(SpecError, match="leaves the project directory"):
        load_spec(project / "experiments" / "evil.yaml", project_dir=project)


def test_alias_bomb_is_rejected_quickly(project: Path):
    # ~1 KB of nested YAML aliases expands to 10**9 nodes; the loader must not walk them all.
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = write_spec(project, "bomb.yaml", "grid:\n  lr:\n" + "".join(
        f"    - {{{line}}}\n" for line in levels))
    started = time.monotonic()
    with pytest.raises(SpecError, match=r"bomb\.yaml, line \d+: .*YAML nodes"):
        load_spec(path, project_dir=project)
    assert time.monotonic() - started < 10


def test_smoke_spec_is_a_small_real_ablation():
    runs = expand(load_spec(ROOT / "experiments" / "smoke.yaml", project_dir=ROOT))
    assert len(runs) == 8
    assert sorted({r.config.model_name for r in runs}) == [
        "exp30_decoder14", "exp30_decoder26", "exp48_decoder14", "exp48_decoder26"]
    assert sorted({r.seed for r in runs}) == [0, 1]
    for r in runs:
        cfg = r.config
        assert cfg.dataset_name == "synthetic" and tuple(cfg.train_crop_size) == (64, 128)
        assert cfg.epochs <= 5 and cfg.device == "auto"
