"""`build_loaders(cfg) -> (train_loader, val_loader)`: the reference's loaders, reproducible.

Train: each epoch the :class:`SeededSampler` draws the epoch plan (class-uniform mix, shuffled)
and one seed per sample from its own ``torch.Generator`` (seeded with ``cfg.seed``), in the
main process. A sample is then a pure function of its token, so the batches of a run do not
depend on ``num_workers``; saving and restoring ``train_loader.sampler.generator.get_state()``
resumes the exact sequence of batches (nothing else draws from that generator). Batches hold
``cfg.batch_size`` samples, the last partial batch is dropped (the reference's ``drop_last``).

Val: the first ``cfg.max_eval`` images of ``cfg.val_split`` in sorted file order, batch size 1
(images may differ in size), no randomness.
"""

from __future__ import annotations

import math
import random
import signal
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, Subset, get_worker_info

from regseg.data import class_uniform
from regseg.data.datasets import SegmentationDataset, get_dataset_spec
from regseg.data.transforms import TrainTransform, ValTransform


class SeededSampler(Sampler):
    """Yields ``(index, centroid | None, seed)`` tokens; one epoch per ``iter()``.

    ``len()`` is the same for every epoch. With ``pct == 0`` an epoch is a permutation of the
    images (the reference's RandomSampler).
    """

    def __init__(self, num_images: int, centroids: class_uniform.Centroids, *, num_classes: int,
                 pct: float, generator: torch.Generator) -> None:
        self.num_images, self.centroids = num_images, centroids
        self.num_classes, self.pct, self.generator = num_classes, pct, generator

    def __len__(self) -> int:
        return class_uniform.epoch_length(self.num_images, self.centroids,
                                          num_classes=self.num_classes, pct=self.pct)

    def __iter__(self):
        plan = class_uniform.epoch_plan(self.num_images, self.centroids,
                                        num_classes=self.num_classes,
                                        pct=self.pct, generator=self.generator)
        seeds = torch.randint(0, 2**62, (len(plan),), generator=self.generator).tolist()
        for (index, centroid), seed in zip(plan, seeds):
            yield index, centroid, seed


def _batch_buffer(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised contiguous tensor; in a DataLoader worker it is allocated in shared
    memory (as torch's default_collate does), so sending the batch to the main process does not
    copy it once more into shared memory."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    numel = math.prod(shape)
    storage = torch.UntypedStorage._new_shared(numel * dtype.itemsize)
    return torch.empty(0, dtype=dtype).set_(storage, 0, shape)


def pad_collate(batch, *, ignore_value: int = 255):
    """Stack samples, padding smaller ones at the bottom/right (image 0, label ignore_value).

    The image batch is channels_last (NHWC memory), the model's input layout; values and shape
    (``[N, 3, H, W]``) are as with any layout. Labels keep their dtype (uint8 from the
    transforms; the engine widens them on the device).
    """
    images, labels = zip(*batch)
    h = max(t.shape[-2] for t in images)
    w = max(t.shape[-1] for t in images)
    same_size = all(t.shape[-2:] == (h, w) for t in images)
    out_img = _batch_buffer((len(images), h, w, images[0].shape[0]), images[0].dtype)
    if not same_size:
        out_img.zero_()
    out_img = out_img.permute(0, 3, 1, 2)
    out_lbl = _batch_buffer((len(labels), h, w), labels[0].dtype).fill_(ignore_value)
    for k, (img, lbl) in enumerate(zip(images, labels)):
        out_img[k, :, : img.shape[-2], : img.shape[-1]] = img
        out_lbl[k, : lbl.shape[-2], : lbl.shape[-1]] = lbl
    return out_img, out_lbl


class _PadCollate:
    """Picklable collate_fn bound to an ignore value (workers may be spawned)."""

    def __init__(self, ignore_value: int) -> None:
        self.ignore_value = ignore_value

    def __call__(self, batch):
        return pad_collate(batch, ignore_value=self.ignore_value)


def seed_worker(worker_id: int) -> None:
    """Seed python/numpy in a worker from torch's per-worker seed (samples use their own seeds).

    The worker also ignores SIGTERM and SIGINT: a stop sent to the whole process group (a
    terminal, SLURM, a service manager) is the main process's to handle. It checkpoints and ends
    its workers itself; a worker dying of the signal first made it fail ("DataLoader worker
    ... is killed by signal: Terminated") instead of exiting 75.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def build_datasets(cfg) -> tuple[SegmentationDataset, SegmentationDataset]:
    """(train set, val set) of ``cfg`` without loaders; raises DatasetError for missing data."""
    spec = get_dataset_spec(cfg.dataset_name)
    root = Path(cfg.dataset_dir).expanduser()
    train_tf = TrainTransform(cfg.train_min_size, cfg.train_max_size, tuple(cfg.train_crop_size),
                              cfg.aug_mode, cfg.ignore_value, spec.pad_before_crop)
    val_tf = ValTransform(cfg.val_input_size, cfg.val_label_size)
    train = SegmentationDataset(spec.find(root, cfg.train_split), spec.read_label, train_tf)
    val = SegmentationDataset(spec.find(root, cfg.val_split), spec.read_label, val_tf)
    return train, val


def train_centroids(cfg, train: SegmentationDataset) -> class_uniform.Centroids:
    """Cached class centroids of the train labels ({} when class_uniform_pct is 0)."""
    if cfg.class_uniform_pct <= 0:
        return {}
    return class_uniform.build_centroids(
        [label for _, label in train.items], train.read_label, num_classes=cfg.num_classes,
        rule=cfg.class_uniform_centroid,
        cache_stem=Path(f"{Path(cfg.dataset_dir).expanduser().resolve()}_{cfg.train_split}"))


def build_loaders(cfg) -> tuple[DataLoader, DataLoader]:
    """(train_loader, val_loader) for a TrainConfig; see the module docstring for the contract."""
    train, val = build_datasets(cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    sampler = SeededSampler(len(train), train_centroids(cfg, train), num_classes=cfg.num_classes,
                            pct=cfg.class_uniform_pct, generator=generator)
    common = dict(num_workers=cfg.num_workers, collate_fn=_PadCollate(cfg.ignore_value),
                  worker_init_fn=seed_worker, pin_memory=torch.cuda.is_available(),
                  persistent_workers=cfg.num_workers > 0)
    # The loader draws its workers' base seed from its own generator whenever an iterator is
    # created: once per process with persistent workers. Drawn from the sampler's generator,
    # that would shift a resumed run's epoch plans (samples do not depend on the base seed).
    train_loader = DataLoader(train, batch_size=cfg.batch_size, sampler=sampler, drop_last=True,
                              generator=torch.Generator().manual_seed(cfg.seed), **common)
    val_subset = Subset(val, range(min(cfg.max_eval, len(val))))
    val_loader = DataLoader(val_subset, batch_size=1, shuffle=False, **common)
    return train_loader, val_loader
