"""Training augmentations of the reference (its augment.py / transforms.py), as a registry.

Every augmentation works on a PIL RGB image and a PIL "L" label together and draws its randomness
from an explicit ``random.Random`` (so a sample is a pure function of its seed). Photometric ops
touch only the image; geometric ops (rotate, shear, translate) move the label with nearest
resampling and fill new label pixels with ``ignore_value`` and new image pixels with ``fill``.

``AUG_MODES`` maps each ``TrainConfig.aug_mode`` to a tuple of augmentations, applied in order
after the horizontal flip: one row per mode, as the reference's ``build_train_transform*``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageOps
from torchvision.transforms.v2 import functional as F

Pair = tuple[Image.Image, Image.Image]

# ---------------------------------------------------------------- RandAugment ops
# name -> (min, max, may be negated): magnitude m in [0, 1] gives v = m*(max-min)+min.
_RANGES = {
    "auto_contrast": (0, 1, False), "equalize": (0, 1, False), "rotate": (0.0, 30.0, True),
    "posterize_inc": (0, 4, False), "solarize_inc": (0, 256, False), "solarize_add": (0, 110,
                                                                                      False),
    "color_inc": (0, 0.9, True), "contrast_inc": (0, 0.9, True), "brightness_inc": (0, 0.9, True),
    "sharpness_inc": (0, 0.9, True), "shear_x": (0.0, 0.3, True), "shear_y": (0.0, 0.3, True),
    "trans_x": (0.0, 0.45, True), "trans_y": (0.0, 0.45, True),
}
_PHOTOMETRIC: dict[str, Callable[[Image.Image, float], Image.Image]] = {
    "auto_contrast": lambda x, _: ImageOps.autocontrast(x),
    "equalize": lambda x, _: ImageOps.equalize(x),
    "posterize_inc": lambda x, v: ImageOps.posterize(x, max(1, 4 - int(v))),
    "solarize_inc": lambda x, v: x.point(lambda i: i if i < 256 - v else 255 - i),
    "solarize_add": lambda x, v: x.point(lambda i: min(255, int(v + i)) if i < 128 else i),
    "color_inc": lambda x, v: ImageEnhance.Color(x).enhance(1 + v),
    "contrast_inc": lambda x, v: ImageEnhance.Contrast(x).enhance(1 + v),
    "brightness_inc": lambda x, v: ImageEnhance.Brightness(x).enhance(1 + v),
    "sharpness_inc": lambda x, v: ImageEnhance.Sharpness(x).enhance(1 + v),
}
# Geometric ops as PIL affine coefficients (inverse map) for an image of size (w, h).
_AFFINE: dict[str, Callable[[float, int, int], tuple[float, ...]]] = {
    "shear_x": lambda v, w, h: (1, v, 0, 0, 1, 0),
    "shear_y": lambda v, w, h: (1, 0, 0, v, 1, 0),
    "trans_x": lambda v, w, h: (1, 0, v * w, 0, 1, 0),
    "trans_y": lambda v, w, h: (1, 0, 0, 0, 1, v * h),
}
RANDAUG_OPS_FULL = ("auto_contrast", "equalize", "rotate", "posterize_inc", "solarize_inc",
                    "solarize_add", "color_inc", "contrast_inc", "brightness_inc", "sharpness_inc",
                    "shear_x", "shear_y", "trans_x", "trans_y")
RANDAUG_OPS_REDUCED = ("auto_contrast", "equalize", "rotate", "color_inc", "contrast_inc",
                       "brightness_inc", "sharpness_inc")


def apply_op(image: Image.Image, label: Image.Image, op: str, magnitude: float, rng: random.Random,
             *, fill: tuple[int, int, int], ignore_value: int) -> Pair:
    """Apply one RandAugment op at ``magnitude`` (sign drawn from ``rng`` where allowed)."""
    lo, hi, negate = _RANGES[op]
    v = magnitude * (hi - lo) + lo
    if negate and rng.random() > 0.5:
        v = -v
    if op in _PHOTOMETRIC:
        return _PHOTOMETRIC[op](image, v), label
    if op == "rotate":
        return (image.rotate(v, resample=Image.BILINEAR, fillcolor=fill),
                label.rotate(v, resample=Image.NEAREST, fillcolor=ignore_value))
    coeffs = _AFFINE[op](v, *image.size)
    return (image.transform(image.size, Image.AFFINE, coeffs, resample=Image.BILINEAR,
                            fillcolor=fill),
            label.transform(label.size, Image.AFFINE, coeffs, resample=Image.NEAREST,
                            fillcolor=ignore_value))


@dataclass(frozen=True)
class RandAugment:
    """``num_ops`` distinct ops drawn from ``ops`` (without replacement), each at ``magnitude``."""

    ops: tuple[str, ...]
    num_ops: int = 2
    magnitude: float = 0.2

    def __call__(self, image, label, rng, *, fill, ignore_value) -> Pair:
        for op in rng.sample(self.ops, self.num_ops):
            image, label = apply_op(image, label, op, self.magnitude, rng, fill=fill,
                                    ignore_value=ignore_value)
        return image, label


def _blend_lut(base: float, factor: float) -> list[int]:
    """PIL's ``Image.blend(constant base, image, factor)`` as a 256-entry table: the same float32
    arithmetic ``base + factor * (v - base)``, truncated and clipped as Pillow's C code does."""
    v = np.arange(256, dtype=np.float32)
    out = np.float32(base) + np.float32(factor) * (v - np.float32(base))
    return np.clip(np.trunc(out), 0, 255).astype(np.uint8).tolist()


def adjust_brightness(image: Image.Image, factor: float) -> Image.Image:
    """``ImageEnhance.Brightness(image).enhance(factor)``, bit for bit, as one table lookup."""
    return image.point(_blend_lut(0.0, factor) * len(image.getbands()))


def adjust_contrast(image: Image.Image, factor: float) -> Image.Image:
    """``ImageEnhance.Contrast(image).enhance(factor)``, bit for bit: blend towards the rounded
    mean grey level, as one table lookup."""
    from PIL import ImageStat

    mean = int(ImageStat.Stat(image.convert("L")).mean[0] + 0.5)
    return image.point(_blend_lut(float(mean), factor) * len(image.getbands()))


@dataclass(frozen=True)
class ColorJitter:
    """torchvision-style jitter: factors uniform in [max(0, 1-s), 1+s], ops in a random order.

    Brightness and contrast are table lookups equal to PIL's ImageEnhance (what torchvision
    calls on PIL images), just faster; saturation and hue are torchvision's.

    Applied with probability ``prob``. Hue is drawn in [-hue, hue] (0 = off).
    """

    brightness: float
    contrast: float
    saturation: float
    hue: float = 0.0
    prob: float = 1.0

    def __call__(self, image, label, rng, *, fill, ignore_value) -> Pair:
        if rng.random() >= self.prob:
            return image, label
        ops = [
            (adjust_brightness, self.brightness), (adjust_contrast, self.contrast),
            (F.adjust_saturation, self.saturation), (F.adjust_hue, self.hue),
        ]
        rng.shuffle(ops)
        for fn, strength in ops:
            if strength <= 0:
                continue
            lo, hi = (-strength, strength) if fn is F.adjust_hue else (max(0.0, 1 - strength),
                                                                       1 + strength)
            image = fn(image, rng.uniform(lo, hi))
        return image, label


@dataclass(frozen=True)
class RandomRotation:
    """Rotate image and label together by an angle uniform in ``degrees``, with probability
    ``prob``."""

    degrees: tuple[float, float] = (-10.0, 10.0)
    prob: float = 1.0

    def __call__(self, image, label, rng, *, fill, ignore_value) -> Pair:
        if rng.random() >= self.prob:
            return image, label
        angle = rng.uniform(*self.degrees)
        return (image.rotate(angle, resample=Image.NEAREST, fillcolor=fill),
                label.rotate(angle, resample=Image.NEAREST, fillcolor=ignore_value))


@dataclass(frozen=True)
class AddNoise:
    """Additive noise with probability ``prob``: Gaussian with sigma uniform in [0, sigma]
    (``kind="gaussian"``), Gaussian with fixed sigma (``"gaussian_fixed"``) or +-sigma shot noise
    (``"shot"``)."""

    sigma: float
    prob: float = 1.0
    kind: str = "gaussian"

    def __call__(self, image, label, rng, *, fill, ignore_value) -> Pair:
        if rng.random() >= self.prob:
            return image, label
        arr = np.asarray(image, dtype=np.float64)
        noise_rng = np.random.default_rng(rng.getrandbits(63))
        if self.kind == "shot":
            noise = (noise_rng.integers(0, 2, size=arr.shape) * 2 - 1) * self.sigma
        else:
            sigma = rng.uniform(0, self.sigma) if self.kind == "gaussian" else self.sigma
            noise = noise_rng.normal(0.0, sigma, size=arr.shape)
        return Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8)), label


#: aug_mode -> augmentations applied after the flip (the reference's build_train_transform2 rows).
AUG_MODES: dict[str, tuple] = {
    "baseline": (),
    "custom3": (ColorJitter(0.3, 0.4, 0.5, 0.0),),
    "colour_jitter": (ColorJitter(0.3, 0.3, 0.3, 0.0),),
    "randaug": (RandAugment(RANDAUG_OPS_FULL, 2, 0.2),),
    "randaug_reduced": (RandAugment(RANDAUG_OPS_REDUCED, 2, 0.2),),
    "randaug_reduced3": (RandAugment(RANDAUG_OPS_REDUCED, 2, 0.3),),
    "rotate": (RandomRotation((-10.0, 10.0)),),
    "noise": (AddNoise(15.0),),
    "noise2": (AddNoise(10.0, kind="gaussian_fixed"),),
    "noise3": (AddNoise(10.0, kind="shot"),),
    "custom1": (RandAugment(RANDAUG_OPS_REDUCED, 2, 0.2), AddNoise(10.0, prob=0.2)),
}


def list_aug_modes() -> list[str]:
    """Names accepted by ``TrainConfig.aug_mode``."""
    return sorted(AUG_MODES)


def get_aug_mode(name: str) -> tuple:
    """The augmentation row of ``name``; UnknownNameError lists the valid names."""
    from regseg.errors import UnknownNameError

    try:
        return AUG_MODES[name]
    except KeyError:
        raise UnknownNameError(f"aug_mode: expected one of {', '.join(list_aug_modes())}, "
                               f"got {name!r}") from None
