"""Train/val transforms: order properties, fills, alignment of image and label, aug modes."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image

from regseg.data.augment import RANDAUG_OPS_FULL, apply_op, list_aug_modes
from regseg.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PAD_FILL,
    TrainTransform,
    ValTransform,
)

# A colour per class, far apart, so a pixel's colour tells its label after any geometry.
PALETTE = np.array([[(37 * c) % 256, (91 * c + 40) % 256, (151 * c + 80) % 256] for c in range(20)],
                   dtype=np.uint8)


def _scene(h=40, w=60, seed=0):
    """Blocky asymmetric label (classes 0-19, no 255) and an image that is PALETTE[label]."""
    rng = np.random.default_rng(seed)
    label = np.repeat(np.repeat(rng.integers(0, 20, size=(h // 4, w // 4)), 4, 0),
                      4, 1).astype(np.uint8)
    return Image.fromarray(PALETTE[label]), Image.fromarray(label)


def _denorm(img: torch.Tensor) -> np.ndarray:
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return ((img * std + mean) * 255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


@pytest.mark.parametrize("crop", [(24, 32), (64, 96), (40, 200)])
@pytest.mark.parametrize("pad_before_crop", [False, True])
def test_output_is_crop_sized_and_typed(crop, pad_before_crop):
    tf = TrainTransform(30, 50, crop, "baseline", 255, pad_before_crop)
    image, label = _scene()
    for seed in range(5):
        x, y = tf(image, label, rng=random.Random(seed))
        assert x.shape == (3, *crop) and x.dtype == torch.float32
        assert y.shape == crop and y.dtype == torch.uint8


@pytest.mark.parametrize("pad_before_crop", [False, True])
def test_image_and_label_stay_aligned_and_pads_use_the_fills(pad_before_crop):
    """No resize (min=max=short side): every pixel's colour must match its label; pads = fills."""
    image, label = _scene()
    tf = TrainTransform(40, 40, (64, 48), "baseline", 255, pad_before_crop)
    pad_rgb = np.array(PAD_FILL, dtype=np.uint8)
    offsets = set()
    for seed in range(12):
        x, y = tf(image, label, rng=random.Random(seed))
        rgb, lbl = _denorm(x), y.numpy()
        valid = lbl != 255
        assert np.array_equal(rgb[valid], PALETTE[lbl[valid]])
        assert (rgb[~valid] == pad_rgb).all() and (~valid).sum() == 64 * 48 - 40 * 48
        offsets.add(int(np.flatnonzero(valid.any(1))[0]))
    assert len(offsets) > 1  # the pad offset is random


def test_flip_happens_about_half_the_time_and_moves_both():
    image, label = _scene(40, 40)
    tf = TrainTransform(40, 40, (40, 40), "baseline")
    original = np.array(label)
    flips = 0
    for seed in range(40):
        x, y = tf(image, label, rng=random.Random(seed))
        lbl = y.numpy()
        flipped = np.array_equal(lbl, original[:, ::-1])
        assert flipped or np.array_equal(lbl, original)
        assert np.array_equal(_denorm(x), PALETTE[lbl])
        flips += flipped
    assert 8 <= flips <= 32


def test_random_resize_short_side_in_range():
    image, label = _scene(40, 60)
    tf = TrainTransform(20, 30, (100, 100), "baseline")  # crop larger than any resize: all kept
    shorts = set()
    for seed in range(30):
        _, y = tf(image, label, rng=random.Random(seed))
        valid = (y != 255).numpy()
        h, w = int(valid.any(1).sum()), int(valid.any(0).sum())
        assert 20 <= min(h, w) <= 30 and abs(w / h - 1.5) < 0.1
        shorts.add(min(h, w))
    assert len(shorts) > 3


def test_same_seed_same_sample_different_seed_different():
    image, label = _scene()
    tf = TrainTransform(30, 60, (32, 32), "randaug_reduced")
    a = tf(image, label, rng=random.Random(1))
    b = tf(image, label, rng=random.Random(1))
    c = tf(image, label, rng=random.Random(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize("mode", list_aug_modes())
def test_every_aug_mode_keeps_labels_valid(mode):
    image, label = _scene()
    tf = TrainTransform(36, 48, (32, 40), mode)
    allowed = set(np.unique(np.array(label)).tolist()) | {255}
    for seed in range(4):
        x, y = tf(image, label, rng=random.Random(seed))
        assert x.shape == (3, 32, 40) and torch.isfinite(x).all()
        assert set(torch.unique(y).tolist()) <= allowed


def test_colour_jitter_changes_the_image_not_the_label():
    image, label = _scene(40, 40)
    base = TrainTransform(40, 40, (40, 40), "baseline")
    jitter = TrainTransform(40, 40, (40, 40), "custom3")
    xb, yb = base(image, label, rng=random.Random(3))
    xj, yj = jitter(image, label, rng=random.Random(3))
    assert torch.equal(yb, yj) and (xb - xj).abs().max() > 0.05


@pytest.mark.parametrize("op", ["rotate", "shear_x", "shear_y", "trans_x", "trans_y"])
def test_geometric_ops_move_the_label_and_fill_with_mean_and_ignore(op):
    image, label = _scene(40, 40)
    img, lbl = apply_op(image, label, op, 1.0, random.Random(0), fill=PAD_FILL, ignore_value=255)
    lbl_arr, img_arr = np.array(lbl), np.array(img)
    assert (lbl_arr == 255).any() and not np.array_equal(lbl_arr, np.array(label))
    assert (img_arr[lbl_arr == 255] == np.array(PAD_FILL)).all(-1).mean() > 0.5


@pytest.mark.parametrize("op", [o for o in RANDAUG_OPS_FULL
                                if o not in {"rotate", "shear_x", "shear_y", "trans_x", "trans_y"}])
def test_photometric_ops_leave_the_label(op):
    image, label = _scene(40, 40)
    _, lbl = apply_op(image, label, op, 0.2, random.Random(0), fill=PAD_FILL, ignore_value=255)
    assert lbl is label


def test_val_transform_resizes_short_sides():
    image, label = _scene(40, 80)
    x, y = ValTransform(20, 40)(image, label)
    assert x.shape == (3, 20, 40) and y.shape == (40, 80) and y.dtype == torch.uint8
    x, y = ValTransform(40, 40)(image, label)
    assert (np.array_equal(_denorm(x), np.array(image))
            and np.array_equal(y.numpy(), np.array(label)))


def test_pad_fill_is_the_references_truncated_imagenet_mean():
    assert PAD_FILL == (123, 116, 103)
