"""Class tables: Cityscapes (from cityscapesscripts' label table) and CamVid (the reference's 11).

No torch import: config validation and the CLI read these cheaply.
"""

from __future__ import annotations

import numpy as np
from cityscapesscripts.helpers.labels import labels as _CS_LABELS

IGNORE = 255

#: Train ids the paper's 16-class mIoU^R leaves out (truck, bus, train; Cityscapes only).
REDUCED_EXCLUDE: tuple[int, ...] = (14, 15, 16)

#: The 19 Cityscapes train-id class names, index = train id.
CITYSCAPES_CLASSES: tuple[str, ...] = tuple(
    lab.name for lab in sorted((lb for lb in _CS_LABELS if 0 <= lb.trainId < 255),
                               key=lambda lb: lb.trainId)
)

#: train id -> (labelId, RGB colour) of the evaluated Cityscapes label with that train id.
CITYSCAPES_TRAIN_ID_TO_ID: tuple[int, ...] = tuple(
    next(lb.id for lb in _CS_LABELS if lb.trainId == t and not lb.ignoreInEval) for t in range(19)
)
CITYSCAPES_COLORS: tuple[tuple[int, int, int], ...] = tuple(
    next(lb.color for lb in _CS_LABELS if lb.trainId == t and not lb.ignoreInEval)
    for t in range(19)
)


def cityscapes_id_to_train_id_lut() -> np.ndarray:
    """uint8[256] lookup table labelId -> train id (255 for every void / ignored id)."""
    lut = np.full(256, IGNORE, dtype=np.uint8)
    for lb in _CS_LABELS:
        if 0 <= lb.id < 256 and 0 <= lb.trainId < 255:
            lut[lb.id] = lb.trainId
    return lut


#: CamVid's 11 classes in the reference's order (datasets/camvid.py), index = class id.
CAMVID_CLASSES: tuple[str, ...] = (
    "Building", "Tree", "Sky", "Car", "SignSymbol", "Road",
    "Pedestrian", "Fence", "Column_Pole", "Sidewalk", "Bicyclist",
)
#: CamVid label colour -> class id, for colour-coded label PNGs (other colours are ignored).
CAMVID_COLOR_TO_CLASS: dict[tuple[int, int, int], int] = {
    (128, 0, 0): 0, (128, 128, 0): 1, (128, 128, 128): 2, (64, 0, 128): 3, (192, 128, 128): 4,
    (128, 64, 128): 5, (64, 64, 0): 6, (64, 64, 128): 7, (192, 192, 128): 8, (0, 0, 192): 9,
    (0, 128, 192): 10,
}


def camvid_rgb_to_classes(rgb: np.ndarray) -> np.ndarray:
    """uint8[H, W, 3] colour label -> uint8[H, W] class ids (255 where the colour is unknown)."""
    key = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    out = np.full(rgb.shape[:2], IGNORE, dtype=np.uint8)
    for (r, g, b), cls in CAMVID_COLOR_TO_CLASS.items():
        out[key == ((r << 16) | (g << 8) | b)] = cls
    return out
