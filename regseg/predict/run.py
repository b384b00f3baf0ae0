"""``predict(...)``: images in, colour predictions (and a Cityscapes submission) out."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from PIL import Image

from regseg.errors import ConfigError
from regseg.predict.errors import InputImageError
from regseg.predict.inputs import InputImage, discover_images
from regseg.predict.palette import palette_for
from regseg.predict.writing import read_label, submission_path, write_submission, write_visuals

CITYSCAPES_NUM_CLASSES = 19


@dataclass(frozen=True)
class PredictSummary:
    """What a prediction run did. ``seconds`` covers reading, inference and writing (not the
    model loading); ``images_per_s`` = images / seconds."""

    model: str
    num_classes: int
    device: str
    images: int
    with_ground_truth: int
    seconds: float
    images_per_s: float
    out_dir: str
    submission_dir: str | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Loaded:
    item: InputImage
    rgb: np.ndarray  # uint8[H, W, 3], the stored image
    pil: Image.Image


def _check_options(overlay: float, batch: int, input_size) -> None:
    if not 0.0 <= overlay <= 1.0:
        raise ConfigError(f"--overlay: expected a blend weight in [0, 1], got {overlay}")
    if batch < 1:
        raise ConfigError(f"--batch: expected a positive integer, got {batch}")
    if input_size is not None and (len(input_size) != 2 or min(input_size) < 1):
        raise ConfigError(f"--input-size: expected two positive integers H W, got {input_size}")


def _check_submission(items: Sequence[InputImage], num_classes: int) -> None:
    if num_classes != CITYSCAPES_NUM_CLASSES:
        raise ConfigError(f"--cityscapes-submission: expected a model with the 19 Cityscapes "
                          f"classes, got one with {num_classes}")
    cores: dict[str, Path] = {}
    for item in items:
        if item.cityscapes_core is None:
            raise InputImageError(f"--cityscapes-submission: expected Cityscapes file names "
                                  f"<city>_<seq>_<frame>_leftImg8bit.<ext>, got {item.path}")
        if item.cityscapes_core in cores:
            raise InputImageError(f"--cityscapes-submission: {cores[item.cityscapes_core]} and "
                                  f"{item.path} are the same Cityscapes frame")
        cores[item.cityscapes_core] = item.path


def _read(items: Sequence[InputImage]) -> Iterator[_Loaded]:
    for item in items:
        try:
            with Image.open(item.path) as im:
                pil = im.convert("RGB")
        except (OSError, ValueError) as exc:
            detail = str(exc).splitlines()[0][:200] if str(exc) else "no details"
            raise InputImageError(f"input image {item.path}: cannot be read "
                                  f"({type(exc).__name__}: {detail})") from exc
        yield _Loaded(item, np.asarray(pil), pil)


def predict(model_name: str, weights: str | os.PathLike, inputs: Sequence[str | os.PathLike],
            out_dir: str | os.PathLike, *, overlay: float = 0.5,
            input_size: tuple[int, int] | None = None, batch: int = 1, device: str = "auto",
            amp: bool = True, submission_dir: str | os.PathLike | None = None,
            on_progress: Callable[[int, int], None] | None = None) -> PredictSummary:
    """Predict every image of ``inputs`` (files, directories searched recursively).

    Writes the files described in regseg.predict.writing under ``out_dir`` (and the labelIds
    files under ``submission_dir`` when given). ``input_size`` (H, W): resize the images for the
    model (default: as stored); predictions always have the stored size. ``amp``: fp16 autocast
    on CUDA, as evaluation does with mixed precision (CPU: fp32). ``on_progress(done, total)``
    is called after each batch. Raises InputImageError, WeightsFileError, ModelMismatchError,
    UnknownNameError or ConfigError (all exit status 2 in the CLI).
    """
    from regseg.engine.evaluate import resolve_device
    from regseg.engine.setup import resolve_amp
    from regseg.predict.checkpoint import load_for_prediction
    from regseg.predict.inference import Predictor, batches, image_to_input

    _check_options(overlay, batch, input_size)
    out = Path(out_dir)
    submission = Path(submission_dir) if submission_dir is not None else None
    items = discover_images(inputs, exclude=[p for p in (out, submission) if p is not None])
    model, num_classes = load_for_prediction(model_name, weights)
    if submission is not None:
        _check_submission(items, num_classes)
    target = resolve_device(device)
    predictor = Predictor(model, device=target, amp=resolve_amp(amp, target, None))
    palette = palette_for(num_classes)
    size = tuple(input_size) if input_size is not None else None

    def load(loaded: _Loaded):
        return image_to_input(loaded.pil, size), loaded.rgb.shape[:2]

    done, labelled, start = 0, 0, time.perf_counter()
    for group, tensors, sizes in batches(_read(items), load, batch):
        for loaded, prediction in zip(group, predictor.predict(tensors, sizes)):
            item = loaded.item
            label = read_label(item.label, prediction.shape) if item.label is not None else None
            write_visuals(out, item.name, loaded.rgb, prediction, label, palette=palette,
                          alpha=overlay)
            if submission is not None:
                write_submission(prediction, submission_path(submission, item.cityscapes_core))
            labelled += label is not None
        done += len(group)
        if on_progress is not None:
            on_progress(done, len(items))
    seconds = time.perf_counter() - start
    return PredictSummary(model=model_name, num_classes=num_classes, device=str(predictor.device),
                          images=done, with_ground_truth=labelled, seconds=seconds,
                          images_per_s=done / seconds if seconds > 0 else float("nan"),
                          out_dir=str(out), submission_dir=str(submission) if submission else None)
