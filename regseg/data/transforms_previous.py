"""The train pipeline as it was before the region-resize speed-up: a frozen baseline.

Same order and the same random draws as :class:`regseg.data.transforms.TrainTransform`, but it
resizes the whole stored image before cropping, decodes with PIL and converts with
torchvision's ``pil_to_tensor`` / ``to_dtype`` / ``normalize``. Nothing trains with it: it is the
reference the new pipeline is tested against (same crop windows and flips, pixels within
rounding) and the baseline of the loader benchmark (``regseg benchmark --suite``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from regseg.data.augment import get_aug_mode

__all__ = ["PreviousTrainTransform", "load_previous", "previous_collate", "to_tensors",
           "resize_pair"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Pad colour: the reference truncates mean*255, giving (123, 116, 103) (not rounded 124/116/104).
PAD_FILL: tuple[int, int,
                int] = tuple(int(m * 255) for m in IMAGENET_MEAN)  # type: ignore[assignment]

Centroid = tuple[int, int]  # (x, y) in label pixels of the stored image


def to_tensors(image: Image.Image, label: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """PIL pair -> (normalised float32[3, H, W], int64[H, W])."""
    img = tv_tensors.Image(F.pil_to_tensor(image))
    img = F.normalize(F.to_dtype(img, torch.float32, scale=True), mean=IMAGENET_MEAN,
                      std=IMAGENET_STD)
    mask = tv_tensors.Mask(torch.from_numpy(np.array(label, dtype=np.uint8)).to(torch.int64))
    return img.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor)


def resize_pair(image: Image.Image, label: Image.Image, image_size: int, label_size: int) -> tuple:
    """Resize the short sides: image bilinear (PIL, antialiased) to ``image_size``, label
    nearest."""
    return (F.resize(image, image_size, interpolation=F.InterpolationMode.BILINEAR),
            F.resize(label, label_size, interpolation=F.InterpolationMode.NEAREST))


@dataclass(frozen=True)
class PreviousTrainTransform:
    """The previous random train-time pipeline (whole-image resize, then crop)."""

    min_size: int
    max_size: int
    crop_size: tuple[int, int]  # (height, width)
    aug_mode: str
    ignore_value: int = 255
    pad_before_crop: bool = False

    def __post_init__(self) -> None:
        get_aug_mode(self.aug_mode)  # unknown names fail at construction

    def __call__(self, image: Image.Image, label: Image.Image, *, rng: random.Random,
                 centroid: Centroid | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        size = rng.randint(self.min_size, self.max_size)
        if centroid is not None:  # the reference scales by the label's short side
            scale = size / min(label.size)
            centroid = (int(centroid[0] * scale), int(centroid[1] * scale))
        image, label = resize_pair(image, label, size, size)
        if self.pad_before_crop:
            image, label = self.pad(image, label, rng)
        image, label = self.crop(image, label, rng, centroid)
        if rng.random() < 0.5:
            image, label = F.horizontal_flip(image), F.horizontal_flip(label)
        for aug in get_aug_mode(self.aug_mode):
            image, label = aug(image, label, rng, fill=PAD_FILL, ignore_value=self.ignore_value)
        if not self.pad_before_crop:
            image, label = self.pad(image, label, rng)
        return to_tensors(image, label)

    def crop(self, image: Image.Image, label: Image.Image, rng: random.Random,
             centroid: Centroid | None) -> tuple[Image.Image, Image.Image]:
        """Crop of min(crop, image) size: uniform, or one containing ``centroid`` (x, y)."""
        w, h = image.size
        ch, cw = min(self.crop_size[0], h), min(self.crop_size[1], w)
        if centroid is None:
            top, left = rng.randint(0, h - ch), rng.randint(0, w - cw)
        else:  # any window containing the centroid, then clamped into the image
            cx, cy = min(centroid[0], w - 1), min(centroid[1], h - 1)
            left = min(max(rng.randint(cx - cw + 1, cx), 0), w - cw)
            top = min(max(rng.randint(cy - ch + 1, cy), 0), h - ch)
        return F.crop(image, top, left, ch, cw), F.crop(label, top, left, ch, cw)

    def pad(self, image: Image.Image, label: Image.Image, rng: random.Random) -> tuple:
        """Pad up to the crop size, the image part at a random offset."""
        w, h = image.size
        pad_h, pad_w = max(self.crop_size[0] - h, 0), max(self.crop_size[1] - w, 0)
        if pad_h == 0 and pad_w == 0:
            return image, label
        top, left = rng.randint(0, pad_h), rng.randint(0, pad_w)
        border = [left, top, pad_w - left, pad_h - top]
        return (F.pad(image, border, fill=PAD_FILL), F.pad(label, border, fill=self.ignore_value))


def load_previous(image_path, label_path) -> tuple[Image.Image, Image.Image]:
    """The previous loader's decode of a Cityscapes-layout pair, all with PIL."""
    from regseg.data.labels import cityscapes_id_to_train_id_lut

    image = Image.open(image_path).convert("RGB")
    label = np.array(Image.open(label_path), dtype=np.uint8)
    if str(label_path).endswith("_labelIds.png"):
        label = cityscapes_id_to_train_id_lut()[label]
    return image, Image.fromarray(label)


def previous_collate(batch, *, ignore_value: int = 255):
    """The previous loader's batching: contiguous zero-filled batch, one copy per sample."""
    images, labels = zip(*batch)
    h = max(t.shape[-2] for t in images)
    w = max(t.shape[-1] for t in images)
    out_img = images[0].new_zeros((len(images), images[0].shape[0], h, w))
    out_lbl = labels[0].new_full((len(labels), h, w), ignore_value)
    for k, (img, lbl) in enumerate(zip(images, labels)):
        out_img[k, :, : img.shape[-2], : img.shape[-1]] = img
        out_lbl[k, : lbl.shape[-2], : lbl.shape[-1]] = lbl
    return out_img, out_lbl
