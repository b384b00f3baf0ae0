"""The synthetic Cityscapes-layout generator and `regseg make-synthetic`."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest
import typer
from cityscapesscripts.helpers.labels import id2label
from PIL import Image
from typer.testing import CliRunner

from regseg.data.synthetic import make_synthetic
from regseg.errors import DatasetError

STEM = re.compile(r"^(?P<city>[a-z]+)_(?P<seq>\d{6})_(?P<frame>\d{6})$")


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))


def test_layout_is_exactly_cityscapes(synthetic_dataset):
    root = synthetic_dataset
    assert sorted(p.name for p in root.iterdir()) == ["gtFine", "leftImg8bit"]
    for split, count in (("train", 16), ("val", 8)):
        images = sorted((root / "leftImg8bit" / split).glob("*/*_leftImg8bit.png"))
        assert len(images) == count
        for img in images:
            stem = img.name.removesuffix("_leftImg8bit.png")
            match = STEM.match(stem)
            assert match and match["city"] == img.parent.name
            gt = root / "gtFine" / split / img.parent.name
            rgb = np.array(Image.open(img))
            ids = np.array(Image.open(gt / f"{stem}_gtFine_labelIds.png"))
            train_ids = np.array(Image.open(gt / f"{stem}_gtFine_labelTrainIds.png"))
            assert rgb.shape == (64, 128, 3) and rgb.dtype == np.uint8
            assert (ids.shape == train_ids.shape == (64, 128)
                    and ids.dtype == train_ids.dtype == np.uint8)
            mapped = np.vectorize(lambda i: id2label[int(i)].trainId % 256)(ids)
            # the two label files agree per cityscapesscripts
            assert np.array_equal(mapped, train_ids)


def test_every_train_id_and_some_void_appear_in_val(synthetic_dataset):
    labels = [np.array(Image.open(p))
              for p in (synthetic_dataset / "gtFine/val").glob("*/*TrainIds.png")]
    present = set(np.unique(np.concatenate([lbl.ravel() for lbl in labels])).tolist())
    assert present == set(range(19)) | {255}


def test_classes_are_separable_by_colour(synthetic_dataset):
    """Learnable structure: mean colours of the classes differ clearly (nearest-mean > 60%
    right)."""
    rgbs, lbls = [], []
    for img in sorted((synthetic_dataset / "leftImg8bit/train").glob("*/*.png")):
        stem = img.name.removesuffix("_leftImg8bit.png")
        gt = (synthetic_dataset / "gtFine/train" / img.parent.name
              / f"{stem}_gtFine_labelTrainIds.png")
        rgbs.append(np.array(Image.open(img)).reshape(-1, 3).astype(float))
        lbls.append(np.array(Image.open(gt)).ravel())
    rgb, lbl = np.concatenate(rgbs), np.concatenate(lbls)
    keep = lbl < 19
    means = np.stack([rgb[lbl == c].mean(0) for c in range(19)])
    pred = np.argmin(((rgb[keep][:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == lbl[keep]).mean() > 0.6


def test_deterministic_for_a_seed(tmp_path):
    a = make_synthetic(tmp_path / "a", train=3, val=2, size=(32, 48), seed=7)
    b = make_synthetic(tmp_path / "b", train=3, val=2, size=(32, 48), seed=7)
    c = make_synthetic(tmp_path / "c", train=3, val=2, size=(32, 48), seed=8)
    assert _files(a) == _files(b) == _files(c)
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in _files(a))
    assert any((a / f).read_bytes() != (c / f).read_bytes() for f in _files(a))
    # an image does not depend on how many others are generated
    d = make_synthetic(tmp_path / "d", train=1, val=0, size=(32, 48), seed=7)
    assert all((a / f).read_bytes() == (d / f).read_bytes() for f in _files(d))


def test_fast(tmp_path):
    t0 = time.perf_counter()
    make_synthetic(tmp_path, train=100, val=20, size=(64, 128), seed=0)
    assert time.perf_counter() - t0 < 10.0


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(DatasetError, match="size"):
        make_synthetic(tmp_path, train=1, val=1, size=(8, 8), seed=0)


def _cli() -> typer.Typer:
    from regseg.cli.data import register

    app = typer.Typer()
    app.callback()(lambda: None)  # keep the group form even with a single command registered
    register(app)
    return app


def test_cli_make_synthetic(tmp_path):
    result = CliRunner().invoke(_cli(), ["make-synthetic", str(tmp_path / "ds"), "--train", "2",
                                         "--val", "1", "--size", "32", "64", "--seed", "5",
                                         "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["train"], out["val"], out["height"], out["width"], out["seed"]) == (2, 1, 32, 64, 5)
    assert len(_files(tmp_path / "ds")) == 3 * 3
    ref = make_synthetic(tmp_path / "ref", train=2, val=1, size=(32, 64), seed=5)
    assert all((ref / f).read_bytes() == (tmp_path / "ds" / f).read_bytes() for f in _files(ref))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_any_three_consecutive_images_hold_all_train_ids(seed):
    from regseg.data.labels import cityscapes_id_to_train_id_lut
    from regseg.data.synthetic import render_scene

    lut = cityscapes_id_to_train_id_lut()
    present = [set(np.unique(
                   lut[render_scene(np.random.default_rng([seed, 2, i]), 48, 96, i)[1]]).tolist())
               for i in range(9)]
    for i in range(7):
        assert set(range(19)) <= present[i] | present[i + 1] | present[i + 2]
