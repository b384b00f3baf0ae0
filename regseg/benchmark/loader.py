"""Train-loader throughput per process: this build's pipeline against the previous one.

The ablation setting: batch 8, resize 256-1792, crop 768x768, ``custom3`` colour jitter,
class-uniform sampling 0.5, photos stored as 512x1024 PNGs (the half-resolution copy) with
full-resolution 1024x2048 labels (what ``regseg make-half-res`` writes by default). The data is
generated (``make_synthetic`` + ``make_half_resolution``) into a scratch directory.

Both pipelines get the same sample tokens (image, centroid, seed) in the same process, batch by
batch interleaved, so a load change on a shared machine hits both alike. A batch is decode +
transform of 8 samples + collate: the work one DataLoader worker does per batch, timed as a
worker runs it, with one torch thread (``torch.utils.data`` sets every worker to one).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LoaderResult:
    """Medians over the timed batches; ``speedup`` = median per-batch previous / new time."""

    batches: int
    batch: int
    images_per_s: float
    previous_images_per_s: float
    speedup: float

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def make_ablation_data(root: Path, *, images: int) -> Path:
    """A synthetic half-resolution Cityscapes copy under ``root``; returns its directory."""
    from regseg.data import make_synthetic
    from regseg.data.half_res import make_half_resolution

    make_synthetic(root / "full", train=images, val=1, size=(1024, 2048), seed=0)
    make_half_resolution(root / "full", root / "half", splits=("train",), progress=False)
    return root / "half"


def benchmark_loader(*, batches: int = 4, batch: int = 8, images: int = 8, warmup: int = 1,
                     data_dir: Path | None = None) -> LoaderResult:
    """Time ``batches`` batches of both pipelines (after ``warmup`` untimed ones)."""
    if data_dir is None:
        with tempfile.TemporaryDirectory(prefix="regseg-loader-bench-") as tmp:
            data = make_ablation_data(Path(tmp), images=images)
            return _measure(data, batches=batches, batch=batch, warmup=warmup)
    return _measure(Path(data_dir), batches=batches, batch=batch, warmup=warmup)


def _measure(data: Path, *, batches: int, batch: int, warmup: int) -> LoaderResult:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what a DataLoader worker runs with
    try:
        return _measure_pipelines(data, batches=batches, batch=batch, warmup=warmup)
    finally:
        torch.set_num_threads(threads)


def _measure_pipelines(data: Path, *, batches: int, batch: int, warmup: int) -> LoaderResult:
    import torch

    from regseg.data import class_uniform
    from regseg.data.datasets import SegmentationDataset, find_cityscapes, read_cityscapes_label
    from regseg.data.loaders import SeededSampler, pad_collate
    from regseg.data.transforms import TrainTransform
    from regseg.data.transforms_previous import (
        PreviousTrainTransform,
        load_previous,
        previous_collate,
    )

    items = find_cityscapes(data, "train")
    new = SegmentationDataset(items, read_cityscapes_label, TrainTransform(256, 1792, (768, 768),
                                                                           "custom3"))
    old = PreviousTrainTransform(256, 1792, (768, 768), "custom3")
    centroids = class_uniform.build_centroids([label for _, label in items], read_cityscapes_label,
                                              num_classes=19, cache_stem=None)
    sampler = SeededSampler(len(items), centroids, num_classes=19, pct=0.5,
                            generator=torch.Generator().manual_seed(0))
    tokens = []
    while len(tokens) < (batches + warmup) * batch:
        tokens.extend(sampler)

    def run_new(group):
        return pad_collate([new[token] for token in group])

    def run_old(group):
        return previous_collate([old(*load_previous(*items[i]), rng=random.Random(seed), centroid=c)
                                 for i, c, seed in group])

    new_times, old_times = [], []
    for b in range(batches + warmup):
        group = tokens[b * batch:(b + 1) * batch]
        for run, times in ((run_old, old_times), (run_new, new_times)):
            start = time.perf_counter()
            run(group)
            times.append(time.perf_counter() - start)
    new_times, old_times = new_times[warmup:], old_times[warmup:]
    return LoaderResult(
        batches=batches, batch=batch,
        images_per_s=batch / statistics.median(new_times),
        previous_images_per_s=batch / statistics.median(old_times),
        speedup=statistics.median(o / n for o, n in zip(old_times, new_times)))
