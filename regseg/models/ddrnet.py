"""DDRNet-23 and DDRNet-23-slim (Hong et al. 2021) as the RegSeg reference re-implements them,
so the paper's comparison can be rerun and the reference's DDRNet weights load strictly.

Forward: (N, 3, H, W) -> logits (N, num_classes, H, W) (bilinear, align_corners=False).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from regseg.models.blocks import ConvBnAct


class BnActConv(nn.Module):
    """Pre-activation unit: BN -> ReLU -> conv (no bias). Keys ``bn.*``, ``conv.*``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 padding: int = 0) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.act = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.act(self.bn(x)))


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs); ``no_relu`` leaves the sum un-activated."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, no_relu: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.no_relu = no_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        out = out + (self.downsample(x) if self.downsample is not None else x)
        return out if self.no_relu else self.relu(out)


class Bottleneck(nn.Module):
    """ResNet bottleneck (1x1, 3x3, 1x1 with expansion 2); un-activated output by default."""

    expansion = 2

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, no_relu: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.no_relu = no_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = out + (self.downsample(x) if self.downsample is not None else x)
        return out if self.no_relu else self.relu(out)


class DAPPM(nn.Module):
    """Deep aggregation pyramid pooling: average pools (5/2, 9/4, 17/8, global) each followed by
    BN-ReLU-1x1, hierarchically fused by 3x3 units, compressed and added to a 1x1 shortcut."""

    _POOLS = ((5, 2, 2), (9, 4, 4), (17, 8, 8))

    def __init__(self, inplanes: int, branch_planes: int, outplanes: int) -> None:
        super().__init__()
        for i, (k, s, p) in enumerate(self._POOLS, start=1):
            self.add_module(f"scale{i}", nn.Sequential(nn.AvgPool2d(k, s, p),
                                                       BnActConv(inplanes, branch_planes)))
        self.scale4 = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), BnActConv(inplanes,
                                                                            branch_planes))
        self.scale0 = BnActConv(inplanes, branch_planes)
        for i in range(1, 5):
            self.add_module(f"process{i}", BnActConv(branch_planes, branch_planes, 3, padding=1))
        self.compression = BnActConv(branch_planes * 5, outplanes)
        self.shortcut = BnActConv(inplanes, outplanes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        outs = [self.scale0(x)]
        for i in range(1, 5):
            up = F.interpolate(getattr(self, f"scale{i}")(x), size=size, mode="bilinear",
                               align_corners=False)
            outs.append(getattr(self, f"process{i}")(up + outs[-1]))
        return self.compression(torch.cat(outs, 1)) + self.shortcut(x)


class SegmentHead(nn.Module):
    """BN-ReLU-3x3 conv -> BN-ReLU-1x1 classifier (with bias)."""

    def __init__(self, inplanes: int, interplanes: int, outplanes: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = nn.Conv2d(inplanes, interplanes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(interplanes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(interplanes, outplanes, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.relu(self.bn1(x)))
        return self.conv2(self.relu(self.bn2(x)))


@dataclass(frozen=True)
class DDRNetSpec:
    planes: int
    head_planes: int
    spp_planes: int = 128
    layers: tuple[int, int, int, int] = (2, 2, 2, 2)


DDRNETS: dict[str, DDRNetSpec] = {
    "ddrnet23": DDRNetSpec(planes=64, head_planes=128),
    "ddrnet23slim": DDRNetSpec(planes=32, head_planes=64),
}


def _make_layer(block, inplanes: int, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes * block.expansion:
        downsample = ConvBnAct(inplanes, planes * block.expansion, stride=stride, apply_act=False)
    layers = [block(inplanes, planes, stride, downsample)]
    inplanes = planes * block.expansion
    for i in range(1, blocks):
        layers.append(block(inplanes, planes, stride=1, no_relu=i == blocks - 1))
    return nn.Sequential(*layers)


class DualResNet(nn.Module):
    """DDRNet: a low-resolution context branch (strides 16..64 + DAPPM) and a stride-8 detail
    branch with bilateral fusions; the head runs at stride 8."""

    def __init__(self, spec: DDRNetSpec, *, num_classes: int = 19) -> None:
        super().__init__()
        p, hi = spec.planes, spec.planes * 2
        self.conv1 = nn.Sequential(ConvBnAct(3, p, 3, 2, 1), ConvBnAct(p, p, 3, 2, 1))
        self.relu = nn.ReLU(inplace=False)
        self.layer1 = _make_layer(BasicBlock, p, p, spec.layers[0])
        self.layer2 = _make_layer(BasicBlock, p, p * 2, spec.layers[1], stride=2)
        self.layer3 = _make_layer(BasicBlock, p * 2, p * 4, spec.layers[2], stride=2)
        self.layer4 = _make_layer(BasicBlock, p * 4, p * 8, spec.layers[3], stride=2)
        self.compression3 = ConvBnAct(p * 4, hi, apply_act=False)
        self.compression4 = ConvBnAct(p * 8, hi, apply_act=False)
        self.down3 = ConvBnAct(hi, p * 4, 3, 2, 1, apply_act=False)
        self.down4 = nn.Sequential(ConvBnAct(hi, p * 4, 3, 2, 1),
                                   ConvBnAct(p * 4, p * 8, 3, 2, 1, apply_act=False))
        self.layer3_ = _make_layer(BasicBlock, p * 2, hi, 2)
        self.layer4_ = _make_layer(BasicBlock, hi, hi, 2)
        self.layer5_ = _make_layer(Bottleneck, hi, hi, 1)
        self.layer5 = _make_layer(Bottleneck, p * 8, p * 8, 1, stride=2)
        self.spp = DAPPM(p * 16, spec.spp_planes, p * 4)
        self.final_layer = SegmentHead(p * 4, spec.head_planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        size8 = [x.shape[-2] // 8, x.shape[-1] // 8]

        def up(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, size=size8, mode="bilinear", align_corners=False)

        x = self.layer1(self.conv1(x))
        l2 = self.layer2(self.relu(x))
        l3 = self.layer3(self.relu(l2))
        hi = self.layer3_(self.relu(l2))
        lo = l3 + self.down3(self.relu(hi))
        hi = hi + up(self.compression3(self.relu(l3)))
        l4 = self.layer4(self.relu(lo))
        hi = self.layer4_(self.relu(hi))
        lo = l4 + self.down4(self.relu(hi))
        hi = hi + up(self.compression4(self.relu(l4)))
        hi = self.layer5_(self.relu(hi))
        lo = up(self.spp(self.layer5(self.relu(lo))))
        out = self.final_layer(lo + hi)
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)
