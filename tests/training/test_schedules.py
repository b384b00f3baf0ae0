"""LR schedules: values pinned at several iterations (total 10000, warmup 3000 from 0.1)."""

import pytest
import torch

from regseg.errors import UnknownNameError
from regseg.schedules import build_lr_lambda, build_scheduler, list_schedules, warmup_multiplier

OPTS = dict(total_iters=10000, warmup_iters=3000, warmup_factor=0.1)

PINNED = {
    "poly": {0: 0.1, 1: 0.10029097295486335, 1500: 0.47515983476655055, 2999: 0.7252934609456626,
             3000: 0.7254178469372199, 5000: 0.5358867312681466, 9999: 0.00025118864315093307,
             10000: 0.0},
    "cosine": {0: 0.1, 1500: 0.5200267941518012, 5000: 0.5, 10000: 0.0},
    "exp": {0: 0.1, 1500: 0.27565297849499976, 5000: 0.1, 10000: 0.01},  # beta 0.01
    "step": {0: 0.1, 1500: 0.55, 3000: 1.0, 8899: 1.0, 8900: 0.1, 9599: 0.1, 9600: 0.01,
             9999: 0.01},
}


def test_registry_names():
    assert list_schedules() == ["cosine", "exp", "poly", "step"]
    assert set(PINNED) == set(list_schedules())  # every registered schedule is pinned here


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_values(name):
    f = build_lr_lambda(name, exp_beta=0.01, **OPTS)
    for it, expected in PINNED[name].items():
        assert f(it) == pytest.approx(expected, rel=1e-12, abs=1e-15), (name, it)


def test_poly_power_is_used():
    f = build_lr_lambda("poly", total_iters=100, warmup_iters=0, poly_power=2.0)
    assert f(50) == pytest.approx(0.25)


def test_warmup_multiplier():
    assert warmup_multiplier(0, warmup_iters=1000, warmup_factor=0.1) == pytest.approx(0.1)
    assert warmup_multiplier(500, warmup_iters=1000, warmup_factor=0.1) == pytest.approx(0.55)
    assert warmup_multiplier(1000, warmup_iters=1000, warmup_factor=0.1) == 1.0
    assert warmup_multiplier(0, warmup_iters=0, warmup_factor=0.1) == 1.0


def test_past_the_end_stays_at_the_end_value():
    assert build_lr_lambda("poly", total_iters=10)(12) == 0.0


def test_unknown_schedule_names_the_valid_ones():
    with pytest.raises(UnknownNameError,
                       match="lr_scheduler: expected one of cosine, exp, poly, step, got 'linear'"):
        build_lr_lambda("linear", total_iters=10)


def test_scheduler_steps_per_iteration_and_state_is_numbers_only():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.05)
    sched = build_scheduler(opt, "poly", total_iters=10, warmup_iters=4, warmup_factor=0.1)
    f = build_lr_lambda("poly", total_iters=10, warmup_iters=4, warmup_factor=0.1)
    seen = []
    for _ in range(10):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.05 * f(i) for i in range(10)])
    assert sched.state_dict()["lr_lambdas"] == [None]
