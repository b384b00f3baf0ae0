"""Finding input images, their output names and their ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from regseg.predict import InputImageError
from regseg.predict.inputs import cityscapes_core, discover_images, find_label


def _png(path, size=(8, 12)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((*size, 3), dtype=np.uint8)).save(path)
    return path


def test_a_dataset_root_yields_its_images_with_labels_not_its_label_files(synthetic_dataset):
    items = discover_images([synthetic_dataset])
    assert len(items) == 16 + 8
    assert all(item.label is not None and "_gtFine_" not in item.path.name for item in items)
    first = [i for i in items if "val" in i.path.parts][0]
    assert first.name.as_posix() == "leftImg8bit/val/valtown/valtown_000000_000019"
    assert first.label.name == "valtown_000000_000019_gtFine_labelTrainIds.png"
    assert first.cityscapes_core == "valtown_000000_000019"


def test_directories_are_searched_recursively_sorted_and_hidden_and_output_dirs_skipped(tmp_path):
    _png(tmp_path / "in/b/2.png")
    _png(tmp_path / "in/a/1.JPG")
    _png(tmp_path / "in/.cache/x.png")
    _png(tmp_path / "in/out/old_pred.png")
    (tmp_path / "in/notes.txt").write_text("not an image")
    items = discover_images([tmp_path / "in", tmp_path / "in/b/2.png"],
                            exclude=[tmp_path / "in/out"])
    assert [i.name.as_posix() for i in items] == ["a/1", "b/2"]  # the repeated file once
    assert all(i.label is None and i.cityscapes_core is None for i in items)


def test_label_ids_file_is_used_when_train_ids_are_missing(tmp_path):
    image = _png(tmp_path / "leftImg8bit/test/bonn/bonn_000001_000019_leftImg8bit.png")
    assert find_label(image) is None
    ids = _png(tmp_path / "gtFine/test/bonn/bonn_000001_000019_gtFine_labelIds.png")
    assert find_label(image) == ids
    train_ids = _png(tmp_path / "gtFine/test/bonn/bonn_000001_000019_gtFine_labelTrainIds.png")
    assert find_label(image) == train_ids


def test_cityscapes_core_names():
    from pathlib import Path

    assert cityscapes_core(Path("x/berlin_000000_000019_leftImg8bit.png")) == "berlin_000000_000019"
    assert cityscapes_core(Path("berlin_leftImg8bit.png")) is None
    assert cityscapes_core(Path("berlin_000000_000019.png")) is None


def test_errors_name_the_problem(tmp_path):
    (tmp_path / "empty/sub").mkdir(parents=True)
    with pytest.raises(InputImageError, match="expected image files .* found none"):
        discover_images([tmp_path / "empty"])
    with pytest.raises(InputImageError, match="found nothing"):
        discover_images([tmp_path / "absent.png"])
    (tmp_path / "bad.png").write_bytes(b"\x89PNG but not really")
    with pytest.raises(InputImageError, match="bad.png: cannot be read"):
        discover_images([tmp_path / "bad.png"])
    _png(tmp_path / "one/x.png")
    _png(tmp_path / "two/x.png")
    with pytest.raises(InputImageError, match="both would be written as x"):
        discover_images([tmp_path / "one", tmp_path / "two"])
    assert InputImageError("x").exit_code == 2
