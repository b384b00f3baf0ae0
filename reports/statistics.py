"""Comparisons a reviewer can check: confidence intervals, Welch's t-test with Holm's
correction, Hedges' g, and the seeds per arm an 80%-power test would need.

Every test comes from scipy or statsmodels; this module only chooses them and states the
contract. Values are per-run numbers (percent); NaN and None are dropped first. A table's
comparisons are each non-baseline row against the table's baseline row, and Holm's correction
runs over the comparisons of one table (the family a reader looks at together).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

ALPHA = 0.05
POWER = 0.80
CONFIDENCE = 0.95
#: The most seeds per arm reported; beyond it the effect is too small to chase by repetition.
MAX_SEEDS = 10_000


def clean(values: Sequence[float | None]) -> list[float]:
    """The finite numbers of ``values``, as floats, in order."""
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def t_interval(values: Sequence[float | None], confidence: float = CONFIDENCE
               ) -> tuple[float, float] | None:
    """Two-sided Student-t confidence interval of the mean (scipy ``t.interval``, df = n - 1);
    None when n < 2. A constant sample gives a zero-width interval at its value."""
    xs = clean(values)
    if len(xs) < 2:
        return None
    from scipy import stats

    mean = math.fsum(xs) / len(xs)
    sem = stats.sem(xs)
    if sem == 0:
        return (mean, mean)
    low, high = stats.t.interval(confidence, len(xs) - 1, loc=mean, scale=sem)
    return (float(low), float(high))


def welch_p(a: Sequence[float | None], b: Sequence[float | None]) -> float | None:
    """Two-sided Welch t-test p-value (scipy ``ttest_ind``, ``equal_var=False``); None unless
    both n >= 2 and the statistic is defined (not both samples constant)."""
    xs, ys = clean(a), clean(b)
    if len(xs) < 2 or len(ys) < 2 or (len(set(xs)) == 1 and len(set(ys)) == 1):
        return None
    from scipy.stats import ttest_ind

    p = float(ttest_ind(xs, ys, equal_var=False).pvalue)
    return None if math.isnan(p) else p


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values (statsmodels ``multipletests``), same order; None stays None and
    does not count towards the family size."""
    present = [(i, p) for i, p in enumerate(pvalues) if p is not None]
    out: list[float | None] = [None] * len(pvalues)
    if not present:
        return out
    from statsmodels.stats.multitest import multipletests

    adjusted = multipletests([p for _, p in present], alpha=ALPHA, method="holm")[1]
    for (i, _), q in zip(present, adjusted):
        out[i] = float(q)
    return out


def pooled_std(a: Sequence[float | None], b: Sequence[float | None]) -> float | None:
    """sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2)) with sample variances; None
    unless both n >= 2."""
    xs, ys = clean(a), clean(b)
    if len(xs) < 2 or len(ys) < 2:
        return None
    import numpy as np

    var = ((len(xs) - 1) * np.var(xs, ddof=1) + (len(ys) - 1) * np.var(ys, ddof=1)) \
        / (len(xs) + len(ys) - 2)
    return float(math.sqrt(var))


def hedges_g(a: Sequence[float | None], b: Sequence[float | None]) -> float | None:
    """Hedges' g of ``a`` minus ``b`` (statsmodels ``effectsize_smd``: the standardised mean
    difference with the small-sample bias correction); None unless both n >= 2 and the pooled
    std is positive."""
    xs, ys = clean(a), clean(b)
    sd = pooled_std(xs, ys)
    if sd is None or sd == 0:
        return None
    import numpy as np
    from statsmodels.stats.meta_analysis import effectsize_smd

    g, _ = effectsize_smd(np.mean(xs), np.std(xs, ddof=1), len(xs),
                          np.mean(ys), np.std(ys, ddof=1), len(ys))
    return float(g)


def seeds_needed(a: Sequence[float | None], b: Sequence[float | None], *,
                 alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Seeds per arm for a two-sided two-sample t-test to reach ``power`` at ``alpha``, if the
    true difference were the observed one and the spread the observed pooled std (statsmodels
    ``TTestIndPower``, Cohen's d = |mean_a - mean_b| / pooled std). None when it cannot be
    estimated (n < 2, or zero pooled std); MAX_SEEDS when the observed difference is zero or
    needs more than that."""
    xs, ys = clean(a), clean(b)
    sd = pooled_std(xs, ys)
    if sd is None or sd == 0:
        return None
    d = abs(math.fsum(xs) / len(xs) - math.fsum(ys) / len(ys)) / sd
    if d == 0:
        return MAX_SEEDS
    import warnings

    from statsmodels.stats.power import TTestIndPower

    analysis = TTestIndPower()

    def power_at(n: float) -> float:
        value = float(analysis.power(effect_size=d, nobs1=n, alpha=alpha, ratio=1.0))
        return 1.0 if math.isnan(value) else value  # NaN: the t tail underflowed, power ~ 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-convergence is reported as NaN, handled below
        if power_at(2) >= power:
            return 2  # the smallest sample a t-test takes already has the power
        try:
            n = float(analysis.solve_power(effect_size=d, alpha=alpha, power=power, ratio=1.0,
                                           alternative="two-sided"))
        except (ValueError, RuntimeError):
            n = math.nan
        if not math.isfinite(n):  # the root finder gave up: walk up from n = 3
            n = next((k for k in range(3, MAX_SEEDS) if power_at(k) >= power), MAX_SEEDS)
    return min(MAX_SEEDS, max(2, math.ceil(n)))


@dataclass(frozen=True)
class Comparison:
    """One row against its table's baseline. ``p_holm`` is adjusted over the table's family."""

    n: int
    n_baseline: int
    p: float | None
    p_holm: float | None
    hedges_g: float | None
    seeds_needed: int | None

    @property
    def verdict(self) -> str:
        """``significant`` / ``not significant at n=3 (about K seeds needed)`` / ``no test``
        (``n=1: no test`` when a side has a single run)."""
        if min(self.n, self.n_baseline) < 2:
            return "n=1: no test" if min(self.n, self.n_baseline) == 1 else "no test"
        if self.p_holm is None:
            return "no test"
        if self.p_holm < ALPHA:
            return "significant"
        at = f"n={self.n}" if self.n == self.n_baseline else f"n={self.n} vs {self.n_baseline}"
        if self.seeds_needed is None:
            return f"not significant at {at}"
        more = (f"over {MAX_SEEDS}" if self.seeds_needed >= MAX_SEEDS
                else f"about {self.seeds_needed}")
        return f"not significant at {at} ({more} seeds needed)"


def compare_to_baseline(samples: Sequence[Sequence[float | None]], baseline: int
                        ) -> list[Comparison | None]:
    """A Comparison for every sample against ``samples[baseline]`` (None at the baseline),
    Holm-adjusted over the rows that have a p-value."""
    base = clean(samples[baseline])
    raw = [None if i == baseline else welch_p(s, base) for i, s in enumerate(samples)]
    adjusted = holm(raw)
    out: list[Comparison | None] = []
    for i, s in enumerate(samples):
        if i == baseline:
            out.append(None)
            continue
        out.append(Comparison(len(clean(s)), len(base), raw[i], adjusted[i], hedges_g(s, base),
                              seeds_needed(s, base)))
    return out


def family_note(k: int) -> str:
    """The sentence a table's caption carries about its tests."""
    family = f"the {k} comparisons of this table" if k != 1 else "the 1 comparison of this table"
    return ("p: two-sided Welch t-test against the baseline row; p (Holm): Holm-adjusted over "
            f"{family}; significant = p (Holm) < {ALPHA}; g: Hedges' g; seeds needed: per arm "
            f"for {POWER:.0%} power at alpha {ALPHA} given the observed difference and pooled "
            f"std; 95% CI: Student-t interval of the mean.")
