"""A downscaled copy of a Cityscapes-layout dataset (the reference's ``cityscapes_dataset_half``).

The paper's "fair" ablations read Cityscapes with the images stored at half resolution
(1024x512) and "resized back to full resolution when loading" (the reference's
AblationStudies.md): the train/val resize of the short side brings them back up, while the labels
stay at full resolution (so val is scored on the true labels and class-uniform tiles of 1024 px
exist). :func:`make_half_resolution` writes that copy: the same ``leftImg8bit/<split>/<city>/``
and ``gtFine/<split>/<city>/`` layout, photos shrunk by ``factor`` (bilinear), label images
copied unchanged by default (``label_factor=1``; nearest when shrunk, so ids stay valid).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable, Sequence

from PIL import Image

from regseg.data.datasets import find_cityscapes
from regseg.errors import DatasetError

# The label images copied next to each photo (other gtFine files, e.g. polygons and instance
# ids, are ignored); find_cityscapes accepts either one.
_LABEL_SUFFIXES = ("_gtFine_labelTrainIds.png", "_gtFine_labelIds.png")


def make_half_resolution(src: str | Path, dst: str | Path, *, factor: int = 2,
                         splits: Sequence[str] = ("train", "val"), label_factor: int = 1,
                         progress: bool | None = None) -> dict[str, int]:
    """Write ``src``'s Cityscapes ``splits`` under ``dst`` with every image downscaled by
    ``factor``.

    Reads ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` and, when present, the
    ``*_gtFine_labelTrainIds.png`` / ``*_gtFine_labelIds.png`` beside them in ``gtFine/``; writes
    the same relative paths under ``dst``: photos at ``(W // factor, H // factor)`` with
    ``Image.BILINEAR``, labels at ``(W // label_factor, H // label_factor)`` with
    ``Image.NEAREST``. A destination file that already exists with
    that size is skipped (re-running is cheap and resumes an interrupted copy); every file is
    written under a temporary name and moved into place with ``os.replace``. ``progress`` shows a
    progress bar on stderr (default: when stdout is a terminal).

    Returns ``{"images": written, "labels": written, "skipped": files already there}``. Raises
    DatasetError naming the path when ``leftImg8bit/<split>`` (or ``gtFine/<split>``) is missing,
    holds no images or an image has no label, when ``factor < 1``, ``splits`` is empty or ``dst``
    is ``src``.
    """
    for name, value in (("factor", factor), ("label_factor", label_factor)):
        if int(value) != value or value < 1:
            raise DatasetError(f"make_half_resolution {name}: expected an integer >= 1, "
                               f"got {value!r}")
    if isinstance(splits, str) or not splits:
        raise DatasetError(f"make_half_resolution splits: expected a non-empty list of names, "
                           f"got {splits!r}")
    src, dst = Path(src).expanduser(), Path(dst).expanduser()
    if dst.resolve() == src.resolve():
        raise DatasetError(f"make_half_resolution: destination {dst} is the source; "
                           f"choose another directory")
    items = [item for split in splits for item in find_cityscapes(src, split)]
    counts = {"images": 0, "labels": 0, "skipped": 0}
    show = sys.stdout.isatty() if progress is None else progress
    for image, label in _track(items, show):
        done = _shrink(image, src, dst, int(factor), Image.BILINEAR)
        counts["images" if done else "skipped"] += 1
        for path in _label_files(image, label):
            done = _shrink(path, src, dst, int(label_factor), Image.NEAREST)
            counts["labels" if done else "skipped"] += 1
    return counts


def _label_files(image: Path, label: Path) -> list[Path]:
    """The label images of ``image`` that exist (``label`` is the one find_cityscapes chose)."""
    stem = image.name[: -len("_leftImg8bit.png")]
    return [p for p in (label.with_name(stem + s) for s in _LABEL_SUFFIXES) if p.is_file()]


def _shrink(path: Path, src: Path, dst: Path, factor: int, resample: int) -> bool:
    """Write ``path`` shrunk by ``factor`` at the same place under ``dst``; False if already
    there."""
    out = dst / path.relative_to(src)
    with Image.open(path) as im:
        size = (max(1, im.width // factor), max(1, im.height // factor))
        if _size_of(out) == size:
            return False
        small = im.resize(size, resample) if size != im.size else im.copy()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        small.save(tmp, format="PNG")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _size_of(path: Path) -> tuple[int, int] | None:
    """(width, height) of an existing readable image, else None."""
    try:
        with Image.open(path) as im:
            return im.size
    except OSError:  # missing, or not an image (overwritten)
        return None


def _track(items: list, show: bool) -> Iterable:
    from regseg.engine.progress import track

    return track(items, total=len(items), desc="make-half-res", enabled=show, transient=False,
                 unit="img")
