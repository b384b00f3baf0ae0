"""The repeated-looks test behind adaptive seeds (docs/SPECS.md, "Adaptive seeds"): pure
functions, no queue, so the policy can be simulated over thousands of arms.

An arm is compared with its group's baseline on Δ = mean(arm) − mean(baseline) (mIoU points)
at looks n = min, ..., max − 1 (n = the arm's finished seeds). The error budget ``alpha`` is
spent over the looks by a Lan–DeMets spending function of Pocock type,
``A(t) = alpha * ln(1 + (e − 1) t)`` with ``t = (n − min + 1) / (max − min)``; a look spends
what ``A`` grew since the previous look actually made (a skipped look's share carries over).
Each look is an exact pooled-variance Student t test at its own level, and the looks are
combined by the union bound, so the chance of any false stop over all looks is at most
``sum of spent levels <= A(1) = alpha``, whatever the correlation between looks. (Classical
group-sequential boundaries are sharper but rest on a normal approximation that does not hold
at 2-10 seeds.) Assumptions: seed results are normal with a common variance across arms, and
when a look happens does not depend on the values (it depends on finish order only).

- ``stop_when: worse``: stop when the one-sided upper bound of Δ is below ``margin``: the arm
  cannot beat the baseline by ``margin``. A false stop is one where Δ >= margin.
- ``stop_when: decided``: stop when the two-sided interval of Δ excludes ``margin``: the arm
  beats the baseline by more than ``margin``, or it cannot; either way the comparison is
  decided. A false stop is one on the wrong side of ``margin``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

CONTINUE, STOP = "continue", "stop"


@dataclass(frozen=True)
class Look:
    decision: str  # continue | stop
    reason: str
    estimate: float  # Δ = mean(arm) - mean(baseline)
    lower: float
    upper: float
    alpha_spent: float


def spending(t: float, alpha: float) -> float:
    """Pocock-type Lan–DeMets spending function: alpha spent by information fraction t."""
    t = min(max(t, 0.0), 1.0)
    return alpha * math.log(1.0 + (math.e - 1.0) * t)


def look_fraction(n: int, *, n_min: int, n_max: int) -> float:
    """Information fraction of the look at n seeds (looks n_min..n_max-1 -> 1/K..1)."""
    looks = n_max - n_min
    return (n - n_min + 1) / looks


def alpha_for_look(n: int, previous: int | None, *, n_min: int, n_max: int,
                   alpha: float) -> float:
    """The level of the look at ``n`` seeds when the last look made was at ``previous``."""
    before = 0.0 if previous is None else look_fraction(previous, n_min=n_min, n_max=n_max)
    return spending(look_fraction(n, n_min=n_min, n_max=n_max), alpha) - spending(before, alpha)


def pooled_difference(arm: Sequence[float], baseline: Sequence[float]) -> tuple[float, float, int]:
    """(Δ, its standard error, degrees of freedom) of the pooled two-sample t statistic."""
    na, nb = len(arm), len(baseline)
    ma, mb = sum(arm) / na, sum(baseline) / nb
    ss = sum((x - ma) ** 2 for x in arm) + sum((x - mb) ** 2 for x in baseline)
    df = na + nb - 2
    se = math.sqrt(ss / df * (1.0 / na + 1.0 / nb))
    return ma - mb, se, df


def decide(arm: Sequence[float], baseline: Sequence[float], *, level: float, margin: float,
           stop_when: str) -> Look:
    """One look at level ``level`` (its share of alpha). Needs >= 2 values on each side."""
    from scipy.stats import t as student_t

    if len(arm) < 2 or len(baseline) < 2:
        raise ValueError(f"a look needs >= 2 seeds per side, got {len(arm)} and {len(baseline)}")
    d, se, df = pooled_difference(arm, baseline)
    one_sided = stop_when == "worse"
    q = float(student_t.ppf(1.0 - (level if one_sided else level / 2.0), df))
    lower, upper = d - q * se, d + q * se
    where = (f"Δ {d:+.3f} ({'upper bound' if one_sided else 'interval'} "
             f"[{lower:.3f}, {upper:.3f}] at level {level:.4f}, n={len(arm)} vs {len(baseline)})")
    if upper < margin:
        return Look(STOP, f"cannot beat the baseline by {margin}: {where}", d, lower, upper, level)
    if not one_sided and lower > margin:
        return Look(STOP, f"beats the baseline by more than {margin}: {where}", d, lower, upper,
                    level)
    return Look(CONTINUE, f"undecided: {where}", d, lower, upper, level)


def simulate_arm(arm: Sequence[float], baseline: Sequence[float], *, n_min: int, n_max: int,
                 alpha: float, margin: float, stop_when: str) -> int | None:
    """Run the policy over one arm whose seeds finish in order, looking after every seed
    (baseline seeds finishing alongside, seed-major); return the seed count at which it
    stopped, None when it ran to ``n_max``."""
    previous = None
    for n in range(n_min, n_max):
        level = alpha_for_look(n, previous, n_min=n_min, n_max=n_max, alpha=alpha)
        previous = n
        look = decide(arm[:n], baseline[:n], level=level, margin=margin, stop_when=stop_when)
        if look.decision == STOP:
            return n
    return None
