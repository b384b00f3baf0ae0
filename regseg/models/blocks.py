"""Building blocks shared by the RegSeg bodies and decoders.

Attribute names are part of the checkpoint format: they must produce exactly the state-dict keys
of the reference implementation (``conv``/``bn``, ``conv1``..``conv3``, ``se``, ``shortcut``,
``convs.<i>``), so released weights load strictly.
All modules take and return NCHW float tensors.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class ConvBnAct(nn.Module):
    """Conv2d (no bias by default) -> BatchNorm2d -> optional ReLU. Keys: ``conv.*``, ``bn.*``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 padding: int = 0, dilation: int = 1, groups: int = 1, *, bias: bool = False,
                 apply_act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation,
                              groups, bias)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True) if apply_act else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return self.act(x) if self.act is not None else x


class SEModule(nn.Module):
    """Squeeze-and-excitation: global average -> 1x1 conv -> ReLU -> 1x1 conv -> sigmoid gate.

    ``w_in`` channels in and out; ``w_se`` hidden channels (both 1x1 convs carry a bias).
    """

    def __init__(self, w_in: int, w_se: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = nn.Conv2d(w_in, w_se, 1, bias=True)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(w_se, w_in, 1, bias=True)
        self.act2 = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.act2(self.conv2(self.act1(self.conv1(self.avg_pool(x)))))
        return x * gate


class Shortcut(nn.Module):
    """Projection shortcut: [2x2 average pool (ceil mode)] -> 1x1 conv -> BN.

    With ``avg_downsample`` and stride 2 the pooling does the downsampling (D block); otherwise
    the 1x1 conv is strided (RegNet Y block).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, *,
                 avg_downsample: bool = False) -> None:
        super().__init__()
        pool = avg_downsample and stride != 1
        self.avg = nn.AvgPool2d(2, 2, ceil_mode=True) if pool else None
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=1 if pool else stride,
                              bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.avg is not None:
            x = self.avg(x)
        return self.bn(self.conv(x))


class DilatedConv(nn.Module):
    """Grouped 3x3 conv whose channels are split evenly, one split per dilation rate.

    ``w`` must divide into ``len(dilations)`` splits, each a multiple of ``group_width``.
    Input (N, w, H, W) -> output (N, w, H/stride, W/stride); keys ``convs.<i>.weight``.
    """

    def __init__(self, w: int, dilations: Sequence[int], *, group_width: int, stride: int = 1,
                 bias: bool = False) -> None:
        super().__init__()
        splits = len(dilations)
        if w % splits or (w // splits) % group_width:
            raise ValueError(f"DilatedConv: width {w} must split into {splits} parts that are "
                             f"multiples of group_width {group_width}")
        part = w // splits
        self.convs = nn.ModuleList(
            nn.Conv2d(part, part, 3, stride=stride, padding=d, dilation=d, bias=bias,
                      groups=part // group_width)
            for d in dilations)
        self.num_splits = splits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.tensor_split(x, self.num_splits, dim=1)
        return torch.cat([conv(p) for conv, p in zip(self.convs, parts)], dim=1)


class DBlock(nn.Module):
    """The RegSeg "D block" (and, with ``avg_downsample=False``, the RegNet "Y block").

    1x1 conv-BN-ReLU -> grouped 3x3 conv (one split per dilation, ``group_width`` channels per
    group) -BN-ReLU -> SE (hidden width ``in_channels // 4``) -> 1x1 conv-BN, added to the
    shortcut (identity, or a projection when the stride or width changes), then ReLU.
    Input (N, in, H, W) -> (N, out, ceil(H/stride), ceil(W/stride)).
    """

    def __init__(self, in_channels: int, out_channels: int, dilations: Sequence[int], *,
                 group_width: int, stride: int = 1, avg_downsample: bool = True) -> None:
        super().__init__()
        groups = out_channels // group_width
        self.conv1 = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.act1 = nn.ReLU(inplace=True)
        if len(dilations) == 1:
            d = dilations[0]
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=d,
                                   dilation=d, groups=groups, bias=False)
        else:
            self.conv2 = DilatedConv(out_channels, dilations, group_width=group_width,
                                     stride=stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(out_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.act3 = nn.ReLU(inplace=True)
        self.se = SEModule(out_channels, in_channels // 4)
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut = (Shortcut(in_channels, out_channels, stride, avg_downsample=avg_downsample)
                         if needs_projection else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.se(x)
        x = self.bn3(self.conv3(x))
        return self.act3(x + shortcut)
