"""Inference-time Conv+BatchNorm folding (the "fused eval" fast path).

``fuse_conv_bn(model)`` returns an eval-mode copy in which every convolution that is directly
followed by its BatchNorm is replaced by one convolution with the BN folded into weight and
bias, and the BN by ``nn.Identity``. Outputs equal the unfused eval model up to float rounding.
The copy's state dict no longer has the BN keys: use it for inference and benchmarks only.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from regseg.models.blocks import ConvBnAct, DBlock, DilatedConv, Shortcut
from regseg.models.ddrnet import BasicBlock, Bottleneck

# Module type -> (conv attribute, BN attribute) pairs whose forward is exactly bn(conv(x)).
# Pre-activation units (BN before conv: DDRNet's BnActConv, SegmentHead) are not listed.
FUSABLE_PAIRS: dict[type, tuple[tuple[str, str], ...]] = {
    ConvBnAct: (("conv", "bn"),),
    Shortcut: (("conv", "bn"),),
    DBlock: (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")),
    BasicBlock: (("conv1", "bn1"), ("conv2", "bn2")),
    Bottleneck: (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")),
}


def _bn_slice(bn: nn.BatchNorm2d, start: int, stop: int) -> nn.BatchNorm2d:
    part = nn.BatchNorm2d(stop - start, eps=bn.eps).to(bn.weight.device, bn.weight.dtype).eval()
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(part, name).copy_(getattr(bn, name)[start:stop])
    return part


def _fold(conv: nn.Module, bn: nn.BatchNorm2d) -> nn.Module:
    if isinstance(conv, DilatedConv):
        # One BN over the concatenated splits = one BN slice per split.
        width = bn.num_features // conv.num_splits
        conv.convs = nn.ModuleList(
            fuse_conv_bn_eval(c, _bn_slice(bn, i * width, (i + 1) * width))
            for i, c in enumerate(conv.convs))
        return conv
    return fuse_conv_bn_eval(conv, bn)


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with Conv+BN pairs folded (``model`` is not modified)."""
    fused = copy.deepcopy(model).eval()
    for module in fused.modules():
        for conv_name, bn_name in FUSABLE_PAIRS.get(type(module), ()):
            bn = getattr(module, bn_name)
            if not isinstance(bn, nn.BatchNorm2d):
                continue
            setattr(module, conv_name, _fold(getattr(module, conv_name), bn))
            setattr(module, bn_name, nn.Identity())
    return fused
