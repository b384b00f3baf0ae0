"""RegSeg bodies as data: one ``BodySpec`` row per body, one builder (``Body``).

A body maps the stem output (N, 32, H/2, W/2) to a dict of feature maps
``{"4": (N, c4, H/4, W/4), "8": (N, c8, H/8, W/8), "16": (N, c16, H/16, W/16)}`` whose channel
counts ``channels()`` returns. The stride-4 and stride-8 stages are plain blocks (dilation 1);
the stride-16 stage starts with a stride-2 block followed by one block per entry of
``dilations`` (the paper's "last-stage dilation rates").
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from regseg.models.blocks import DBlock
from regseg.models.body_table import BODIES, STEM_CHANNELS, BodySpec  # noqa: F401


def _stage_module(blocks: list[nn.Module]) -> nn.Module:
    # The reference registers a one-block stage as the block itself, longer ones as Sequential;
    # the checkpoint keys depend on it (body.stage4.conv1 vs body.stage4.0.conv1).
    return blocks[0] if len(blocks) == 1 else nn.Sequential(*blocks)


def _block_plan(spec: BodySpec) -> Iterator[tuple[str, int, int, tuple[int, ...], int]]:
    """Yield (stage name, in width, out width, dilations, stride) for every block in order."""
    w4, w8, w16, w_out = spec.widths
    width = STEM_CHANNELS
    for name, w, depth in (("stage4", w4, spec.depths[0]), ("stage8", w8, spec.depths[1])):
        for i in range(depth):
            yield name, width, w, (1,), 2 if i == 0 else 1
            width = w
    yield "stage16", width, w16, (1,), 2
    width = w16
    widen_at = spec.widen_at % len(spec.dilations)
    for i, rates in enumerate(spec.dilations):
        stage = spec.tail_stage if spec.tail_stage and i >= widen_at else "stage16"
        out = w_out if i >= widen_at else w16
        yield stage, width, out, rates, 1
        width = out


def block_strides_and_dilations(spec: BodySpec) -> list[tuple[int, int]]:
    """(stride, max dilation) of every 3x3 conv of the body, stem first, in forward order."""
    return [(2, 1)] + [(stride, max(rates)) for _, _, _, rates, stride in _block_plan(spec)]


class Body(nn.Module):
    """Builds the stages of a ``BodySpec``. Forward: (N, 32, h, w) -> {"4", "8", "16"} maps."""

    def __init__(self, spec: BodySpec) -> None:
        super().__init__()
        self.spec = spec
        stages: dict[str, list[nn.Module]] = {}
        for stage, w_in, w_out, rates, stride in _block_plan(spec):
            stages.setdefault(stage, []).append(
                DBlock(w_in, w_out, rates, group_width=spec.group_width, stride=stride,
                       avg_downsample=spec.avg_downsample))
        self.stage_names = tuple(stages)
        for stage, blocks in stages.items():
            self.add_module(stage, _stage_module(blocks))

    def channels(self) -> dict[str, int]:
        return dict(self.spec.channels)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats: dict[str, torch.Tensor] = {}
        for stage in self.stage_names:
            x = getattr(self, stage)(x)
            feats[stage.removeprefix("stage")] = x
        return {"4": feats["4"], "8": feats["8"], "16": x}
