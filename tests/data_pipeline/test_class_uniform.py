"""Class-uniform sampling: centroids, crops around them, epoch composition, the cache."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import torch
from PIL import Image

from regseg.data import class_uniform
from regseg.data.transforms import TrainTransform


def _ring_label(h=64, w=128):
    """Class 3 is a ring (its centre of mass is outside it), class 7 a small square, rest 0."""
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - 32, xx - 32)
    label = np.zeros((h, w), dtype=np.uint8)
    label[(r > 18) & (r < 22)] = 3
    label[40:44, 100:104] = 7
    return label


def test_default_centroids_are_the_references_truncated_centre_of_mass():
    label = _ring_label()
    cents = class_uniform.tile_centroids(label, 19)  # tiles 64x64: two per image
    assert sorted(cents) == [0, 3, 7]
    assert len(cents[0]) == 2 and len(cents[3]) == 1 and len(cents[7]) == 1
    ys, xs = np.nonzero(label[:, :64] == 3)
    want = (int(xs.mean()), int(ys.mean()))  # scipy's center_of_mass, truncated, as the reference
    assert cents[3] == [want]
    assert label[want[1], want[0]] != 3  # the ring's centre of mass is off the ring: kept as is
    assert cents[7] == [(101, 41)]  # centre of mass of the 4x4 square (integer part)


def test_nearest_class_pixel_rule_moves_centroids_onto_their_class():
    label = _ring_label()
    cents = class_uniform.tile_centroids(label, 19, rule="nearest_class_pixel")
    for c, points in cents.items():
        for x, y in points:
            assert label[y, x] == c
    assert cents[7] == [(101, 41)]  # already on the class: unchanged


def test_centroid_rules_match_the_config_literal():
    import typing

    from regseg.config import CentroidRuleName, TrainConfig

    assert set(typing.get_args(CentroidRuleName)) == set(class_uniform.CENTROID_RULES)
    assert TrainConfig().class_uniform_centroid == "center_of_mass"


def test_labels_below_the_reference_tile_warn(tmp_path, caplog):
    path = tmp_path / "small.png"
    Image.fromarray(_ring_label()).save(path)
    with caplog.at_level("WARNING", logger="regseg.data.class_uniform"):
        class_uniform.build_centroids([path], lambda p: np.array(Image.open(p)), num_classes=19,
                                      cache_stem=None)
    assert "below the reference's 1024-pixel tiles" in caplog.text
    assert "--label-factor 2" in caplog.text


def test_crop_around_a_centroid_contains_its_class():
    label = _ring_label()
    image = Image.fromarray(np.stack([label * 20] * 3, -1))
    tf = TrainTransform(64, 64, (16, 16), "baseline")
    cents = class_uniform.tile_centroids(label, 19, rule="nearest_class_pixel")
    for c in (3, 7):
        for seed in range(25):
            _, y = tf(image, Image.fromarray(label), rng=random.Random(seed), centroid=cents[c][0])
            assert (y == c).any()


def test_epoch_plan_composition_matches_the_reference():
    centroids = {c: [(i, (c, i)) for i in range(5)] for c in range(19) if c != 4}  # class 4 absent
    g = torch.Generator().manual_seed(0)
    plan = class_uniform.epoch_plan(100, centroids, num_classes=19, pct=0.5, generator=g)
    per_class = int(100 * 0.5 / 19)  # 2
    assert len(plan) == 100 - per_class * 19 + per_class * 18
    assert len(plan) == class_uniform.epoch_length(100, centroids, num_classes=19, pct=0.5)
    plain = [i for i, c in plan if c is None]
    assert len(plain) == 100 - 19 * per_class and len(set(plain)) == len(plain)
    counts = Counter(cent[0] for _, cent in plan if cent is not None)
    assert set(counts.values()) == {per_class} and 4 not in counts
    again = class_uniform.epoch_plan(100, centroids, num_classes=19, pct=0.5,
                                     generator=torch.Generator().manual_seed(0))
    assert again == plan


def test_no_centroids_or_zero_pct_is_a_permutation():
    g = torch.Generator().manual_seed(1)
    plan = class_uniform.epoch_plan(10, {}, num_classes=19, pct=0.5, generator=g)
    assert sorted(i for i, _ in plan) == list(range(10)) and all(c is None for _, c in plan)


def test_centroids_are_cached_on_disk(tmp_path, monkeypatch):
    paths = []
    for k in range(3):
        p = tmp_path / f"l{k}.png"
        Image.fromarray(np.roll(_ring_label(), 10 * k, axis=1)).save(p)
        paths.append(p)

    def read(p):
        return np.array(Image.open(p))

    first = class_uniform.build_centroids(paths, read, num_classes=19,
                                          cache_stem=tmp_path / "ds_train")
    files = list(tmp_path.glob("ds_train_centroids-*.json"))
    assert len(files) == 1
    monkeypatch.setattr(class_uniform, "_MEMORY", {})  # force a read from disk

    def must_not_read(p):
        raise AssertionError("labels re-read although the cache is current")

    assert class_uniform.build_centroids(paths, must_not_read, num_classes=19,
                                         cache_stem=tmp_path / "ds_train") == first
    assert {i for i, _ in first[3]} == {0, 1, 2}
    other = class_uniform.build_centroids(paths, read, num_classes=19, rule="nearest_class_pixel",
                                          cache_stem=tmp_path / "ds_train")
    assert len(list(tmp_path.glob("ds_train_centroids-*.json"))) == 2  # one cache per rule
    assert other[3] != first[3]
