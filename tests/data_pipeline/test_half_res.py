"""`make_half_resolution` / `regseg make-half-res`: the fair ablations' half-resolution copy."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from regseg.data.half_res import make_half_resolution
from regseg.data.synthetic import make_synthetic
from regseg.errors import DatasetError

TRAIN, VAL = 4, 2


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("full"), train=TRAIN, val=VAL, size=(64, 128),
                          seed=3)


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_layout_mirrors_source_with_half_size_images_and_full_size_labels(src, tmp_path):
    dst = tmp_path / "half"
    counts = make_half_resolution(src, dst)
    assert counts == {"images": TRAIN + VAL, "labels": 2 * (TRAIN + VAL), "skipped": 0}
    assert _files(dst) == _files(src)  # same names, no temp files left behind
    for rel in _files(src):
        full, half = Image.open(src / rel), Image.open(dst / rel)
        assert half.mode == full.mode
        if "gtFine" in rel:  # the reference stored only the images at half resolution
            assert (dst / rel).read_bytes() == (src / rel).read_bytes() or \
                np.array_equal(np.array(half), np.array(full))
        else:
            assert half.size == (64, 32)


def test_labels_can_be_shrunk_too_with_nearest(src, tmp_path):
    dst = tmp_path / "half_labels"
    make_half_resolution(src, dst, label_factor=2)
    for rel in _files(src):
        if "gtFine" in rel:
            full, half = Image.open(src / rel), Image.open(dst / rel)
            assert half.size == (64, 32)
            assert set(np.unique(half).tolist()) <= set(np.unique(full).tolist())


def test_rerun_skips_everything_and_resumes(src, tmp_path):
    dst = tmp_path / "half"
    make_half_resolution(src, dst)
    before = {f: (dst / f).read_bytes() for f in _files(dst)}
    assert make_half_resolution(src, dst) == {"images": 0, "labels": 0,
                                              "skipped": 3 * (TRAIN + VAL)}
    victim = next(f for f in before if f.endswith("_leftImg8bit.png"))
    (dst / victim).unlink()
    assert make_half_resolution(src, dst) == {"images": 1, "labels": 0,
                                              "skipped": 3 * (TRAIN + VAL) - 1}
    assert {f: (dst / f).read_bytes() for f in _files(dst)} == before


def test_only_requested_splits_and_factor(src, tmp_path):
    counts = make_half_resolution(src, tmp_path / "q", factor=4, splits=("val",))
    assert counts["images"] == VAL and not (tmp_path / "q" / "leftImg8bit" / "train").exists()
    assert all(Image.open(tmp_path / "q" / f).size == (32, 16) for f in _files(tmp_path / "q")
               if "leftImg8bit" in f)


def test_missing_or_empty_split_raises_naming_the_path(src, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(src, partial)
    shutil.rmtree(partial / "leftImg8bit" / "val")
    with pytest.raises(DatasetError, match=re.escape(str(partial / "leftImg8bit" / "val"))):
        make_half_resolution(partial, tmp_path / "out")
    (partial / "leftImg8bit" / "val").mkdir()
    with pytest.raises(DatasetError, match=re.escape(str(partial / "leftImg8bit" / "val"))):
        make_half_resolution(partial, tmp_path / "out", splits=("val",))
    with pytest.raises(DatasetError, match="factor"):
        make_half_resolution(src, tmp_path / "out", factor=0)
    with pytest.raises(DatasetError, match="source"):
        make_half_resolution(src, src)


def test_loaders_read_the_copy(src, tmp_path):
    from regseg.config import TrainConfig
    from regseg.data import build_loaders

    dst = tmp_path / "half"
    make_half_resolution(src, dst)
    cfg = TrainConfig(dataset_name="cityscapes", dataset_dir=str(dst), batch_size=2,
                      train_min_size=48, train_max_size=64, train_crop_size=(32, 32),
                      val_input_size=64, val_label_size=64, num_workers=0, num_classes=19,
                      class_uniform_pct=0.0)
    train, val = build_loaders(cfg)
    x, y = next(iter(train))
    assert x.shape == (2, 3, 32, 32) and set(y.unique().tolist()) <= set(range(19)) | {255}
    assert len(val) == VAL
    vx, vy = next(iter(val))  # the val resize brings the half-size copy back up
    assert vx.shape == (1, 3, 64, 128) and vy.shape == (1, 64, 128)


def test_cli_make_half_res(src, tmp_path):
    from regseg.cli import app

    args = ["make-half-res", str(src), str(tmp_path / "half"), "--splits", "train,val",
            "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["images"], out["labels"], out["skipped"], out["factor"]) == (
        TRAIN + VAL, 2 * (TRAIN + VAL), 0, 2)
    assert _files(tmp_path / "half") == _files(src)
