"""Finding the images to predict and the ground truth stored next to them.

Inputs are files or directories (searched recursively, sorted, hidden directories skipped).
Label files of a Cityscapes tree (``*_gtFine_*``) are never taken for images, so the dataset root
itself can be given. Each image gets an output name: its path relative to the directory it was
found in (a file given directly: its name), without the suffix and without ``_leftImg8bit``.

Ground truth follows the Cityscapes layout:
``<root>/leftImg8bit/<split>/<city>/<X>_leftImg8bit.png`` ->
``<root>/gtFine/<split>/<city>/<X>_gtFine_labelTrainIds.png``, else ``..._labelIds.png``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from PIL import Image, UnidentifiedImageError

from regseg.predict.errors import InputImageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
CITYSCAPES_IMAGE_TAG = "_leftImg8bit"
LABEL_TAG = "_gtFine_"
# <city>_<sequence>_<frame>: the part of a Cityscapes file name the benchmark server matches on.
_CITYSCAPES_CORE = re.compile(r"^(?P<city>[^_]+)_\d+_\d+$")


@dataclass(frozen=True)
class InputImage:
    """One image to predict.

    ``name``: output name relative to the output directory, without suffix (e.g.
    ``val/valtown/valtown_000000_000019``); ``label``: its ground-truth file or None;
    ``cityscapes_core``: ``<city>_<seq>_<frame>`` when the file is named like a Cityscapes image.
    """

    path: Path
    name: Path
    label: Path | None
    cityscapes_core: str | None


def find_label(image: Path) -> Path | None:
    """The ground truth of a Cityscapes-layout image (train ids preferred), or None."""
    stem = image.stem
    parents = image.parents
    if (not stem.endswith(CITYSCAPES_IMAGE_TAG) or len(parents) < 4
            or parents[2].name != "leftImg8bit"):
        return None
    core = stem[: -len(CITYSCAPES_IMAGE_TAG)]
    gt_dir = parents[3] / "gtFine" / parents[1].name / parents[0].name
    for kind in ("labelTrainIds", "labelIds"):
        candidate = gt_dir / f"{core}_gtFine_{kind}.png"
        if candidate.is_file():
            return candidate
    return None


def cityscapes_core(image: Path) -> str | None:
    """``<city>_<seq>_<frame>`` of ``<city>_<seq>_<frame>_leftImg8bit.<ext>``, else None."""
    stem = image.stem
    if not stem.endswith(CITYSCAPES_IMAGE_TAG):
        return None
    core = stem[: -len(CITYSCAPES_IMAGE_TAG)]
    return core if _CITYSCAPES_CORE.match(core) else None


def _output_name(relative: Path) -> Path:
    stem = relative.stem.removesuffix(CITYSCAPES_IMAGE_TAG)
    return relative.with_name(stem)


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and LABEL_TAG not in path.name


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _walk(directory: Path, excluded: Sequence[Path]) -> Iterable[Path]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not _inside((Path(root) / d).resolve(), excluded))
        for name in sorted(files):
            path = Path(root) / name
            if _is_image_file(path):
                yield path


def _check_readable(path: Path) -> None:
    """Open the header (cheap): a non-image or a truncated header fails here, before any work."""
    try:
        with Image.open(path) as im:
            im.size  # noqa: B018 - the header is parsed on open; size proves it
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else "no details"
        raise InputImageError(f"input image {path}: cannot be read ({type(exc).__name__}: "
                              f"{detail})") from exc


def discover_images(inputs: Sequence[str | os.PathLike], *,
                    exclude: Sequence[str | os.PathLike] = ()) -> list[InputImage]:
    """Every image of ``inputs`` in argument order (directories recursively, sorted).

    ``exclude``: directories never searched (the output directories). Raises InputImageError
    for a missing input, a directory without images, an unreadable image or two images that
    would get the same output name.
    """
    if not inputs:
        raise InputImageError("inputs: expected at least one image file or directory, got none")
    excluded = [Path(e).resolve() for e in exclude]
    found: list[InputImage] = []
    for given in map(Path, inputs):
        if given.is_dir():
            files = list(_walk(given, excluded))
            if not files:
                raise InputImageError(f"input directory {given}: expected image files "
                                      f"({', '.join(sorted(IMAGE_SUFFIXES))}), found none")
            pairs = [(f, _output_name(f.relative_to(given))) for f in files]
        elif given.is_file():
            pairs = [(given, _output_name(Path(given.name)))]
        else:
            raise InputImageError(f"input {given}: expected an image file or a directory, "
                                  f"found nothing")
        for path, name in pairs:
            _check_readable(path)
            found.append(InputImage(path, name, find_label(path), cityscapes_core(path)))
    return _unique(found)


def _unique(items: Sequence[InputImage]) -> list[InputImage]:
    """``items`` with each file once (its first output name); two files with one output name
    are an error."""
    names: dict[Path, Path] = {}
    files: set[Path] = set()
    kept = []
    for item in items:
        resolved = item.path.resolve()
        if resolved in files:
            continue
        if item.name in names:
            raise InputImageError(f"inputs {names[item.name]} and {item.path}: both would be "
                                  f"written as {item.name}; give them in separate runs or "
                                  f"from their common parent directory")
        names[item.name] = item.path
        files.add(resolved)
        kept.append(item)
    return kept
