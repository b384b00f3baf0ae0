"""RegSeg decoders (the paper's ablation decoders and the Sec. 3.4 decoder).

Every decoder takes the body's feature dict ``{"4", "8", "16"}`` and returns logits
(N, num_classes, H/8, W/8) or, for decoder26/decoder29, (N, num_classes, H/4, W/4).
Upsampling inside decoders is bilinear with align_corners=False, as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from regseg.models.blocks import ConvBnAct, DBlock


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def _fuse_conv(kind: str, w_in: int, w_out: int) -> nn.Module:
    table = {
        "conv1x1": lambda: ConvBnAct(w_in, w_out, 1),
        "conv3x3": lambda: ConvBnAct(w_in, w_out, 3, 1, 1),
        "yblock": lambda: DBlock(w_in, w_out, (1,), group_width=16, stride=1),
    }
    return table[kind]()


@dataclass(frozen=True)
class TwoScaleSpec:
    """Stride-8 + stride-16 decoder: 1x1 heads, fusion (``cat`` or ``sum``), one conv,
    classifier."""

    head8: int
    head16: int
    fuse: str
    conv: str
    width: int = 128


class TwoScaleDecoder(nn.Module):
    """decoder4 / decoder10 / decoder12 / decoder14. Output (N, classes, H/8, W/8)."""

    def __init__(self, num_classes: int, channels: dict[str, int], *, spec: TwoScaleSpec) -> None:
        super().__init__()
        c8, c16 = channels["8"], channels["16"]
        # Registration order mirrors the reference so state_dict key order matches too.
        if spec.fuse == "cat":
            self.head8 = ConvBnAct(c8, spec.head8, 1)
            self.head16 = ConvBnAct(c16, spec.head16, 1)
            fused = spec.head8 + spec.head16
        else:
            self.head16 = ConvBnAct(c16, spec.head16, 1)
            self.head8 = ConvBnAct(c8, spec.head8, 1)
            fused = spec.head16
        self.cat = spec.fuse == "cat"
        self.conv = _fuse_conv(spec.conv, fused, spec.width)
        self.classifier = nn.Conv2d(spec.width, num_classes, 1)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        x8 = self.head8(x["8"])
        x16 = _up(self.head16(x["16"]), x8)
        y = torch.cat((x8, x16), dim=1) if self.cat else x8 + x16
        return self.classifier(self.conv(y))


@dataclass(frozen=True)
class ThreeScaleSpec:
    """Widths of the Sec. 3.4 decoder: heads at strides 16, 8, 4 and the two 3x3 convs."""

    head16: int
    head8: int
    head4: int
    conv8: int
    conv4: int


class ThreeScaleDecoder(nn.Module):
    """decoder26 (RegSeg) / decoder29 (larger RegSeg). Output (N, classes, H/4, W/4).

    x16 and x8 heads are summed, a 3x3 conv, upsampled and concatenated with the x4 head,
    another 3x3 conv, then the 1x1 classifier.
    """

    def __init__(self, num_classes: int, channels: dict[str, int], *, spec: ThreeScaleSpec) -> None:
        super().__init__()
        self.head16 = ConvBnAct(channels["16"], spec.head16, 1)
        self.head8 = ConvBnAct(channels["8"], spec.head8, 1)
        self.head4 = ConvBnAct(channels["4"], spec.head4, 1)
        self.conv8 = ConvBnAct(spec.head8, spec.conv8, 3, 1, 1)
        self.conv4 = ConvBnAct(spec.conv8 + spec.head4, spec.conv4, 3, 1, 1)
        self.classifier = nn.Conv2d(spec.conv4, num_classes, 1)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        x16 = self.head16(x["16"])
        x8 = self.head8(x["8"])
        x4 = self.head4(x["4"])
        x8 = self.conv8(x8 + _up(x16, x8))
        x4 = torch.cat((_up(x8, x4), x4), dim=1)
        return self.classifier(self.conv4(x4))


class LRASPP(nn.Module):
    """LR-ASPP head (MobileNetV3) on the stride-8/16 maps; ``inter_channels`` 128.

    Output (N, classes, H/8, W/8) = low_classifier(x8) + high_classifier(up(cbr(x16) * gate)).
    """

    def __init__(self, num_classes: int, channels: dict[str, int], *,
                 inter_channels: int = 128) -> None:
        super().__init__()
        c8, c16 = channels["8"], channels["16"]
        self.cbr = ConvBnAct(c16, inter_channels, 1)
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                   nn.Conv2d(c16, inter_channels, 1, bias=False), nn.Sigmoid())
        self.low_classifier = nn.Conv2d(c8, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        x8, x16 = x["8"], x["16"]
        y = _up(self.cbr(x16) * self.scale(x16), x8)
        return self.low_classifier(x8) + self.high_classifier(y)
