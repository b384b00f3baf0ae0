"""RegSeg bodies as data: one ``BodySpec`` row per body, one builder (``Body``).

A body maps the stem output (N, 32, H/2, W/2) to a dict of feature maps
``{"4": (N, c4, H/4, W/4), "8": (N, c8, H/8, W/8), "16": (N, c16, H/16, W/16)}`` whose channel
counts ``channels()`` returns. The stride-4 and stride-8 stages are plain blocks (dilation 1);
the stride-16 stage starts with a stride-2 block followed by one block per entry of
``dilations`` (the paper's "last-stage dilation rates").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from regseg.models.blocks import DBlock

STEM_CHANNELS = 32


@dataclass(frozen=True)
class BodySpec:
    """One body. Widths are (stride 4, stride 8, stride 16, output of the last block).

    ``depths``: blocks in the stride-4 and stride-8 stages. ``dilations``: one tuple per block
    after the stride-2 block of the stride-16 stage. The block at index ``widen_at`` of
    ``dilations`` changes the width to ``widths[3]``; with ``tail_stage`` set, it and the blocks
    after it live in a separately named stage (RegNet's ``stage32``). ``avg_downsample``: D blocks
    (average-pool shortcut) vs RegNet Y blocks (strided 1x1 shortcut).
    """

    dilations: tuple[tuple[int, ...], ...]
    widths: tuple[int, int, int, int] = (48, 128, 256, 320)
    depths: tuple[int, int] = (1, 3)
    group_width: int = 16
    widen_at: int = -1
    tail_stage: str | None = None
    avg_downsample: bool = True
    notes: str = ""

    @property
    def channels(self) -> dict[str, int]:
        return {"4": self.widths[0], "8": self.widths[1], "16": self.widths[3]}


def _rates(*groups: tuple[int, tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
    """Expand (count, dilation tuple) pairs into the per-block list: _rates((2, (1, 4))) -> 2
    blocks."""
    return tuple(d for count, d in groups for _ in range(count))


_REGSEG_RAMP = ((1, (1,)), (1, (1, 2)))   # the (1,1)+(1,2) opening of most bodies
_EXP43_RAMP = _REGSEG_RAMP + ((1, (1, 4)), (1, (1, 6)), (1, (1, 8)), (1, (1, 10)))

BODIES: dict[str, BodySpec] = {
    "exp30": BodySpec(_rates((5, (1, 4)), (8, (1, 10)))),
    "exp43": BodySpec(_rates(*_EXP43_RAMP, (7, (1, 12)))),
    "exp46": BodySpec(_rates(*_EXP43_RAMP[:5], (8, (1, 10)))),
    "exp47": BodySpec(_rates(*_EXP43_RAMP, (1, (1, 12)), (6, (1, 14)))),
    "exp48": BodySpec(_rates(*_REGSEG_RAMP, (4, (1, 4)), (7, (1, 14))), notes="RegSeg"),
    "exp49": BodySpec(_rates(*_REGSEG_RAMP, (6, (1, 4)), (5, (1, 6, 12, 18)))),
    "exp50": BodySpec(_rates(*_EXP43_RAMP, (7, (1, 3, 6, 12)))),
    "exp51": BodySpec(_rates(*_EXP43_RAMP, (7, (1, 4, 8, 12)))),
    "exp52": BodySpec(_rates(*_EXP43_RAMP[:3], (10, (1, 6)))),
    "exp53": BodySpec(_rates(*_REGSEG_RAMP, (4, (1, 4)), (7, (1, 14))), widths=(48, 120, 336, 384),
                      depths=(2, 6), group_width=24, notes="larger RegSeg"),
    "regnety600mf": BodySpec(_rates((7, (1,)), (3, (2,))), widths=(48, 112, 256, 608),
                             widen_at=6, tail_stage="stage32", avg_downsample=False,
                             notes="RegNetY-600MF stages"),
}


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
