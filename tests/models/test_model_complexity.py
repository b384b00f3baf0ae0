"""Params, GFLOPs (paper/fvcore convention) and field of view."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from regseg.models import BODIES, build_model
from regseg.models.complexity import count_flops, count_gflops, count_params, field_of_view

# Published figures (REGSEG_FACTS.md, measured with fvcore on the reference code, 1x3x1024x2048).
PUBLISHED = {
    "exp48_decoder26": (3_334_951, 39.08),
    "exp53_decoder29": (6_131_579, 87.45),
    **{f"{b}_decoder14": (3_368_023, 35.88) for b in
       ("exp30", "exp43", "exp46", "exp47", "exp48", "exp49", "exp50", "exp51", "exp52")},
    "ddrnet23": (20_148_819, 143.7),
}

# Field of view column of the reference's AblationStudies.md.
PUBLISHED_FOV = {"exp30": 3263, "exp43": 3743, "exp46": 3295, "exp47": 4127, "exp48": 3807,
                 "exp49": 3807, "exp50": 3743, "exp51": 3743, "exp52": 2207}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_params_exact_and_gflops_within_half_a_percent(name):
    params, gflops = PUBLISHED[name]
    with torch.device("meta"):
        model = build_model(name)
    assert count_params(model) == params
    assert count_gflops(model) == pytest.approx(gflops, rel=0.005)


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        y = self.bn(self.conv(x))
        y = y * torch.sigmoid(self.fc(self.pool(y)))
        y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        return F.interpolate(F.relu(y) + 1, scale_factor=2, mode="nearest")


def test_fvcore_convention_on_a_tiny_module():
    h, w = 10, 12
    conv = 8 * 3 * 3 * 3 * h * w          # multiply-adds, bias not counted
    bn = 2 * 8 * h * w                      # eval BatchNorm with affine
    pool = 8 * h * w                        # adaptive average pooling: per input element
    fc = 8 * 8                              # 1x1 conv on a 1x1 map
    bilinear = 4 * 8 * (2 * h) * (2 * w)    # per output element
    nearest = 1 * 8 * (4 * h) * (4 * w)
    model = _Tiny().train()
    assert count_flops(model, (h, w)) == conv + bn + pool + fc + bilinear + nearest
    assert model.training                   # the caller's model is left as it was
    assert next(model.parameters()).device.type == "cpu"


def test_gflops_scale_with_batch_free_input_area():
    model = build_model("exp48_decoder26")
    # Convs dominate and scale with pixels; halving both sides gives ~1/4 of the FLOPs.
    ratio = count_gflops(model, input_size=(512, 1024)) / count_gflops(model)
    assert ratio == pytest.approx(0.25, rel=0.01)


@pytest.mark.parametrize("body", sorted(PUBLISHED_FOV))
def test_field_of_view_matches_the_published_table(body):
    assert field_of_view(body) == PUBLISHED_FOV[body]
    assert field_of_view(f"{body}_decoder26") == PUBLISHED_FOV[body]
    # the paper's rule for these bodies
    assert field_of_view(body) == 63 + 32 * sum(max(d) for d in BODIES[body].dilations)


def test_field_of_view_is_none_for_competitors():
    assert field_of_view("ddrnet23") is None


def _empirical_receptive_field(name: str, width: int) -> int:
    """Width (pixels) of the input region that influences one central stride-16 output pixel.

    SE gates are removed (their global pooling would make the field the whole image, which the
    paper's field of view ignores); all weights are positive so nothing cancels. A 3x3 conv
    gains ~3x on a constant map, which keeps float32 far from overflow and underflow.
    """
    model = build_model(name).eval()
    for module in model.modules():
        if hasattr(module, "se"):
            module.se = nn.Identity()
        if isinstance(module, nn.Conv2d):
            fan_in = module.weight[0].numel()
            gain = 3.0 if module.kernel_size == (3, 3) else 1.0
            nn.init.constant_(module.weight, gain / fan_in)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    x = torch.ones(1, 3, 16, width, requires_grad=True)
    feats = model.body(model.stem(x))["16"]
    feats[0, :, 0, feats.shape[-1] // 2].sum().backward()
    cols = (x.grad.abs().sum(dim=(0, 1, 2)) > 0).nonzero().flatten()
    assert cols.min() > 0 and cols.max() < width - 1, "field clipped by the image border"
    return int(cols.max() - cols.min() + 1)


# regnety600mf: the reference's table says 607; the network it builds has a field of 479 (this
# measurement), so field_of_view reports 479 -- see complexity.field_of_view.
@pytest.mark.parametrize("name,width", [("exp48_decoder14", 4096), ("exp53_decoder14", 4096),
                                        ("regnety600mf_decoder14", 1024)])
def test_field_of_view_equals_the_measured_receptive_field(name, width):
    assert _empirical_receptive_field(name, width) == field_of_view(name)
