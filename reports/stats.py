"""Small, exact statistics for report cells: mean ± std (n), deltas, Welch's t-test.

Formatting is fixed (two decimals, ASCII-independent ``±``) so the same runs always give the
same bytes. Standard deviations are sample standard deviations (ddof=1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

DASH = "—"


@dataclass(frozen=True)
class Summary:
    """Mean, sample std (None when n < 2) and n of a list of values (NaN/None dropped)."""

    mean: float | None
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> "Summary":
        xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
        if not xs:
            return cls(None, None, 0)
        mean = math.fsum(xs) / len(xs)
        if len(xs) < 2:
            return cls(mean, None, len(xs))
        var = math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
        return cls(mean, math.sqrt(var), len(xs))

    def cell(self) -> str:
        """``75.80 ± 0.07 (n=2)``; ``75.75 (n=1)``; a dash when there is no value."""
        if self.mean is None:
            return DASH
        if self.std is None:
            return f"{self.mean:.2f} (n={self.n})"
        return f"{self.mean:.2f} ± {self.std:.2f} (n={self.n})"


def welch_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Welch t-test p-value (scipy, ``equal_var=False``); None unless both n >= 2
    and the p-value is defined (not both samples constant)."""
    xs = [float(v) for v in a if v is not None and not math.isnan(float(v))]
    ys = [float(v) for v in b if v is not None and not math.isnan(float(v))]
    if len(xs) < 2 or len(ys) < 2:
        return None
    if len(set(xs)) == 1 and len(set(ys)) == 1:
        return None  # both samples constant: the t statistic is undefined
    from scipy.stats import ttest_ind

    p = float(ttest_ind(xs, ys, equal_var=False).pvalue)
    return None if math.isnan(p) else p


def fmt_delta(value: float | None) -> str:
    return DASH if value is None else f"{value:+.2f}"


def fmt_p(value: float | None) -> str:
    if value is None:
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def fmt_float(value: float | None, digits: int = 2) -> str:
    return DASH if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.{digits}f}"


def fmt_params(value: float | None) -> str:
    """Parameters in millions, ``3.34M``."""
    return DASH if value is None or math.isnan(value) else f"{value / 1e6:.2f}M"


def fmt_int(value: float | None) -> str:
    return DASH if value is None or math.isnan(value) else f"{int(round(value))}"
