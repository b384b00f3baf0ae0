"""Losses: hand-computable values of cross entropy and the bootstrapped cross entropy."""

import math

import pytest
import torch

from regseg.errors import UnknownNameError
from regseg.losses import BootstrappedCrossEntropy, bootstrap_min_k, build_loss, list_losses

LN2 = math.log(2.0)                    # CE of logits (0, 0)
HARD = math.log(1.0 + math.e ** 2)     # CE of logits (0, 2) with label 0 = 2.1269...
EASY = math.log(1.0 + math.exp(-10))   # CE of logits (0, -10) with label 0 = 4.54e-5


def _logits(second_logits):
    """1 x 2 x 1 x W logits whose class-0 logit is 0 and class-1 logit is given per pixel."""
    second = torch.tensor(second_logits, dtype=torch.float32)
    return torch.stack([torch.zeros_like(second), second]).reshape(1, 2, 1, -1)


def test_registry_lists_both_losses():
    assert list_losses() == ["bootstrapped_cross_entropy", "cross_entropy"]


def test_unknown_loss_names_the_valid_ones():
    with pytest.raises(UnknownNameError,
                       match="loss_type: expected one of bootstrapped_cross_entropy, "
                             "cross_entropy, got 'focal'"):
        build_loss("focal")


def test_cross_entropy_ignores_the_ignore_index():
    loss = build_loss("cross_entropy", ignore_index=255)
    labels = torch.tensor([[[0, 0, 255, 0]]])
    value = loss(_logits([0.0, 2.0, 50.0, -10.0]), labels)
    assert value.item() == pytest.approx((LN2 + HARD + EASY) / 3, rel=1e-5)


def test_bootstrap_min_k_is_batch_times_crop_over_16():
    assert bootstrap_min_k(batch_size=8, crop_size=(768, 768)) == 294912
    assert bootstrap_min_k(batch_size=8, crop_size=768) == 294912
    assert bootstrap_min_k(batch_size=3, crop_size=(5, 7)) == 6  # int(6.5625)


def test_bootstrapped_keeps_pixels_above_threshold_when_more_than_k_pass():
    # losses: ln2 (0.693), 4.5e-5, 2.127, 1.0 -> three pass the 0.3 threshold, 3 > K=2
    loss = BootstrappedCrossEntropy(min_k=2, threshold=0.3, ignore_index=255)
    d = [0.0, -10.0, 2.0, math.log(math.e - 1.0)]
    value = loss(_logits(d), torch.zeros(1, 1, 4, dtype=torch.long))
    assert value.item() == pytest.approx((LN2 + HARD + 1.0) / 3, rel=1e-5)


def test_bootstrapped_takes_top_k_when_too_few_pass():
    # two pixels pass (ln2, 2.127); K=3 -> mean of the three largest losses (the third is 4.5e-5)
    loss = BootstrappedCrossEntropy(min_k=3, threshold=0.3, ignore_index=255)
    d = [0.0, -10.0, 2.0, -10.0]
    value = loss(_logits(d), torch.zeros(1, 1, 4, dtype=torch.long))
    assert value.item() == pytest.approx((LN2 + HARD + EASY) / 3, rel=1e-5)


def test_bootstrapped_equal_to_k_passing_uses_top_k():
    # exactly K pixels pass: the reference's strict ">" means top-K, which here is the same set
    loss = BootstrappedCrossEntropy(min_k=2, threshold=0.3, ignore_index=255)
    value = loss(_logits([0.0, -10.0, 2.0, -10.0]), torch.zeros(1, 1, 4, dtype=torch.long))
    assert value.item() == pytest.approx((LN2 + HARD) / 2, rel=1e-5)


def test_bootstrapped_counts_ignored_pixels_as_zero_loss_in_top_k():
    loss = BootstrappedCrossEntropy(min_k=3, threshold=0.3, ignore_index=255)
    labels = torch.tensor([[[0, 255, 0, 255]]])
    value = loss(_logits([2.0, 9.0, 0.0, 9.0]), labels)
    assert value.item() == pytest.approx((HARD + LN2 + 0.0) / 3, rel=1e-5)


def test_bootstrapped_threshold_is_on_the_loss_value():
    # a pixel with loss 0.29 is not "hard"; one with 0.31 is (threshold applies to the CE value)
    p = [math.log(math.exp(0.29) - 1.0), math.log(math.exp(0.31) - 1.0), -10.0, -10.0]
    loss = BootstrappedCrossEntropy(min_k=0, threshold=0.3, ignore_index=255)
    value = loss(_logits(p), torch.zeros(1, 1, 4, dtype=torch.long))
    assert value.item() == pytest.approx(0.31, rel=1e-5)


def test_bootstrapped_k_larger_than_the_batch_keeps_every_pixel():
    loss = BootstrappedCrossEntropy(min_k=100, threshold=0.3, ignore_index=255)
    value = loss(_logits([0.0, 2.0]), torch.zeros(1, 1, 2, dtype=torch.long))
    assert value.item() == pytest.approx((LN2 + HARD) / 2, rel=1e-5)


def test_build_bootstrapped_from_config_sizes():
    loss = build_loss("bootstrapped_cross_entropy", ignore_index=255, batch_size=2,
                      crop_size=(8, 16))
    assert isinstance(loss, BootstrappedCrossEntropy)
    assert loss.min_k == 16 and loss.threshold == 0.3 and loss.ignore_index == 255


def test_losses_backpropagate():
    for name in list_losses():
        logits = torch.randn(2, 3, 4, 4, requires_grad=True)
        labels = torch.randint(0, 3, (2, 4, 4))
        build_loss(name, batch_size=2, crop_size=4)(logits, labels).backward()
        assert logits.grad is not None and torch.isfinite(logits.grad).all()
