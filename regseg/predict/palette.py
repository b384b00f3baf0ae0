"""Colouring class maps: palettes, the overlay blend and the error map.

Class maps are ``uint8[H, W]`` train ids with 255 = ignore; images are ``uint8[H, W, 3]`` RGB.
The 19-class palette is Cityscapes' (cityscapesscripts' label table, via regseg.data.labels),
the 11-class one CamVid's; other class counts get a fixed generated palette.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from regseg.data.labels import CAMVID_COLOR_TO_CLASS, CITYSCAPES_COLORS, IGNORE

IGNORE_COLOR = (0, 0, 0)        # void in the Cityscapes colour images
ERROR_COLOR = (255, 0, 0)       # a wrong pixel in the error map
ERROR_IGNORE_COLOR = (128, 128, 128)  # an ignore pixel in the error map
ERROR_CORRECT_DIM = 0.3         # correct pixels show the image at 30% brightness (never pure red)

#: class count -> colours (index = class id).
PALETTES: dict[int, tuple[tuple[int, int, int], ...]] = {
    19: CITYSCAPES_COLORS,
    11: tuple(color for color, _ in sorted(CAMVID_COLOR_TO_CLASS.items(), key=lambda kv: kv[1])),
}


def _generated_color(index: int) -> tuple[int, int, int]:
    """The PASCAL VOC bit-interleaving palette: distinct, fixed colours for any class count."""
    r = g = b = 0
    c = index + 1  # skip black, which is the ignore colour
    for shift in range(7, -1, -1):
        r |= ((c >> 0) & 1) << shift
        g |= ((c >> 1) & 1) << shift
        b |= ((c >> 2) & 1) << shift
        c >>= 3
    return r, g, b


@lru_cache(maxsize=None)
def palette_for(num_classes: int) -> np.ndarray:
    """``uint8[256, 3]``: row c = colour of class c (c < num_classes), row 255 = IGNORE_COLOR.

    Rows between num_classes and 255 (ids a model cannot predict) are also IGNORE_COLOR.
    """
    table = np.zeros((256, 3), dtype=np.uint8)
    table[:] = IGNORE_COLOR
    known = PALETTES.get(num_classes)
    for c in range(min(num_classes, IGNORE)):
        table[c] = known[c] if known is not None else _generated_color(c)
    table.setflags(write=False)
    return table


def colorize(classes: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """uint8[H, W] class ids -> uint8[H, W, 3] colours."""
    return palette[classes]


def blend(image: np.ndarray, colors: np.ndarray, alpha: float) -> np.ndarray:
    """``round((1 - alpha) * image + alpha * colors)`` as uint8 (alpha 0: the image, 1: colours)."""
    mixed = (1.0 - alpha) * image.astype(np.float32) + alpha * colors.astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def error_map(image: np.ndarray, prediction: np.ndarray, label: np.ndarray, *,
              ignore_index: int = IGNORE) -> np.ndarray:
    """uint8[H, W, 3]: wrong pixels ERROR_COLOR, ignore pixels ERROR_IGNORE_COLOR, correct pixels
    the image dimmed to ERROR_CORRECT_DIM. ``prediction`` and ``label`` have the image's size."""
    out = np.rint(image.astype(np.float32) * ERROR_CORRECT_DIM).astype(np.uint8)
    ignored = label == ignore_index
    out[(prediction != label) & ~ignored] = ERROR_COLOR
    out[ignored] = ERROR_IGNORE_COLOR
    return out
