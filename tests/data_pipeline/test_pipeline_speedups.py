"""The faster train pipeline against the previous one on the same random draws.

Same crop windows and flips (labels bit-identical), pixels within rounding of the filter
positions; the exact table lookups for brightness/contrast and the torchvision.io decoders
against PIL.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance

from regseg.data.augment import adjust_brightness, adjust_contrast
from regseg.data.datasets import decode_label_png, decode_photo
from regseg.data.transforms import IMAGENET_STD, TrainTransform, resized_size
from regseg.data.transforms_previous import PreviousTrainTransform, load_previous

LEVEL = 1 / (255 * min(IMAGENET_STD))  # one grey level in normalised units (largest channel)


def _pair(image_size=(96, 48), label_size=(192, 96), seed=0):
    """A smooth photo (so bilinear rounding stays small) and a blocky label at its own size."""
    rng = np.random.default_rng(seed)
    w, h = image_size
    yy, xx = np.mgrid[0:h, 0:w]
    photo = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) * 3) % 256], -1).astype(np.uint8)
    lw, lh = label_size
    blocks = rng.integers(0, 19, size=(lh // 8, lw // 8)).astype(np.uint8)
    label = np.repeat(np.repeat(blocks, 8, 0), 8, 1)
    return Image.fromarray(photo), Image.fromarray(label)


CASES = [  # (image size, label size, crop, min, max, aug)
    ((96, 48), (192, 96), (40, 40), 32, 160, "baseline"),   # half-res photo, full-res label
    ((96, 48), (192, 96), (40, 40), 32, 160, "custom3"),
    ((128, 64), (128, 64), (48, 80), 20, 100, "custom3"),   # crops larger than small resizes: pads
    ((128, 64), (128, 64), (24, 24), 64, 64, "baseline"),   # resize to the stored size
]


@pytest.mark.parametrize("image_size,label_size,crop,lo,hi,aug", CASES)
@pytest.mark.parametrize("with_centroid", [False, True])
def test_same_draws_give_the_same_crop_and_flip(image_size, label_size, crop, lo, hi, aug,
                                                with_centroid):
    image, label = _pair(image_size, label_size)
    new, old = TrainTransform(lo, hi, crop, aug), PreviousTrainTransform(lo, hi, crop, aug)
    worst, differing, total = 0.0, 0, 0
    for seed in range(12):
        centroid = (label_size[0] * 3 // 4, label_size[1] // 3) if with_centroid else None
        x_new, y_new = new(image, label, rng=random.Random(seed), centroid=centroid)
        x_old, y_old = old(image, label, rng=random.Random(seed), centroid=centroid)
        assert y_new.dtype == torch.uint8  # widened to int64 on the device by the engine
        assert torch.equal(y_new.long(), y_old), seed  # identical window, flip and pad offsets
        assert x_new.shape == x_old.shape and x_new.dtype == x_old.dtype
        diff = (x_new - x_old).abs()
        worst = max(worst, diff.max().item())
        differing, total = differing + int((diff > 0.5 * LEVEL).sum()), total + diff.numel()
    # Bilinear: a filter position rounded differently moves a pixel by one level in each of
    # PIL's two 8-bit passes (<= 2); the colour jitter's factors (<= 1.5 each) can stretch that.
    assert worst <= (2.01 if aug == "baseline" else 6.01) * LEVEL
    assert differing <= 0.05 * total  # 0.2% on the 512x1024 synthetic photos of the benchmark


def test_both_pipelines_consume_the_same_number_of_draws():
    image, label = _pair()
    a, b = random.Random(5), random.Random(5)
    TrainTransform(32, 160, (40, 40), "custom3")(image, label, rng=a)
    PreviousTrainTransform(32, 160, (40, 40), "custom3")(image, label, rng=b)
    assert a.random() == b.random()


@pytest.mark.parametrize("size", [(2048, 1024), (1024, 2048), (97, 61), (64, 64)])
def test_resized_size_is_torchvisions_rule(size):
    from torchvision.transforms.v2 import functional as F

    image = Image.new("L", size)
    for short in (17, 256, 1000):
        assert F.resize(image, short).size == resized_size(*size, short)


@pytest.mark.parametrize("factor", [0.0, 0.55, 0.7, 1.0, 1.3, 1.45])
def test_brightness_and_contrast_tables_equal_pil(factor):
    rng = np.random.default_rng(int(factor * 100))
    pixels = rng.integers(0, 256, size=(31, 47, 3)).astype(np.uint8)
    pixels[:3] = 255
    image = Image.fromarray(pixels)
    assert np.array_equal(np.array(adjust_brightness(image, factor)),
                          np.array(ImageEnhance.Brightness(image).enhance(factor)))
    assert np.array_equal(np.array(adjust_contrast(image, factor)),
                          np.array(ImageEnhance.Contrast(image).enhance(factor)))


def test_fast_decoders_equal_pil(tmp_path):
    image, label = _pair()
    image.save(tmp_path / "photo.png")
    label.save(tmp_path / "label.png")
    label.convert("P").save(tmp_path / "palette.png")
    assert np.array_equal(np.array(decode_photo(tmp_path / "photo.png")), np.array(image))
    assert np.array_equal(decode_label_png(tmp_path / "label.png"), np.array(label))
    assert np.array_equal(decode_label_png(tmp_path / "palette.png"),
                          np.array(Image.open(tmp_path / "palette.png")))


def test_dataset_samples_match_the_previous_loader(synthetic_dataset):
    from regseg.data.datasets import SegmentationDataset, find_cityscapes, read_cityscapes_label

    items = find_cityscapes(synthetic_dataset, "train")[:4]
    new = TrainTransform(48, 96, (64, 64), "custom3")
    old = PreviousTrainTransform(48, 96, (64, 64), "custom3")
    dataset = SegmentationDataset(items, read_cityscapes_label, new)
    for index, (image_path, label_path) in enumerate(items):
        x_new, y_new = dataset[(index, None, 100 + index)]
        x_old, y_old = old(*load_previous(image_path, label_path), rng=random.Random(100 + index))
        assert torch.equal(y_new.long(), y_old)
        assert (x_new - x_old).abs().max().item() <= 6.01 * LEVEL


def test_loader_benchmark_reports_both_pipelines(synthetic_dataset):
    from regseg.benchmark.loader import benchmark_loader

    result = benchmark_loader(batches=1, batch=2, warmup=0, data_dir=synthetic_dataset)
    assert result.images_per_s > 0 and result.previous_images_per_s > 0 and result.speedup > 0


def test_suite_markdown_puts_the_baseline_beside_each_figure():
    from regseg.benchmark.suite import markdown_table

    record = {"date": "2026-01-01T00:00:00", "quick": True,
              "machine": {"cpu": "Some CPU", "cores": 2, "torch_threads": 2, "gpu": "no GPU",
                          "torch": "2.x"},
              "results": [{"name": "eval", "unit": "images/s", "baseline": 2.0, "value": 3.0,
                           "ratio": 1.5}]}
    text = markdown_table(record)
    assert "Some CPU, 2 cores" in text and "no GPU" in text
    assert "| eval | 2.00 images/s | 3.00 images/s | x1.50 |" in text


def test_row_tiled_normalisation_equals_torchvision():
    from torchvision.transforms.v2 import functional as F

    from regseg.data.transforms import IMAGENET_MEAN, normalize_hwc

    pixels = torch.from_numpy(np.random.default_rng(3).integers(0, 256, size=(37, 53, 3),
                                                                 dtype=np.uint8))
    fast = normalize_hwc(pixels)
    slow = F.normalize(pixels.permute(2, 0, 1).float() / 255, mean=IMAGENET_MEAN,
                       std=IMAGENET_STD)
    assert fast.shape == (3, 37, 53) and fast.stride()[0] == 1  # a channels-last view
    assert torch.allclose(fast, slow, rtol=0, atol=1e-5)
    assert not torch.equal(fast[0], fast[1])  # each channel has its own mean and std


class _Samples(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        image = torch.arange(3 * 5 * (6 + i % 2), dtype=torch.float32).view(3, 5, 6 + i % 2) + i
        return image, torch.full((5, 6), i, dtype=torch.uint8)


def test_collate_in_a_worker_builds_the_batch_in_shared_memory():
    from torch.utils.data import DataLoader

    from regseg.data.loaders import _PadCollate

    batches = {w: list(DataLoader(_Samples(), batch_size=2, num_workers=w,
                                  collate_fn=_PadCollate(255)))
               for w in (0, 1)}
    for (x0, y0), (x1, y1) in zip(batches[0], batches[1]):
        assert x1.is_shared() and y1.is_shared() and not x0.is_shared()
        assert torch.equal(x0, x1) and torch.equal(y0, y1) and y1.dtype == torch.uint8
        assert x1.is_contiguous(memory_format=torch.channels_last)
        assert torch.all(x1[0, :, :, -1] == 0) and torch.all(y1[:, :, -1] == 255)  # padding
