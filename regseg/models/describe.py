"""Human-readable facts about a model for reports: dilation rates in the paper's notation,
decoder description, field of view. Cheap: nothing is built."""

from __future__ import annotations

from typing import Any

from regseg.models.body_table import BODIES, rates_notation
from regseg.models.complexity import field_of_view
from regseg.models.registry import DECODERS, split_name


def dilation_rates(name: str) -> str | None:
    """Last-stage dilation rates of a body (or model) in the paper's notation, e.g.
    ``(1,1)+(1,2)+4*(1,4)+7*(1,14)`` for exp48. A single-rate block (one grouped 3x3 conv) is
    written as a pair, ``(d,d)``, as the paper does. None for competitors (DDRNet)."""
    body = name if name in BODIES else split_name(name)[0]
    spec = BODIES.get(body)
    return None if spec is None else rates_notation(spec)


def describe(name: str) -> dict[str, Any]:
    """One row about a model: ``name, body, decoder, dilation_rates, decoder_description,
    field_of_view, output_stride`` (the decoder's logits stride before the final upsample).
    Raises UnknownNameError for an unknown name."""
    body, decoder = split_name(name)
    row = DECODERS.get(decoder)
    return {
        "name": name,
        "body": body,
        "decoder": decoder or None,
        "dilation_rates": dilation_rates(name),
        "decoder_description": row.description if row else "DDRNet (competitor, own head)",
        "field_of_view": field_of_view(name),
        "output_stride": row.output_stride if row else 8,
        "notes": BODIES[body].notes if body in BODIES else "competitor",
    }
