"""Every registered model runs forward at 64x128 and returns full-resolution logits."""

from __future__ import annotations

import pytest
import torch

from regseg.models import build_model, list_models


@pytest.mark.parametrize("name", list_models())
def test_forward_shape_64x128(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 64, 128))
    assert out.shape == (1, 19, 64, 128)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["exp48_decoder26", "exp43_SFNetDecoder", "ddrnet23slim"])
def test_train_step_reaches_every_parameter(name):
    torch.manual_seed(0)
    model = build_model(name).train()
    x = torch.randn(2, 3, 64, 128)
    target = torch.randint(0, 19, (2, 64, 128))
    loss = torch.nn.functional.cross_entropy(model(x), target, ignore_index=255)
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert no_grad == []


def test_odd_input_size_still_returns_input_size():
    model = build_model("exp48_decoder26").eval()
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 70, 101)).shape == (1, 19, 70, 101)
