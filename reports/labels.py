"""Deterministic, non-overlapping point labels for matplotlib axes.

Greedy placement in the order given: each label tries offsets on rings of growing radius around
its point (right, upper right, up, ... in 16 directions at 6, 14, 26, ... points) and takes the
first whose text box, padded, overlaps no placed label, no point marker and no reserved box, and
stays inside the axes. A label placed away from its point gets a thin leader line. The result
depends only on the figure's geometry, so the same points give the same picture.

The axes' limits and size must be final before placing (offsets are in points from the data
anchor): set the limits, lay the figure out, then place.
"""

from __future__ import annotations

import math
from typing import Sequence

RADII = (6, 14, 26, 40, 56, 76, 100, 130)  # points
DIRECTIONS = 16  # per ring, starting to the right, counter-clockwise (centred above/below)
MARKER_PX = 4.0  # half-size of the box kept free around every point, in pixels
PAD = 2.0  # pixels kept between two labels
LABEL_GID = "point-label"


def _offsets() -> list[tuple[float, float]]:
    out = []
    for r in RADII:
        for k in range(DIRECTIONS):
            angle = 2 * math.pi * k / DIRECTIONS
            out.append((r * math.cos(angle), r * math.sin(angle)))
    return out


def _alignment(dx: float, dy: float) -> tuple[str, str]:
    ha = "left" if dx > 1 else ("right" if dx < -1 else "center")
    va = "bottom" if dy > 1 else ("top" if dy < -1 else "center")
    return ha, va


def text_box(text, renderer):
    """The text's own window extent (an Annotation's would include its leader line)."""
    from matplotlib.text import Text

    if hasattr(text, "update_positions"):  # an Annotation places its text only when drawn
        text.update_positions(renderer)
    return Text.get_window_extent(text, renderer)


def _inside(box, frame) -> bool:
    return frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1


def _first_free(ax, xy, label, *, occupied, frame, renderer, style):
    """The first candidate Annotation whose padded box is inside ``frame`` and free, with its
    box and offset radius; None when every candidate collides."""
    for dx, dy in _offsets():
        ha, va = _alignment(dx, dy)
        ann = ax.annotate(label, xy, xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                          annotation_clip=False, **style)
        box = text_box(ann, renderer).padded(PAD)
        if _inside(box, frame) and not any(box.overlaps(other) for other in occupied):
            return ann, box, math.hypot(dx, dy)
        ann.remove()
    return None


def place_labels(ax, points: Sequence[tuple[float, float]], texts: Sequence[str], *,
                 fontsize: float = 7, color: str = "black", reserved: Sequence = ()) -> list:
    """Annotate ``points`` (data coordinates) with ``texts``; returns the Annotations (gid
    ``point-label``). ``reserved``: display-space Bboxes no label may cover (a legend). A label
    that finds no free slot inside the axes takes one inside the figure; one that finds none
    there either is drawn at the outermost ring, the only case where labels may overlap."""
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frames = (ax.get_window_extent(renderer), fig.bbox)
    occupied = [Bbox.from_extents(px - MARKER_PX, py - MARKER_PX, px + MARKER_PX, py + MARKER_PX)
                for px, py in ax.transData.transform(list(points))] if len(points) else []
    occupied += list(reserved)
    style = {"fontsize": fontsize, "color": color}
    placed = []
    for xy, label in zip(points, texts):
        chosen = None
        for frame in frames:
            chosen = chosen or _first_free(ax, xy, label, occupied=occupied, frame=frame,
                                           renderer=renderer, style=style)
        if chosen is None:
            dx, dy = _offsets()[-DIRECTIONS]
            ann = ax.annotate(label, xy, xytext=(dx, dy), textcoords="offset points",
                              ha="left", va="bottom", annotation_clip=False, **style)
            chosen = (ann, text_box(ann, renderer).padded(PAD), math.hypot(dx, dy))
        ann, box, radius = chosen
        if radius > RADII[1]:  # far from its point: a leader line to the label's near corner
            ax.annotate("", xy, xytext=ann.xyann, textcoords="offset points",
                        arrowprops={"arrowstyle": "-", "color": color, "lw": 0.5, "alpha": 0.6,
                                    "shrinkA": 0, "shrinkB": 2})
        ann.set_gid(LABEL_GID)
        occupied.append(box)
        placed.append(ann)
    return placed
