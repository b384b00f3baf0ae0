"""Writing a prediction: colour PNGs for people, labelIds PNGs for the Cityscapes server.

Per image, under the output directory at the image's output name ``<name>``:
``<name>_pred.png`` (colour prediction, palette PNG), ``<name>_overlay.png`` (the colours blended
on the image), and when ground truth exists ``<name>_gt.png`` (palette PNG, ignore black) and
``<name>_error.png`` (see regseg.predict.palette.error_map). Everything has the image's size;
a label of another size is resized to it (nearest) first.

Cityscapes submission: ``<dir>/<city>/<city>_<seq>_<frame>_leftImg8bit.png``, uint8 labelIds
(train ids mapped back with cityscapesscripts' table), as the benchmark server and
cityscapesscripts' evaluation match predictions by ``<city>_<seq>_<frame>*.png`` in any folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from regseg.data.datasets import read_cityscapes_label
from regseg.data.labels import CITYSCAPES_TRAIN_ID_TO_ID
from regseg.predict.palette import blend, colorize, error_map

SUFFIXES = {"prediction": "_pred.png", "overlay": "_overlay.png", "label": "_gt.png",
            "error": "_error.png"}
_COMPRESS_LEVEL = 3  # visibly the same size as the default 6, several times faster to write


def _train_id_to_id_lut() -> np.ndarray:
    lut = np.zeros(256, dtype=np.uint8)  # anything else -> 0 ("unlabeled", ignored in eval)
    lut[: len(CITYSCAPES_TRAIN_ID_TO_ID)] = CITYSCAPES_TRAIN_ID_TO_ID
    return lut


_TRAIN_ID_TO_ID = _train_id_to_id_lut()


def save_classes(classes: np.ndarray, palette: np.ndarray, path: Path) -> Path:
    """uint8[H, W] class ids as a palette PNG (exact colours, small files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(classes)  # "L"; putpalette makes it "P"
    im.putpalette(palette.reshape(-1).tolist())
    im.save(path, compress_level=_COMPRESS_LEVEL)
    return path


def save_rgb(rgb: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, compress_level=_COMPRESS_LEVEL)
    return path


def read_label(path: Path, size: tuple[int, int]) -> np.ndarray:
    """uint8[H, W] train ids of a Cityscapes label file at ``size`` (height, width)."""
    label = read_cityscapes_label(path)
    if label.shape != tuple(size):
        label = np.array(Image.fromarray(label).resize((size[1], size[0]),
                                                       Image.Resampling.NEAREST))
    return label


def write_visuals(out_dir: Path, name: Path, image: np.ndarray, prediction: np.ndarray,
                  label: np.ndarray | None, *, palette: np.ndarray, alpha: float) -> list[Path]:
    """Write the colour prediction and overlay (and ground truth + error map when ``label`` is
    given) of one image; returns the written paths."""
    base = out_dir / name
    colors = colorize(prediction, palette)
    written = [save_classes(prediction, palette, _with(base, "prediction")),
               save_rgb(blend(image, colors, alpha), _with(base, "overlay"))]
    if label is not None:
        written.append(save_classes(label, palette, _with(base, "label")))
        written.append(save_rgb(error_map(image, prediction, label), _with(base, "error")))
    return written


def _with(base: Path, kind: str) -> Path:
    return base.with_name(base.name + SUFFIXES[kind])


def submission_path(submission_dir: Path, core: str) -> Path:
    """Where the benchmark file of ``<city>_<seq>_<frame>`` goes."""
    return submission_dir / core.split("_", 1)[0] / f"{core}_leftImg8bit.png"


def write_submission(prediction: np.ndarray, path: Path) -> Path:
    """uint8[H, W] train ids -> a single-channel labelIds PNG at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_TRAIN_ID_TO_ID[prediction]).save(path, compress_level=_COMPRESS_LEVEL)
    return path
