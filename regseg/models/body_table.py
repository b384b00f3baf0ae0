"""The RegSeg bodies' table, free of torch: one ``BodySpec`` row per body and the paper's
notation of its last-stage dilation rates. regseg/models/bodies.py builds the modules from it;
the report reads the rates from here without importing torch."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

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


def rates_notation(spec: BodySpec) -> str:
    """The last-stage dilation rates in the paper's notation, e.g. ``(1,1)+(1,2)+4*(1,4)+7*(1,14)``
    for exp48. A single-rate block (one grouped 3x3 conv) is written as a pair, ``(d,d)``, as
    the paper does."""
    parts = []
    for rates, run in groupby(spec.dilations):
        count = len(list(run))
        shown = rates * 2 if len(rates) == 1 else rates
        text = "(" + ",".join(str(d) for d in shown) + ")"
        parts.append(text if count == 1 else f"{count}*{text}")
    return "+".join(parts)


def body_rates(model_name: str) -> str | None:
    """:func:`rates_notation` of a body, or of a model ``<body>_<decoder>`` by its body part (the
    decoder is not checked: regseg.models.describe.dilation_rates does); None otherwise."""
    body = model_name if model_name in BODIES else str(model_name).partition("_")[0]
    spec = BODIES.get(body)
    return None if spec is None else rates_notation(spec)
