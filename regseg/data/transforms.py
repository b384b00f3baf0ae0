"""The reference's train and val pipelines for (image, label) pairs.

Train order (reference ``build_train_transform2``, used for Cityscapes / synthetic):
resize the short side to a uniform integer in [min_size, max_size] -> random crop clamped to the
image (or containing a class-uniform centroid) -> horizontal flip (p 0.5) -> ``aug_mode`` row ->
pad up to the crop size at a random offset (image with ``PAD_FILL``, label with ignore_value) ->
tensor -> ImageNet normalisation. CamVid follows the reference's older ``build_train_transform``:
the random pad comes before the crop (``pad_before_crop=True``).

Inputs are a PIL RGB image and a PIL "L" label; outputs are ``float32[3, H, W]`` (normalised)
and ``int64[H, W]``. All randomness comes from the ``random.Random`` passed in, so a sample is
a pure function of its seed (any worker, any process).
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

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Pad colour: the reference truncates mean*255, giving (123, 116, 103) (not rounded 124/116/104).
PAD_FILL: tuple[int, int, int] = tuple(int(m * 255) for m in IMAGENET_MEAN)  # type: ignore[assignment]

Centroid = tuple[int, int]  # (x, y) in label pixels of the stored image


def to_tensors(image: Image.Image, label: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """PIL pair -> (normalised float32[3, H, W], int64[H, W])."""
    img = tv_tensors.Image(F.pil_to_tensor(image))
    img = F.normalize(F.to_dtype(img, torch.float32, scale=True), mean=IMAGENET_MEAN, std=IMAGENET_STD)
    mask = tv_tensors.Mask(torch.from_numpy(np.array(label, dtype=np.uint8)).to(torch.int64))
    return img.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor)


def resize_pair(image: Image.Image, label: Image.Image, image_size: int, label_size: int) -> tuple:
    """Resize the short sides: image bilinear (PIL, antialiased) to ``image_size``, label nearest."""
    return (F.resize(image, image_size, interpolation=F.InterpolationMode.BILINEAR),
            F.resize(label, label_size, interpolation=F.InterpolationMode.NEAREST))


@dataclass(frozen=True)
class TrainTransform:
    """Random train-time pipeline; see the module docstring for the order."""

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


@dataclass(frozen=True)
class ValTransform:
    """Deterministic: short side of the image to ``input_size``, of the label to ``label_size``."""

    input_size: int
    label_size: int

    def __call__(self, image: Image.Image, label: Image.Image, *, rng: random.Random | None = None,
                 centroid: Centroid | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = resize_pair(image, label, self.input_size, self.label_size)
        return to_tensors(image, label)
