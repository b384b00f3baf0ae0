"""Datasets on disk and build_loaders: layouts, errors, shapes, reproducibility."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from regseg.config import TrainConfig
from regseg.data import (
    CAMVID_CLASSES,
    CITYSCAPES_CLASSES,
    build_loaders,
    class_names,
    list_datasets,
)
from regseg.data.datasets import (
    find_camvid,
    find_cityscapes,
    read_camvid_label,
    read_cityscapes_label,
)
from regseg.data.labels import CAMVID_COLOR_TO_CLASS
from regseg.errors import DatasetError


def _cfg(root, **kw):
    base = dict(dataset_name="synthetic", dataset_dir=str(root), batch_size=4, train_min_size=48,
                train_max_size=80, train_crop_size=(48, 64), val_input_size=64, val_label_size=64,
                num_workers=0, max_eval=600, num_classes=19)
    return TrainConfig(**{**base, **kw})


def _first_batches(loader, n=2):
    it = iter(loader)
    return [next(it) for _ in range(n)]


def test_loaders_shapes_dtypes_and_lengths(synthetic_dataset):
    train, val = build_loaders(_cfg(synthetic_dataset, max_eval=5))
    x, y = next(iter(train))
    assert x.shape == (4, 3, 48, 64) and x.dtype == torch.float32
    assert y.shape == (4, 48, 64) and y.dtype == torch.uint8  # widened on the device
    assert set(torch.unique(y).tolist()) <= set(range(19)) | {255}
    assert len(train) == 16 // 4  # class-uniform epoch keeps N samples; drop_last
    assert sum(1 for _ in train) == len(train)
    batches = list(val)
    assert len(batches) == len(val) == 5  # max_eval caps the val images
    assert batches[0][0].shape == (1, 3, 64, 128) and batches[0][1].shape == (1, 64, 128)


def test_centroid_cache_sits_next_to_the_dataset_not_inside(tmp_path, synthetic_dataset):
    root = tmp_path / "copy"
    shutil.copytree(synthetic_dataset, root)
    build_loaders(_cfg(root))
    assert sorted(p.name for p in root.iterdir()) == ["gtFine", "leftImg8bit"]
    assert len(list(tmp_path.glob("copy_train_centroids-*.json"))) == 1


def test_drop_last(synthetic_dataset):
    train, _ = build_loaders(_cfg(synthetic_dataset, batch_size=5, class_uniform_pct=0.0))
    assert len(train) == 3 and all(x.shape[0] == 5 for x, _ in train)


def test_reproducible_from_seed(synthetic_dataset):
    a = _first_batches(build_loaders(_cfg(synthetic_dataset))[0])
    b = _first_batches(build_loaders(_cfg(synthetic_dataset))[0])
    c = _first_batches(build_loaders(_cfg(synthetic_dataset, seed=1))[0])
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, b))
    assert not torch.equal(a[0][0], c[0][0])


def test_epochs_differ_and_generator_state_resumes_exactly(synthetic_dataset):
    train, _ = build_loaders(_cfg(synthetic_dataset))
    epoch0 = [y for _, y in train]
    state = train.sampler.generator.get_state()
    epoch1 = [y for _, y in train]
    assert not all(torch.equal(p, q) for p, q in zip(epoch0, epoch1))
    resumed, _ = build_loaders(_cfg(synthetic_dataset))
    resumed.sampler.generator.set_state(state)
    assert all(torch.equal(p, q) for p, q in zip(epoch1, [y for _, y in resumed]))


@pytest.mark.slow
def test_workers_do_not_change_the_batches(synthetic_dataset):
    single = _first_batches(build_loaders(_cfg(synthetic_dataset, num_workers=0))[0])
    multi = _first_batches(build_loaders(_cfg(synthetic_dataset, num_workers=2))[0])
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(single, multi))


def test_label_ids_only_are_mapped(tmp_path, synthetic_dataset):
    root = tmp_path / "ids_only"
    shutil.copytree(synthetic_dataset / "leftImg8bit", root / "leftImg8bit")
    shutil.copytree(synthetic_dataset / "gtFine", root / "gtFine")
    for p in root.glob("gtFine/*/*/*_labelTrainIds.png"):
        p.unlink()
    ours = find_cityscapes(root, "val")
    theirs = find_cityscapes(synthetic_dataset, "val")
    assert all(lbl.name.endswith("_gtFine_labelIds.png") for _, lbl in ours)
    for (_, mine), (_, ref) in zip(ours, theirs):
        assert np.array_equal(read_cityscapes_label(mine), np.array(Image.open(ref)))


def test_trainval_combines_splits(synthetic_dataset):
    assert len(find_cityscapes(synthetic_dataset, "trainval")) == 24


def test_missing_directory_and_split_errors_name_the_path(tmp_path, synthetic_dataset):
    with pytest.raises(DatasetError, match=str(tmp_path / "absent")):
        find_cityscapes(tmp_path / "absent", "train")
    with pytest.raises(DatasetError, match=str(synthetic_dataset / "leftImg8bit" / "test")):
        find_cityscapes(synthetic_dataset, "test")
    empty = tmp_path / "empty"
    (empty / "leftImg8bit/val/city").mkdir(parents=True)
    (empty / "gtFine/val").mkdir(parents=True)
    with pytest.raises(DatasetError, match=str(empty / "leftImg8bit" / "val")):
        find_cityscapes(empty, "val")
    with pytest.raises(DatasetError, match="expected a directory"):
        build_loaders(_cfg(tmp_path / "nowhere"))


def test_missing_label_names_the_expected_file(tmp_path, synthetic_dataset):
    root = tmp_path / "partial"
    shutil.copytree(synthetic_dataset, root)
    victim = sorted(root.glob("gtFine/val/*/*_labelTrainIds.png"))[0]
    victim.unlink()
    victim.with_name(victim.name.replace("TrainIds", "Ids")).unlink()
    with pytest.raises(DatasetError, match=victim.name):
        find_cityscapes(root, "val")


def _write_camvid(root, *, rgb_labels: bool):
    rng = np.random.default_rng(0)
    colours = list(CAMVID_COLOR_TO_CLASS)
    for split, n in (("train", 3), ("val", 2), ("test", 2)):
        (root / split).mkdir(parents=True)
        (root / f"{split}_labels").mkdir()
        for i in range(n):
            cls = rng.integers(0, 11, size=(24, 32)).astype(np.uint8)
            Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(
                root / split / f"f{i:03d}.png")
            lbl = (np.array([colours[c] for c in cls.ravel()], np.uint8).reshape(24, 32, 3)
                   if rgb_labels else cls)
            Image.fromarray(lbl).save(root / f"{split}_labels" / f"f{i:03d}_L.png")


@pytest.mark.parametrize("rgb_labels", [False, True])
def test_camvid_layout(tmp_path, rgb_labels):
    _write_camvid(tmp_path, rgb_labels=rgb_labels)
    items = find_camvid(tmp_path, "trainval")
    assert len(items) == 5 and items[0][1].name == "f000_L.png"
    assert set(np.unique(read_camvid_label(items[0][1])).tolist()) <= set(range(11))
    cfg = TrainConfig(dataset_name="camvid", dataset_dir=str(tmp_path), num_classes=11,
                      batch_size=2, train_min_size=20, train_max_size=30,
                      train_crop_size=(28, 36), aug_mode="baseline", class_uniform_pct=0.0,
                      train_split="trainval", val_split="test", val_input_size=24,
                      val_label_size=24, num_workers=0, exclude_classes=[])
    train, val = build_loaders(cfg)
    x, y = next(iter(train))
    assert x.shape == (2, 3, 28, 36) and y.shape == (2, 28, 36) and len(val) == 2
    assert set(torch.unique(y).tolist()) <= set(range(11)) | {255}
    with pytest.raises(DatasetError, match=str(tmp_path / "train_labels" / "f000_L.png")):
        (tmp_path / "train_labels" / "f000_L.png").unlink()
        find_camvid(tmp_path, "train")


def test_class_names_and_registry():
    assert list_datasets() == ["camvid", "cityscapes", "synthetic"]
    assert class_names(TrainConfig()) == list(CITYSCAPES_CLASSES)
    assert (CITYSCAPES_CLASSES[:3] == ("road", "sidewalk", "building")
            and CITYSCAPES_CLASSES[-1] == "bicycle")
    assert len(CITYSCAPES_CLASSES) == 19
    assert class_names(TrainConfig(dataset_name="camvid", num_classes=11,
                                   exclude_classes=[])) == list(CAMVID_CLASSES)
    assert class_names(TrainConfig(num_classes=3, exclude_classes=[])) == [
        "class_0", "class_1", "class_2"]
