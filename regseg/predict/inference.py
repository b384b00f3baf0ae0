"""Batched inference, run the way evaluation runs the model: on
:func:`regseg.engine.fastpath.prepare_for_eval`'s folded channels_last copy, inputs through
``to_model_input``, logits from ``eval_logits`` under ``torch.inference_mode``.

Images are normalised like the val pipeline (ImageNet mean/std), optionally resized to a fixed
input size (bilinear, antialiased, as the val transform resizes), batched when consecutive
images have the same input size, and the logits are resized bilinearly (align_corners=False)
to each image's stored size before the argmax, so predictions always have the image's size.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from regseg.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from regseg.engine.evaluate import resolve_device
from regseg.engine.fastpath import eval_logits, prepare_for_eval, to_model_input

T = TypeVar("T")
Size = tuple[int, int]  # (height, width)


def image_to_input(image: Image.Image, input_size: Size | None = None) -> torch.Tensor:
    """PIL RGB image -> normalised float32[3, H, W] (resized to ``input_size`` when given)."""
    if input_size is not None and (image.height, image.width) != tuple(input_size):
        image = TF.resize(image, list(input_size), interpolation=TF.InterpolationMode.BILINEAR)
    tensor = TF.to_dtype(TF.pil_to_tensor(image), torch.float32, scale=True)
    return TF.normalize(tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD)


def input_to_image(tensor: torch.Tensor) -> np.ndarray:
    """Inverse of the normalisation: float32[3, H, W] -> uint8[H, W, 3]."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=tensor.dtype, device=tensor.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=tensor.dtype, device=tensor.device)[:, None, None]
    rgb = (tensor * std + mean).clamp(0, 1) * 255.0
    return rgb.round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


class Predictor:
    """An evaluation copy of a model on a device, mapping input batches to train-id maps.

    ``model`` is moved to ``device`` but otherwise left as it was (its train/eval mode and its
    weights): the forward passes use a copy made now, so later changes to ``model`` are not seen.
    ``amp``: ``'fp16'`` | ``'bf16'`` | None (see regseg.engine.evaluate.autocast_context).
    """

    def __init__(self, model: torch.nn.Module, *, device: str | torch.device = "auto",
                 amp: str | None = None) -> None:
        self.device = resolve_device(device)
        self.model = prepare_for_eval(model.to(self.device))
        self.amp = amp

    @torch.inference_mode()
    def predict(self, inputs: torch.Tensor, sizes: Sequence[Size]) -> list[np.ndarray]:
        """``inputs`` float32[N, 3, h, w] -> N uint8[H_i, W_i] argmax maps, one per ``sizes``."""
        batch = to_model_input(inputs, self.device)
        logits = eval_logits(self.model, batch, device=self.device, amp=self.amp)
        out = []
        for k, size in enumerate(sizes):
            one = logits[k: k + 1].float()
            if tuple(one.shape[-2:]) != tuple(size):
                one = F.interpolate(one, size=tuple(size), mode="bilinear", align_corners=False)
            out.append(one.argmax(1)[0].to(torch.uint8).cpu().numpy())
        return out


def batches(items: Iterable[T], load: Callable[[T], tuple[torch.Tensor, Size]],
            batch_size: int) -> Iterator[tuple[list[T], torch.Tensor, list[Size]]]:
    """Group consecutive items whose inputs have one shape into batches of at most
    ``batch_size``; yields ``(items, stacked inputs, stored sizes)``. Inputs of different
    shapes are never padded together (padding would change the predictions near the edges)."""
    group: list[T] = []
    tensors: list[torch.Tensor] = []
    sizes: list[Size] = []
    for item in items:
        tensor, size = load(item)
        if group and (len(group) == batch_size or tensor.shape != tensors[0].shape):
            yield group, torch.stack(tensors), sizes
            group, tensors, sizes = [], [], []
        group.append(item)
        tensors.append(tensor)
        sizes.append(size)
    if group:
        yield group, torch.stack(tensors), sizes
