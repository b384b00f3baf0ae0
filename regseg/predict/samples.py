"""Training-time sample images: an engine callback (docs/CONTRACTS.md) that, at every new best
epoch, predicts a fixed handful of validation images and writes one panel PNG per image.

The images are chosen by index: ``evenly_spaced_indices(len(evaluated images), count)``, so
every run of a group (same val split and ``max_eval``) shows the same images and the panels
can be compared side by side (reports/prediction_grid.py). Each panel is a 2 x 2 grid:
image | ground truth over prediction | error map, at the label size the evaluation scores.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from regseg.data.labels import IGNORE
from regseg.predict.inference import Predictor, input_to_image
from regseg.predict.palette import colorize, error_map, palette_for

DEFAULT_COUNT = 4
PREDICTIONS_DIR = "predictions"
_GAP = 2  # white pixels between the panel's tiles


def evenly_spaced_indices(length: int, count: int = DEFAULT_COUNT) -> list[int]:
    """``count`` indices spread evenly over ``range(length)``, first and last included (all of
    them when ``length <= count``). A pure function of its arguments."""
    if length <= 0 or count <= 0:
        return []
    if count >= length:
        return list(range(length))
    if count == 1:
        return [0]
    return [round(i * (length - 1) / (count - 1)) for i in range(count)]


def sample_panel(image: np.ndarray, label: np.ndarray, prediction: np.ndarray, *,
                 palette: np.ndarray) -> np.ndarray:
    """uint8[2h + gap, 2w + gap, 3]: image | ground truth over prediction | error map."""
    h, w = label.shape
    tiles = [image, colorize(label, palette), colorize(prediction, palette),
             error_map(image, prediction, label, ignore_index=IGNORE)]
    panel = np.full((2 * h + _GAP, 2 * w + _GAP, 3), 255, dtype=np.uint8)
    for k, tile in enumerate(tiles):
        top, left = (k // 2) * (h + _GAP), (k % 2) * (w + _GAP)
        panel[top: top + h, left: left + w] = tile
    return panel


def _resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if rgb.shape[:2] == tuple(size):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.Resampling.BILINEAR))


class SampleImagesCallback:
    """Writes ``<out_dir>/predictions/sample_<index:05d>.png`` for each index at every ``best``
    checkpoint, so at the end they show the best epoch.

    ``dataset[i]`` must return ``(normalised float32[3, H, W], int64[h, w] label)`` (the val
    pipeline). ``written``: the files of the latest call (empty before the first best);
    ``epoch``: the epoch they show; ``last_seconds`` / ``total_seconds``: the cost of the latest
    call and of all calls. The model's train/eval mode is restored after each call.
    """

    def __init__(self, dataset, indices: Sequence[int], out_dir, *, num_classes: int = 19,
                 amp: str | None = None) -> None:
        bad = [i for i in indices if not 0 <= int(i) < len(dataset)]
        if bad:
            from regseg.errors import ConfigError

            raise ConfigError(f"sample image indices: expected 0 <= index < {len(dataset)}, "
                              f"got {bad}")
        self.dataset = dataset
        self.indices = [int(i) for i in indices]
        self.directory = Path(out_dir) / PREDICTIONS_DIR
        self.palette = palette_for(num_classes)
        self.amp = amp
        self.model: torch.nn.Module | None = None
        self.written: list[Path] = []
        self.epoch: int | None = None
        self.last_seconds = 0.0
        self.total_seconds = 0.0
        self._current_epoch: int | None = None

    @classmethod
    def for_config(cls, cfg, out_dir, *, count: int = DEFAULT_COUNT) -> "SampleImagesCallback":
        """The callback of a TrainConfig: ``count`` evenly spaced images of the evaluated part
        (the first ``cfg.max_eval``) of ``cfg.val_split``."""
        from regseg.data import build_datasets

        _, val = build_datasets(cfg)
        indices = evenly_spaced_indices(min(len(val), cfg.max_eval), count)
        return cls(val, indices, out_dir, num_classes=cfg.num_classes)

    def on_train_start(self, cfg, *, model, start_epoch: int, out_dir) -> None:
        self.model = model

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        self._current_epoch = epoch

    def on_checkpoint(self, kind: str, path) -> None:
        if kind == "best" and self.model is not None:
            self.write(self.model)

    def write(self, model: torch.nn.Module) -> list[Path]:
        """Predict the sample images with ``model`` now and (over)write their panels."""
        start = time.perf_counter()
        was_training = model.training
        try:
            predictor = Predictor(model, device=next(model.parameters()).device, amp=self.amp)
            written = [self._write_one(predictor, index) for index in self.indices]
        finally:
            model.train(was_training)  # training goes on with the mode it had
        self.written, self.epoch = written, self._current_epoch
        self.last_seconds = time.perf_counter() - start
        self.total_seconds += self.last_seconds
        return written

    def _write_one(self, predictor: Predictor, index: int) -> Path:
        image, label = self.dataset[index]
        label = label.numpy().astype(np.uint8)
        prediction = predictor.predict(image[None], [label.shape])[0]
        rgb = _resize_rgb(input_to_image(image), label.shape)
        panel = sample_panel(rgb, label, prediction, palette=self.palette)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"sample_{index:05d}.png"
        Image.fromarray(panel).save(path, compress_level=3)
        return path
