"""The model registry: every ``<body>_<decoder>`` combination plus the DDRNet competitors.

``build_model(name, *, num_classes=19)`` returns an ``nn.Module`` mapping (N, 3, H, W) images to
(N, num_classes, H, W) logits. Adding a body or decoder is one row in ``BODIES`` / ``DECODERS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from regseg.errors import ConfigError, UnknownNameError
from regseg.models.blocks import ConvBnAct
from regseg.models.bodies import BODIES, STEM_CHANNELS, Body
from regseg.models.competitors import BiseNetDecoder, SFNetDecoder
from regseg.models.ddrnet import DDRNETS, DualResNet
from regseg.models.decoders import (
    LRASPP,
    ThreeScaleDecoder,
    ThreeScaleSpec,
    TwoScaleDecoder,
    TwoScaleSpec,
)

DecoderFactory = Callable[[int, dict[str, int]], nn.Module]


@dataclass(frozen=True)
class DecoderRow:
    """A decoder: its factory ``(num_classes, body channels) -> module``, one-line description
    (the paper's wording) and the output stride of its logits."""

    factory: DecoderFactory
    description: str
    output_stride: int = 8


DECODERS: dict[str, DecoderRow] = {
    "decoder4": DecoderRow(partial(TwoScaleDecoder, spec=TwoScaleSpec(32, 128, "cat", "conv3x3")),
                           "concat + 3x3 conv"),
    "decoder10": DecoderRow(partial(TwoScaleDecoder, spec=TwoScaleSpec(32, 128, "cat", "yblock")),
                            "concat + Y block"),
    "decoder12": DecoderRow(partial(TwoScaleDecoder, spec=TwoScaleSpec(128, 128, "sum", "conv1x1")),
                            "sum + 1x1 conv"),
    "decoder14": DecoderRow(partial(TwoScaleDecoder, spec=TwoScaleSpec(128, 128, "sum", "conv3x3")),
                            "sum + 3x3 conv"),
    "decoder26": DecoderRow(partial(ThreeScaleDecoder, spec=ThreeScaleSpec(128, 128, 8, 64, 64)),
                            "Sec 3.4 decoder (RegSeg): sum x8+x16, 3x3, concat x4, 3x3", 4),
    "decoder29": DecoderRow(partial(ThreeScaleDecoder, spec=ThreeScaleSpec(256, 256, 16, 128, 128)),
                            "Sec 3.4 decoder, 2x wider (larger RegSeg)", 4),
    "lraspp": DecoderRow(partial(LRASPP, inter_channels=128), "LR-ASPP (MobileNetV3)"),
    "BisenetDecoder": DecoderRow(BiseNetDecoder, "BiSeNet decoder (ARM + FFM)"),
    "SFNetDecoder": DecoderRow(SFNetDecoder, "SFNet decoder (PPM + flow alignment)"),
}


class RegSeg(nn.Module):
    """stem (3x3/2 conv, 32 ch, BN, ReLU) -> body -> decoder -> bilinear upsample to the input.

    (N, 3, H, W) -> (N, num_classes, H, W). State-dict keys: ``stem.*``, ``body.*``, ``decoder.*``.
    """

    def __init__(self, body: str, decoder: str, *, num_classes: int = 19) -> None:
        super().__init__()
        self.body_name, self.decoder_name = body, decoder
        self.stem = ConvBnAct(3, STEM_CHANNELS, 3, 2, 1)
        self.body = Body(BODIES[body])
        self.decoder = DECODERS[decoder].factory(num_classes, self.body.channels())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        x = self.decoder(self.body(self.stem(x)))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def list_bodies() -> list[str]:
    """Body names in table order (exp30 ... regnety600mf)."""
    return list(BODIES)


def list_decoders() -> list[str]:
    """Decoder names in table order."""
    return list(DECODERS)


def list_competitors() -> list[str]:
    return list(DDRNETS)


def list_models() -> list[str]:
    """Every buildable name: all body x decoder combinations, then the competitors."""
    combos = [f"{b}_{d}" for b in BODIES for d in DECODERS]
    return combos + list(DDRNETS)


def split_name(name: str) -> tuple[str, str]:
    """``"exp48_decoder26"`` -> ("exp48", "decoder26"); competitors -> (name, "").

    Raises UnknownNameError (listing valid bodies, decoders and competitors) on a miss.
    """
    if isinstance(name, str) and name in DDRNETS:
        return name, ""
    body, sep, decoder = name.partition("_") if isinstance(name, str) else ("", "", "")
    if sep and body in BODIES and decoder in DECODERS:
        return body, decoder
    raise UnknownNameError(
        f"model_name: expected '<body>_<decoder>' or a competitor, got {name!r}. "
        f"Bodies: {', '.join(BODIES)}. Decoders: {', '.join(DECODERS)}. "
        f"Competitors: {', '.join(DDRNETS)}.")


def build_model(name: str, *, num_classes: int = 19) -> nn.Module:
    """Build a model by name with freshly initialised weights (no download, no pretrained)."""
    body, decoder = split_name(name)
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ConfigError(f"num_classes: expected a positive integer, got {num_classes!r}")
    if not decoder:
        return DualResNet(DDRNETS[body], num_classes=num_classes)
    return RegSeg(body, decoder, num_classes=num_classes)
