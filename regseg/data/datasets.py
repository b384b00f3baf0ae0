"""Datasets on disk: Cityscapes (and the synthetic set, same layout) and CamVid, one registry.

Cityscapes layout: ``<root>/leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png`` with labels
``<root>/gtFine/<split>/<city>/<stem>_gtFine_labelTrainIds.png``; when only
``<stem>_gtFine_labelIds.png`` exists it is mapped with cityscapesscripts' label table.
CamVid (the reference's layout): ``<root>/<split>/<name>.png`` with ``<root>/<split>_labels/
<name>_L.png`` holding class ids 0-10 (or the CamVid colours, mapped on load).
A split name covers every standard split whose name it contains (the reference's rule):
``trainval`` = train + val. Missing or empty directories raise DatasetError naming the path.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from regseg.data.labels import (
    CAMVID_CLASSES,
    CITYSCAPES_CLASSES,
    camvid_rgb_to_classes,
    cityscapes_id_to_train_id_lut,
)
from regseg.errors import DatasetError, UnknownNameError

Item = tuple[Path, Path]  # (image file, label file)
_STANDARD_SPLITS = ("train", "val", "test")
_ID_LUT = cityscapes_id_to_train_id_lut()


def _split_parts(split: str, root: Path) -> list[str]:
    parts = [s for s in _STANDARD_SPLITS if s in split]
    if not parts:
        raise DatasetError(f"split {split!r} under {root}: expected a name containing one of "
                           f"{', '.join(_STANDARD_SPLITS)}")
    return parts


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise DatasetError(f"{what}: expected a directory at {path}, found none")


def find_cityscapes(root: Path, split: str) -> list[Item]:
    """Sorted (image, label) pairs of ``split`` in the Cityscapes layout."""
    _require_dir(root, "dataset_dir")
    items: list[Item] = []
    for part in _split_parts(split, root):
        img_root, gt_root = root / "leftImg8bit" / part, root / "gtFine" / part
        _require_dir(img_root, f"Cityscapes images of split {part!r}")
        _require_dir(gt_root, f"Cityscapes labels of split {part!r}")
        images = sorted(p for p in img_root.glob("*/*_leftImg8bit.png")
                        if not p.parent.name.startswith("."))
        if not images:
            raise DatasetError(f"Cityscapes split {part!r}: expected <city>/*_leftImg8bit.png "
                               f"files under {img_root}, found none")
        for img in images:
            stem = img.name[: -len("_leftImg8bit.png")]
            train_ids = gt_root / img.parent.name / f"{stem}_gtFine_labelTrainIds.png"
            label_ids = train_ids.with_name(f"{stem}_gtFine_labelIds.png")
            if train_ids.is_file():
                items.append((img, train_ids))
            elif label_ids.is_file():
                items.append((img, label_ids))
            else:
                raise DatasetError(f"label of {img}: expected {train_ids} (or {label_ids.name}), "
                                   f"found neither")
    return items


def decode_label_png(path: Path) -> np.ndarray:
    """uint8[H, W] pixel values of a single-channel label image.

    8-bit grayscale PNGs are decoded with torchvision.io (libpng, about twice PIL's speed on
    Cityscapes labels); anything else (palette, 16-bit, other formats) goes through PIL.
    """
    from torchvision.io import ImageReadMode, decode_png, read_file

    if path.suffix.lower() == ".png":
        data = read_file(str(path))
        # IHDR: bit depth at byte 24, colour type at byte 25 (0 = grayscale, 3 = palette).
        if data.numel() > 26 and int(data[24]) == 8 and int(data[25]) == 0:
            return decode_png(data, mode=ImageReadMode.UNCHANGED)[0].numpy()
    return np.array(Image.open(path), dtype=np.uint8)


def decode_photo(path: Path) -> Image.Image:
    """The stored photo as a PIL RGB image (torchvision.io decoding for PNGs, PIL otherwise)."""
    from torchvision.io import ImageReadMode, decode_png, read_file

    if path.suffix.lower() == ".png":
        pixels = decode_png(read_file(str(path)), mode=ImageReadMode.RGB)
        hwc = pixels.permute(1, 2, 0).contiguous().numpy()
        return Image.frombuffer("RGB", (hwc.shape[1], hwc.shape[0]), hwc, "raw", "RGB", 0, 1)
    return Image.open(path).convert("RGB")


def read_cityscapes_label(path: Path) -> np.ndarray:
    """uint8[H, W] train ids (labelIds files are mapped through cityscapesscripts' table)."""
    arr = decode_label_png(path)
    return _ID_LUT[arr] if path.name.endswith("_labelIds.png") else arr


def find_camvid(root: Path, split: str) -> list[Item]:
    """Sorted (image, label) pairs of ``split`` in the reference's CamVid layout."""
    _require_dir(root, "dataset_dir")
    items: list[Item] = []
    for part in _split_parts(split, root):
        img_dir, lbl_dir = root / part, root / f"{part}_labels"
        _require_dir(img_dir, f"CamVid images of split {part!r}")
        _require_dir(lbl_dir, f"CamVid labels of split {part!r}")
        images = sorted(img_dir.glob("*.png"))
        if not images:
            raise DatasetError(f"CamVid split {part!r}: expected *.png images in {img_dir}, "
                               f"found none")
        for img in images:
            label = lbl_dir / f"{img.stem}_L{img.suffix}"
            if not label.is_file():
                raise DatasetError(f"label of {img}: expected {label}, found none")
            items.append((img, label))
    return items


def read_camvid_label(path: Path) -> np.ndarray:
    """uint8[H, W] class ids; colour-coded labels are mapped with the CamVid palette."""
    im = Image.open(path)
    if im.mode == "RGB":
        return camvid_rgb_to_classes(np.array(im, dtype=np.uint8))
    return np.array(im, dtype=np.uint8)


@dataclass(frozen=True)
class DatasetSpec:
    """One registered dataset: how to find and read it, its classes and its train pipeline."""

    find: Callable[[Path, str], list[Item]]
    read_label: Callable[[Path], np.ndarray]
    classes: tuple[str, ...]
    pad_before_crop: bool  # CamVid used the reference's older pad-then-crop train transform


DATASETS: dict[str, DatasetSpec] = {
    "cityscapes": DatasetSpec(find_cityscapes, read_cityscapes_label, CITYSCAPES_CLASSES, False),
    "synthetic": DatasetSpec(find_cityscapes, read_cityscapes_label, CITYSCAPES_CLASSES, False),
    "camvid": DatasetSpec(find_camvid, read_camvid_label, CAMVID_CLASSES, True),
}


def list_datasets() -> list[str]:
    """Names accepted by ``TrainConfig.dataset_name``."""
    return sorted(DATASETS)


def get_dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownNameError(f"dataset_name: expected one of {', '.join(list_datasets())}, "
                               f"got {name!r}") from None


def class_names(cfg) -> list[str]:
    """Class names of ``cfg.dataset_name`` (index = class id); ``class_<i>`` when
    ``cfg.num_classes`` does not match the dataset's table."""
    names = get_dataset_spec(cfg.dataset_name).classes
    if len(names) != cfg.num_classes:
        return [f"class_{i}" for i in range(cfg.num_classes)]
    return list(names)


class SegmentationDataset(Dataset):
    """(image, label) pairs through a transform.

    ``__getitem__`` takes an index, or a token ``(index, centroid | None, seed)`` from
    :class:`regseg.data.loaders.SeededSampler`; the sample is a pure function of (index,
    centroid, seed). A plain index uses seed = index. Returns (float32[3, H, W], uint8[H, W]).
    """

    def __init__(self, items: Sequence[Item], read_label: Callable[[Path], np.ndarray],
                 transform) -> None:
        self.items = list(items)
        self.read_label = read_label
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int) -> tuple[Image.Image, Image.Image]:
        """The stored image (RGB) and its label (class ids, mode "L") as PIL images."""
        img_path, label_path = self.items[index]
        return decode_photo(img_path), Image.fromarray(self.read_label(label_path))

    def __getitem__(self, token):
        index, centroid, seed = token if isinstance(token, tuple) else (int(token), None,
                                                                        int(token))
        image, label = self.load(index)
        return self.transform(image, label, rng=random.Random(seed), centroid=centroid)
