"""Pareto front of (cost, accuracy) points: lower cost and higher accuracy are better."""

from __future__ import annotations

import math
from typing import Sequence


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated points, sorted by cost ascending (ties: by index).

    A point dominates another when its cost is <= and its accuracy >= with at least one
    strict. Points with a NaN or None coordinate are never on the front. Equal points are all
    kept (none strictly dominates the other). O(n log n).
    """
    valid = [(float(c), float(a), i) for i, (c, a) in enumerate(points)
             if c is not None and a is not None and not math.isnan(c) and not math.isnan(a)]
    valid.sort(key=lambda t: (t[0], -t[1], t[2]))
    front: list[int] = []
    best = -math.inf
    best_cost = None
    for cost, acc, i in valid:
        if acc > best:
            front.append(i)
            best, best_cost = acc, cost
        elif acc == best and cost == best_cost:
            front.append(i)  # an exact duplicate of a front point
    return front
