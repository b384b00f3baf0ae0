"""A synthetic street-scene dataset in the exact Cityscapes layout, for demos and tests.

Each image is a crude street scene: sky above a horizon, road below, sidewalk wedges, building
and vegetation bands, and a handful of objects (cars, poles, signs, people...) drawn as class-
specific shapes. Every train id has its own colour (the Cityscapes palette) and texture (flat,
stripes or checker), so a tiny model learns it quickly; Gaussian noise and a per-image brightness
change keep it from being trivial. Void pixels (an ego-vehicle band, "unlabeled" blobs) carry
label ids 1 and 0, i.e. train id 255.

Every image has sky, road, sidewalk, building and vegetation, and any 3 consecutive images of a
split hold all 14 object classes between them (objects may hide parts of others), so all 19
train ids appear in even a small validation split and per-class IoU is defined. Output is a pure
function of
(seed, split, image index, size): regenerating gives byte-identical PNGs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from regseg.data.labels import (
    CITYSCAPES_COLORS,
    CITYSCAPES_TRAIN_ID_TO_ID,
    cityscapes_id_to_train_id_lut,
)
from regseg.errors import DatasetError

_CITIES = {"train": ("synthville", "pixelburg"), "val": ("valtown",)}
_SPLIT_CODE = {"train": 1, "val": 2}
# Objects placed on top of the background: train id -> (shape, height, width as fractions of H).
_OBJECTS = {
    3: ("rect", (0.15, 0.3), (0.3, 0.6)),     # wall
    4: ("rect", (0.08, 0.15), (0.4, 0.8)),    # fence
    5: ("rect", (0.35, 0.6), (0.04, 0.07)),   # pole
    6: ("rect", (0.12, 0.2), (0.05, 0.08)),   # traffic light
    7: ("disc", (0.1, 0.18), (0.1, 0.18)),    # traffic sign
    11: ("ellipse", (0.25, 0.4), (0.07, 0.12)),  # person
    12: ("ellipse", (0.25, 0.35), (0.1, 0.15)),  # rider
    13: ("rect", (0.12, 0.2), (0.25, 0.4)),   # car
    14: ("rect", (0.2, 0.3), (0.35, 0.5)),    # truck
    15: ("rect", (0.22, 0.32), (0.5, 0.7)),   # bus
    16: ("rect", (0.2, 0.28), (0.7, 1.0)),    # train
    17: ("ellipse", (0.12, 0.18), (0.15, 0.22)),  # motorcycle
    18: ("ellipse", (0.12, 0.18), (0.18, 0.25)),  # bicycle
    9: ("ellipse", (0.1, 0.2), (0.3, 0.6)),   # terrain patch
}
_OBJECT_IDS = tuple(sorted(_OBJECTS))
_ALWAYS = (0, 1, 2, 8, 10)  # road, sidewalk, building, vegetation, sky: part of every background
_PER_IMAGE = 5  # guaranteed object classes per image; 14 object classes -> full cover every 3


def make_synthetic(root: str | Path, *, train: int, val: int, size: tuple[int, int] = (64, 128),
                   seed: int = 0) -> Path:
    """Write ``train``/``val`` images of ``size`` (height, width) under ``root``; return ``root``.

    Layout: ``leftImg8bit/<split>/<city>/<city>_<seq:06d>_<frame:06d>_leftImg8bit.png`` (RGB) and
    ``gtFine/<split>/<city>/<stem>_gtFine_labelIds.png`` / ``_gtFine_labelTrainIds.png`` (uint8).
    Existing files with the same names are overwritten; nothing else is touched.
    """
    h, w = (int(size[0]), int(size[1]))
    if h < 16 or w < 16:
        raise DatasetError(f"make_synthetic size: expected height and width >= 16, got {(h, w)}")
    if train < 0 or val < 0:
        raise DatasetError(f"make_synthetic counts: expected train, val >= 0, got {(train, val)}")
    root = Path(root)
    lut = cityscapes_id_to_train_id_lut()
    for split, count in (("train", train), ("val", val)):
        cities = _CITIES[split]
        for i in range(count):
            city = cities[i % len(cities)]
            stem = f"{city}_{i // len(cities):06d}_{19 + i % 7:06d}"
            rgb, ids = render_scene(np.random.default_rng([seed, _SPLIT_CODE[split], i]), h, w, i)
            img_dir = root / "leftImg8bit" / split / city
            gt_dir = root / "gtFine" / split / city
            img_dir.mkdir(parents=True, exist_ok=True)
            gt_dir.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb).save(img_dir / f"{stem}_leftImg8bit.png", compress_level=1)
            Image.fromarray(ids).save(gt_dir / f"{stem}_gtFine_labelIds.png", compress_level=1)
            Image.fromarray(lut[ids]).save(gt_dir / f"{stem}_gtFine_labelTrainIds.png",
                                           compress_level=1)
    return root


def render_scene(rng: np.random.Generator, h: int, w: int, index: int) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """One scene: (uint8[h, w, 3] image, uint8[h, w] Cityscapes label ids)."""
    train_ids = _background(rng, h, w)
    start = (index * _PER_IMAGE) % len(_OBJECT_IDS)
    guaranteed = [_OBJECT_IDS[(start + j) % len(_OBJECT_IDS)] for j in range(_PER_IMAGE)]
    extras = [int(t) for t in rng.choice(_OBJECT_IDS, size=int(rng.integers(0, 4)))]
    # extras first, then the guaranteed ones from large to small, so none is fully hidden
    for t in extras + sorted(guaranteed, key=_mean_area, reverse=True):
        _draw_object(rng, train_ids, t)
    ids = np.asarray(CITYSCAPES_TRAIN_ID_TO_ID, dtype=np.uint8)[train_ids]
    void = _void_mask(rng, h, w)
    ids[void == 1] = 1  # ego vehicle
    ids[void == 2] = 0  # unlabeled
    return _paint(rng, train_ids, void), ids


def _mean_area(train_id: int) -> float:
    _, (hmin, hmax), (wmin, wmax) = _OBJECTS[train_id]
    return (hmin + hmax) * (wmin + wmax)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """train-id map of sky / buildings / vegetation / road / sidewalk bands."""
    t = np.full((h, w), 0, dtype=np.int64)  # road
    horizon = int(h * rng.uniform(0.35, 0.5))
    t[:horizon] = 10  # sky
    roof = int(horizon * rng.uniform(0.2, 0.5))
    x, k = 0, 0
    while x < w:  # a skyline of buildings and trees; the first two blocks are one of each
        bw = int(rng.integers(max(2, w // 10), max(3, w // 4)))
        top = int(np.clip(roof + rng.integers(-h // 10, h // 10 + 1), 1, horizon - 1))
        t[top:horizon, x:x + bw] = (2, 8)[k] if k < 2 else (2 if rng.random() < 0.65 else 8)
        x, k = x + bw, k + 1
    yy, xx = np.mgrid[horizon:h, 0:w]
    slope = rng.uniform(0.6, 1.2) * (h - horizon) / max(w, 1)
    left = (yy - horizon) > (xx + w * rng.uniform(0.05, 0.2)) * slope * 1.5
    right = (yy - horizon) > (w - xx + w * rng.uniform(0.05, 0.2)) * slope * 1.5
    t[horizon:][left | right] = 1  # sidewalk wedges
    return t


def _draw_object(rng: np.random.Generator, t: np.ndarray, train_id: int) -> None:
    h, w = t.shape
    shape, (hmin, hmax), (wmin, wmax) = _OBJECTS[train_id]
    oh = max(2, int(h * rng.uniform(hmin, hmax)))
    ow = max(2, int(h * rng.uniform(wmin, wmax)))
    cy = int(rng.integers(h // 4, h - oh // 2)) if h - oh // 2 > h // 4 else h // 2
    cx = int(rng.integers(0, w))
    yy, xx = np.mgrid[0:h, 0:w]
    dy, dx = (yy - cy) / (oh / 2), (xx - cx) / (ow / 2)
    inside = (np.abs(dy) <= 1) & (np.abs(dx) <= 1) if shape == "rect" else dy**2 + dx**2 <= 1
    t[inside] = train_id


def _void_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """0 = labelled, 1 = ego-vehicle band (half the images), 2 = small unlabeled blobs."""
    void = np.zeros((h, w), dtype=np.uint8)
    if rng.random() < 0.5:
        void[h - max(1, h // 16):] = 1
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(int(rng.integers(0, 3))):
        r = max(1.0, h * rng.uniform(0.02, 0.05))
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        void[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 2
    return void


def _paint(rng: np.random.Generator, t: np.ndarray, void: np.ndarray) -> np.ndarray:
    """Class colour x texture + noise; void pixels dark."""
    h, w = t.shape
    yy, xx = np.mgrid[0:h, 0:w]
    textures = np.stack([
        np.zeros((h, w)),                               # flat
        np.where((yy // 2) % 2 == 0, 1.0, -1.0),        # horizontal stripes
        np.where((xx // 2) % 2 == 0, 1.0, -1.0),        # vertical stripes
        np.where(((yy // 3) + (xx // 3)) % 2 == 0, 1.0, -1.0),  # checker
    ])
    colors = np.asarray(CITYSCAPES_COLORS, dtype=np.float64)
    img = colors[t] + 22.0 * textures[t % 4, yy, xx][..., None]
    img = img * rng.uniform(0.85, 1.15) + rng.normal(0.0, 8.0, size=(h, w, 3))
    img[void > 0] = rng.normal(20.0, 6.0, size=(int((void > 0).sum()), 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
