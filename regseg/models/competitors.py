"""Competitor decoders of the paper's decoder ablation, as the reference re-implements them:
BiSeNet's attention-refinement + feature-fusion decoder and SFNet's flow-alignment decoder.

Both take the body's feature dict and return logits (N, num_classes, H/8, W/8).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from regseg.models.blocks import ConvBnAct, SEModule


class PSPModule(nn.Module):
    """Pyramid pooling (bins 1, 2, 3, 6): pooled 1x1 ConvBn branches, upsampled and concatenated
    with the input, then a 1x1 ConvBnAct bottleneck. (N, c_in, h, w) -> (N, c_out, h, w)."""

    def __init__(self, in_channels: int, out_channels: int = 128,
                 sizes: tuple[int, ...] = (1, 2, 3, 6)) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(size),
                          ConvBnAct(in_channels, out_channels, apply_act=False))
            for size in sizes)
        self.bottleneck = ConvBnAct(in_channels + len(sizes) * out_channels, out_channels)
        self.dropout = nn.Dropout2d(0.1)  # registered but unused, as in the reference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = [F.interpolate(stage(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
                  for stage in self.stages]
        return self.bottleneck(torch.cat([x, *pooled], dim=1))


class AlignedModule(nn.Module):
    """SFNet flow alignment: predict a 2-channel flow from both levels and warp the coarse map
    onto the fine grid with ``grid_sample``. Input [fine (N,c,H,W), coarse (N,c,h,w)] ->
    (N,c,H,W)."""

    def __init__(self, inplane: int, outplane: int) -> None:
        super().__init__()
        self.down_h = nn.Conv2d(inplane, outplane, 1, bias=False)
        self.down_l = nn.Conv2d(inplane, outplane, 1, bias=False)
        self.flow_make = nn.Conv2d(outplane * 2, 2, kernel_size=3, padding=1, bias=False)

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        low, high = x
        size = low.shape[-2:]
        high_small = F.interpolate(self.down_h(high), size=size, mode="bilinear",
                                   align_corners=False)
        flow = self.flow_make(torch.cat([high_small, self.down_l(low)], dim=1))
        return self.flow_warp(high, flow, size)

    @staticmethod
    def flow_warp(inp: torch.Tensor, flow: torch.Tensor, size) -> torch.Tensor:
        """Sample ``inp`` at a regular [-1, 1] grid of ``size`` shifted by ``flow`` / (w, h)."""
        out_h, out_w = int(size[0]), int(size[1])
        n = inp.shape[0]
        norm = torch.tensor([[[[out_w, out_h]]]], dtype=inp.dtype, device=inp.device)
        # The grid is built in float32 and then cast, like the reference (matters under AMP).
        ys = torch.linspace(-1.0, 1.0, out_h, device=inp.device).to(inp.dtype)
        xs = torch.linspace(-1.0, 1.0, out_w, device=inp.device).to(inp.dtype)
        grid = torch.stack((xs.expand(out_h, out_w), ys.view(-1, 1).expand(out_h, out_w)), dim=2)
        grid = grid.unsqueeze(0).expand(n, -1, -1, -1) + flow.permute(0, 2, 3, 1) / norm
        return F.grid_sample(inp, grid, align_corners=False)


class FeatureFusionModule(nn.Module):
    """BiSeNet FFM: concat -> 1x1 ConvBnAct -> x + SE(x)."""

    def __init__(self, in_chan: int, out_chan: int) -> None:
        super().__init__()
        self.conv = ConvBnAct(in_chan, out_chan)
        self.se = SEModule(out_chan, out_chan // 4)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = self.conv(torch.cat([x, y], dim=1))
        return self.se(x) + x


class AttentionRefinementModule(nn.Module):
    """BiSeNet ARM: 3x3 ConvBnAct, gated by a global-pool 1x1 conv -> BN -> sigmoid."""

    def __init__(self, in_chan: int, out_chan: int) -> None:
        super().__init__()
        self.conv = ConvBnAct(in_chan, out_chan, 3, 1, 1)
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                   nn.Conv2d(out_chan, out_chan, 1, bias=False),
                                   nn.BatchNorm2d(out_chan), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return x * self.scale(x)


class BiseNetDecoder(nn.Module):
    """BiSeNet-style decoder (nearest-neighbour upsampling, as in the reference)."""

    def __init__(self, num_classes: int, channels: dict[str, int]) -> None:
        super().__init__()
        c8, c16 = channels["8"], channels["16"]
        self.arm16 = AttentionRefinementModule(c16, 128)
        self.conv_head16 = ConvBnAct(128, 128, 3, 1, 1)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_avg = ConvBnAct(c16, 128)
        self.ffm = FeatureFusionModule(128 + c8, 128)
        self.conv = ConvBnAct(128, 128, 3, 1, 1)
        self.classifier = nn.Conv2d(128, num_classes, 1)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        x8, x16 = x["8"], x["16"]
        avg = F.interpolate(self.conv_avg(self.avg_pool(x16)), size=x16.shape[-2:], mode="nearest")
        x16 = F.interpolate(self.arm16(x16) + avg, size=x8.shape[-2:], mode="nearest")
        x16 = self.conv_head16(x16)
        return self.classifier(self.conv(self.ffm(x8, x16)))


class SFNetDecoder(nn.Module):
    """SFNet-style decoder: PSP on x16, flow-aligned fusion at stride 8 (``fpn_dim`` 64)."""

    def __init__(self, num_classes: int, channels: dict[str, int], *, fpn_dim: int = 64) -> None:
        super().__init__()
        c8, c16 = channels["8"], channels["16"]
        self.head16 = PSPModule(c16, fpn_dim)
        self.head8 = ConvBnAct(c8, fpn_dim)
        self.fpn_align = AlignedModule(inplane=fpn_dim, outplane=fpn_dim // 2)
        self.conv = ConvBnAct(fpn_dim, fpn_dim, 3, 1, 1)
        self.conv_last = nn.Sequential(ConvBnAct(2 * fpn_dim, fpn_dim, 3, 1, 1),
                                       nn.Conv2d(fpn_dim, num_classes, kernel_size=1))

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        x16 = self.head16(x["16"])
        x8 = self.head8(x["8"])
        x8 = self.conv(x8 + self.fpn_align([x8, x16]))
        # The reference uses align_corners=True for this one upsample.
        x16_up = F.interpolate(x16, size=x8.shape[-2:], mode="bilinear", align_corners=True)
        return self.conv_last(torch.cat([x8, x16_up], dim=1))
