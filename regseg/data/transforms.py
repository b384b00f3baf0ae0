"""The reference's train and val pipelines for (image, label) pairs.

Train order (reference ``build_train_transform2``, used for Cityscapes / synthetic):
resize the short side to a uniform integer in [min_size, max_size] -> random crop clamped to the
image (or containing a class-uniform centroid) -> horizontal flip (p 0.5) -> ``aug_mode`` row ->
pad up to the crop size at a random offset (image with ``PAD_FILL``, label with ignore_value) ->
tensor -> ImageNet normalisation. CamVid follows the reference's older ``build_train_transform``:
the random pad comes before the crop (``pad_before_crop=True``).

Inputs are a PIL RGB image and a PIL "L" label; outputs are ``float32[3, H, W]`` (normalised)
and ``uint8[H, W]`` class ids. All randomness comes from the ``random.Random`` passed in, so a
sample is a pure function of its seed (any worker, any process).

Speed: the random crop window is drawn from the *resized* size (known before resizing), so only
the part of the stored image that survives the crop is resized (PIL's ``resize(box=...)``, which
computes every output pixel from the same source pixels and weights as resizing the whole image
and cropping). The draws happen in the same order as before, so crop windows and flips are
identical; pixels agree up to float rounding of the filter positions (tests/data_pipeline).
The previous whole-image pipeline is kept in :mod:`regseg.data.transforms_previous` as the
baseline of that test and of the loader benchmark.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from regseg.data.augment import get_aug_mode

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Pad colour: the reference truncates mean*255, giving (123, 116, 103) (not rounded 124/116/104).
PAD_FILL: tuple[int, int,
                int] = tuple(int(m * 255) for m in IMAGENET_MEAN)  # type: ignore[assignment]

Centroid = tuple[int, int]  # (x, y) in label pixels of the stored image


_MEAN_255 = torch.tensor(IMAGENET_MEAN).mul(255.0)
_INV_STD_255 = torch.tensor(IMAGENET_STD).mul(255.0).reciprocal()


def normalize_hwc(pixels: torch.Tensor) -> torch.Tensor:
    """uint8[H, W, 3] -> normalised float32[3, H, W] (a channels-last view, channel stride 1).

    ``(x - 255*mean) / (255*std)``: torchvision's ``normalize(x / 255)`` up to float rounding.
    The constants are tiled along a row (``[R, G, B, R, G, B, ...]``) so each pass runs over
    ``[H, W*3]`` with a row-long operand, which vectorises; broadcasting a 3-element channel
    axis innermost does not (about 10x slower on CPU). Channels-last is the layout the model
    runs in, so batching and the model input need no reordering copy.
    """
    h, w, c = pixels.shape
    rows = pixels.reshape(h, w * c).to(torch.float32)
    rows.sub_(_MEAN_255.repeat(w)).mul_(_INV_STD_255.repeat(w))
    return rows.view(h, w, c).permute(2, 0, 1)


def to_tensors(image: Image.Image, label: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """PIL pair -> (normalised float32[3, H, W] as :func:`normalize_hwc`, uint8[H, W]).

    Labels stay uint8 (class ids 0-254 and the ignore value, at most 255 by TrainConfig) all the
    way to the device, where the engine widens them for the loss (``.long()``): an eighth of the
    memory, copies and host-to-device traffic of int64 labels.
    """
    img = normalize_hwc(torch.from_numpy(np.array(image, dtype=np.uint8)))
    mask = torch.from_numpy(np.array(label, dtype=np.uint8))
    return img, mask


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) after resizing the short side to ``short_side`` (torchvision's rule:
    the long side becomes ``int(short_side * long / short)``)."""
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


def resize_region(image: Image.Image, size: tuple[int, int],
                  window: tuple[int, int, int, int]) -> Image.Image:
    """The ``window`` (left, top, width, height, in the resized image's pixels) of ``image``
    resized bilinearly to ``size`` (width, height), computed from the source region only.

    PIL computes each output pixel from the same source pixels and filter weights whether it
    resizes the whole image or a box of it; only the float rounding of the positions differs.
    """
    left, top, w, h = window
    if size == image.size:
        return image.crop((left, top, left + w, top + h))
    sx, sy = image.width / size[0], image.height / size[1]
    box = (left * sx, top * sy, (left + w) * sx, (top + h) * sy)
    return image.resize((w, h), Image.BILINEAR, box=box)


def _nearest_source_index(source: int, target: int) -> np.ndarray:
    """Source pixel of every target pixel in PIL's nearest-neighbour resize of one axis.

    PIL steps ``position += source / target`` from ``0.5 * source / target`` and truncates;
    a sequential cumulative sum repeats those exact float additions, so the indices (and hence
    the label pixels) are bit-identical to resizing the whole label.
    """
    step = source / target
    steps = np.full(target, step, dtype=np.float64)
    steps[0] = 0.5 * step
    return np.minimum(np.cumsum(steps).astype(np.int64), source - 1)


def resize_label_region(label: Image.Image, size: tuple[int, int],
                        window: tuple[int, int, int, int]) -> Image.Image:
    """Nearest-neighbour counterpart of :func:`resize_region` for a label (exact)."""
    left, top, w, h = window
    xs = _nearest_source_index(label.width, size[0])[left:left + w]
    ys = _nearest_source_index(label.height, size[1])[top:top + h]
    rows = np.take(np.asarray(label), ys, axis=0)
    return Image.fromarray(np.take(rows, xs, axis=1))


def resize_pair(image: Image.Image, label: Image.Image, image_size: int, label_size: int) -> tuple:
    """Resize the short sides: image bilinear (PIL, antialiased) to ``image_size``, label
    nearest."""
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
        target = resized_size(*image.size, size)
        if self.pad_before_crop or resized_size(*label.size, size) != target:
            image, label = resize_pair(image, label, size, size)
            if self.pad_before_crop:
                image, label = self.pad(image, label, rng)
            image, label = self.crop(image, label, rng, centroid)
        else:  # resize only what the crop keeps
            window = self.crop_window(target, rng, centroid)
            image = resize_region(image, target, window)
            label = resize_label_region(label, target, window)
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
        left, top, cw, ch = self.crop_window(image.size, rng, centroid)
        return F.crop(image, top, left, ch, cw), F.crop(label, top, left, ch, cw)

    def crop_window(self, size: tuple[int, int], rng: random.Random,
                    centroid: Centroid | None) -> tuple[int, int, int, int]:
        """(left, top, width, height) of the crop in an image of ``size`` (width, height)."""
        w, h = size
        ch, cw = min(self.crop_size[0], h), min(self.crop_size[1], w)
        if centroid is None:
            top, left = rng.randint(0, h - ch), rng.randint(0, w - cw)
        else:  # any window containing the centroid, then clamped into the image
            cx, cy = min(centroid[0], w - 1), min(centroid[1], h - 1)
            left = min(max(rng.randint(cx - cw + 1, cx), 0), w - cw)
            top = min(max(rng.randint(cy - ch + 1, cy), 0), h - ch)
        return left, top, cw, ch

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
