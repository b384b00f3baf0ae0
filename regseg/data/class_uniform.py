"""Class-uniform sampling (the reference's datasets/class_uniform_sampling.py, after NVIDIA's).

Once per dataset: every label is cut into square tiles (side ``min(1024, H, W)``, i.e. the
reference's 1024 on full-size Cityscapes); for each class present in a tile we record one
centroid. Rule ``center_of_mass`` (the reference's, the default): the tile's centre of mass of
that class, truncated to integers and used as is, even where it falls off the class (a ring, an
L-shaped region), so a crop around it may miss the class. Rule ``nearest_class_pixel`` (this
project's deviation, opt-in through ``TrainConfig.class_uniform_centroid``): that point moved to
the nearest pixel of the class, so a crop around it always contains the class.

Labels smaller than 1024 px (e.g. a half-resolution copy whose labels were halved): the
reference's fixed 1024-pixel tiles find nothing there, so its class-uniform sampling is silently
off; here the tile shrinks to the label and a warning says so.

Like the reference, the result is cached as JSON next to (not inside) the dataset directory:
``<dataset_dir>_<split>_centroids-<key>.json``, the key hashing the rule and the label files'
names, sizes and mtimes; it is kept only in memory when that location is not writable.

Each epoch: with N images and p = ``class_uniform_pct``, ``int(N*p/C)`` centroids are drawn for
every class that has any (randperm, wrapping around), and ``N - C*int(N*p/C)`` plain images
(randperm of the images); the whole plan is then shuffled. Classes without centroids lose their
share, exactly like the reference, so the epoch length is fixed for a dataset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)

Centroid = tuple[int, int]
#: class id -> list of (image index, (x, y))
Centroids = dict[int, list[tuple[int, Centroid]]]
_MEMORY: dict[str, Centroids] = {}
_CACHE_VERSION = 2
#: The reference's tile side (its class_uniform_sampling.py, on full-resolution Cityscapes labels).
REFERENCE_TILE = 1024
#: Names accepted by ``TrainConfig.class_uniform_centroid``.
CENTROID_RULES = ("center_of_mass", "nearest_class_pixel")


def tile_centroids(label: np.ndarray, num_classes: int, tile: int | None = None, *,
                   rule: str = "center_of_mass") -> dict[int, list[Centroid]]:
    """Centroids (x, y) of each class 0..num_classes-1 in each tile of ``label`` (uint8[H, W]),
    placed by ``rule`` (see the module docstring)."""
    if rule not in CENTROID_RULES:
        raise ValueError(f"rule: expected one of {', '.join(CENTROID_RULES)}, got {rule!r}")
    h, w = label.shape
    tile = tile or min(REFERENCE_TILE, h, w)
    out: dict[int, list[Centroid]] = {}
    ys, xs = np.divmod(np.arange(tile * tile), tile)
    for y0 in range(0, h - tile + 1, tile):
        for x0 in range(0, w - tile + 1, tile):
            patch = label[y0:y0 + tile, x0:x0 + tile].astype(np.int64).ravel()
            counts = np.bincount(patch, minlength=256)
            sum_y = np.bincount(patch, weights=ys, minlength=256)
            sum_x = np.bincount(patch, weights=xs, minlength=256)
            for c in np.flatnonzero(counts[:num_classes]):
                cy, cx = int(sum_y[c] / counts[c]), int(sum_x[c] / counts[c])
                if rule == "nearest_class_pixel" and patch[cy * tile + cx] != c:
                    where = np.flatnonzero(patch == c)
                    k = where[np.argmin((ys[where] - cy) ** 2 + (xs[where] - cx) ** 2)]
                    cy, cx = int(ys[k]), int(xs[k])
                out.setdefault(int(c), []).append((x0 + cx, y0 + cy))
    return out


def build_centroids(label_paths: Sequence[Path], read_label: Callable[[Path], np.ndarray], *,
                    num_classes: int, cache_stem: Path | None,
                    rule: str = "center_of_mass") -> Centroids:
    """Centroids of every class over all labels, from the cache when it is current.

    The cache file is ``<cache_stem>_centroids-<key>.json`` (None = memory only). Logs a warning
    when a label is smaller than the reference's 1024-pixel tiles (see the module docstring).
    """
    key = _fingerprint(label_paths, num_classes, rule)
    if key in _MEMORY:
        return _MEMORY[key]
    cache_file = None
    if cache_stem is not None:
        cache_file = cache_stem.with_name(f"{cache_stem.name}_centroids-{key[:20]}.json")
    centroids = _read_cache(cache_file)
    if centroids is None:
        centroids = {}
        smallest = None
        for i, path in enumerate(label_paths):
            label = read_label(path)
            smallest = min(label.shape) if smallest is None else min(smallest, *label.shape)
            for c, points in tile_centroids(label, num_classes, rule=rule).items():
                centroids.setdefault(c, []).extend((i, p) for p in points)
        _warn_small_labels(smallest)
        _write_cache(cache_file, centroids)
    _MEMORY[key] = centroids
    return centroids


def epoch_plan(num_images: int, centroids: Centroids, *, num_classes: int, pct: float,
               generator: torch.Generator) -> list[tuple[int, Centroid | None]]:
    """One epoch of (image index, centroid or None), shuffled; see the module docstring."""
    per_class = int(num_images * pct / num_classes) if centroids else 0
    num_plain = num_images - per_class * num_classes
    plan: list[tuple[int, Centroid | None]] = [(i, None) for i in _wrap_sample(num_images,
                                                                               num_plain,
                                                                               generator)]
    for c in range(num_classes):
        items = centroids.get(c, [])
        if items and per_class:
            plan.extend(items[j] for j in _wrap_sample(len(items), per_class, generator))
    order = torch.randperm(len(plan), generator=generator).tolist()
    return [plan[k] for k in order]


def epoch_length(num_images: int, centroids: Centroids, *, num_classes: int, pct: float) -> int:
    """Length of every :func:`epoch_plan` for these arguments."""
    per_class = int(num_images * pct / num_classes) if centroids else 0
    present = sum(1 for c in range(num_classes) if centroids.get(c))
    return num_images - per_class * num_classes + per_class * present


def _wrap_sample(n: int, k: int, generator: torch.Generator) -> list[int]:
    """k indices from a random permutation of range(n), wrapping around when k > n."""
    if n == 0 or k <= 0:
        return []
    perm = torch.randperm(n, generator=generator).tolist()
    return [perm[j % n] for j in range(k)]


def _warn_small_labels(smallest: int | None) -> None:
    if smallest is not None and smallest < REFERENCE_TILE:
        log.warning(
            "class-uniform sampling: labels as small as %d px are below the reference's %d-pixel "
            "tiles, where the reference finds no centroids (its class-uniform sampling would be "
            "off); using %d-pixel tiles. Half-resolution labels (make-half-res --label-factor 2)? "
            "The reference's half-res ablations assume full-resolution labels.",
            smallest, REFERENCE_TILE, smallest)


def _fingerprint(label_paths: Sequence[Path], num_classes: int, rule: str) -> str:
    h = hashlib.sha256(f"v{_CACHE_VERSION}|{num_classes}|{rule}".encode())
    for p in label_paths:
        st = os.stat(p)
        h.update(f"|{p}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _read_cache(path: Path | None) -> Centroids | None:
    if path is None or not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
        return {int(c): [(int(i), (int(x), int(y))) for i, (x, y) in items] for c,
                items in raw.items()}
    except (OSError, ValueError, TypeError) as exc:
        log.warning("ignoring unreadable centroid cache %s: %s", path, exc)
        return None


def _write_cache(path: Path | None, centroids: Centroids) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({str(c): [[i, list(p)] for i, p in v] for c,
                                   v in sorted(centroids.items())}))
        os.replace(tmp, path)
    except OSError as exc:  # read-only dataset: keep the in-memory copy only
        log.info("centroid cache not written (%s); kept in memory", exc)
