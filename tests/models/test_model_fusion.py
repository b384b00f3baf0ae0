"""Conv+BN folding for inference keeps the outputs of the eval-mode model."""

from __future__ import annotations

import pytest
import torch
from _zoo_helpers import COMPAT
from torch import nn

from regseg.models import build_model, load_weights
from regseg.models.fusion import fuse_conv_bn


def _randomise_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)


def test_fused_regseg_reproduces_the_reference_logits():
    model = build_model("exp48_decoder26")
    load_weights(model, COMPAT / "exp48_decoder26.pt")
    fused = fuse_conv_bn(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # original untouched
    x = torch.load(COMPAT / "exp48_decoder26.input.pt", weights_only=True)
    y = torch.load(COMPAT / "exp48_decoder26.logits.pt", weights_only=True)
    with torch.inference_mode():
        assert (fused(x) - y).abs().max().item() < 1e-4


@pytest.mark.parametrize("name", ["exp49_decoder10", "exp50_lraspp", "regnety600mf_SFNetDecoder",
                                  "exp53_BisenetDecoder", "ddrnet23slim"])
def test_fusion_keeps_outputs(name):
    torch.manual_seed(0)
    model = build_model(name)
    with torch.no_grad():
        _randomise_bn(model)
    model.eval()
    x = torch.randn(1, 3, 64, 128)
    with torch.inference_mode():
        ref = model(x)
        out = fuse_conv_bn(model)(x)
    assert (out - ref).abs().max().item() <= 1e-5 * max(1.0, ref.abs().max().item())
