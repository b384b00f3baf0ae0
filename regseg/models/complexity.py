"""Model complexity in the paper's convention: parameters, GFLOPs, field of view.

GFLOPs follow fvcore (what the paper used): one multiply-add counts as ONE flop; convolutions
(bias not counted) and matmuls count their multiply-adds; BatchNorm (eval) counts 2 per input
element; bilinear upsampling 4 per output element, nearest 1 per output element, grid_sample 4
per output element; adaptive average pooling 1 per input element; element-wise ops, ReLU,
sigmoid, concatenation and fixed-window average pooling count zero.
Counting runs under ``torch.utils.flop_counter.FlopCounterMode`` with these formulas on a
meta-device copy of the model, so a 1024x2048 input costs no real compute.
"""

from __future__ import annotations

import copy
from math import prod

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not; BN running statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


def _conv_macs(x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed, *args,
               out_shape=None, **kwargs) -> int:
    # fvcore: batch * prod(weight shape) * prod(spatial extent); the extent is the output's for
    # a normal conv and the input's for a transposed one.
    spatial = x_shape[2:] if transposed else out_shape[2:]
    return x_shape[0] * prod(w_shape) * prod(spatial)


def _mm_macs(a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    return prod(a_shape) * b_shape[-1]


def _addmm_macs(_bias, a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    return prod(a_shape) * b_shape[-1]


def _bmm_macs(a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    return prod(a_shape) * b_shape[-1]


def _bn_eval(x_shape, weight_shape=None, *args, out_shape=None, **kwargs) -> int:
    return prod(x_shape) * (2 if weight_shape is not None else 1)


def _per_output(scale: int):
    def formula(*args, out_shape=None, **kwargs) -> int:
        first = out_shape[0] if isinstance(out_shape, (tuple, list)) and out_shape and \
            isinstance(out_shape[0], (tuple, list, torch.Size)) else out_shape
        return scale * prod(first)
    return formula


def _per_input(x_shape, *args, out_shape=None, **kwargs) -> int:
    return prod(x_shape)


def _mean_as_pool(x_shape, dims=None, *args, out_shape=None, **kwargs) -> int:
    # ATen lowers adaptive_avg_pool2d(output 1x1) to mean over (-1, -2); fvcore counted the
    # pooling as one flop per input element.
    return prod(x_shape)


_FORMULAS_BY_PACKET = {
    aten.convolution: _conv_macs,
    aten._convolution: _conv_macs,
    aten.mm: _mm_macs,
    aten.addmm: _addmm_macs,
    aten.bmm: _bmm_macs,
    aten._native_batch_norm_legit_no_training: _bn_eval,
    aten.native_batch_norm: _bn_eval,
    aten._native_batch_norm_legit: _bn_eval,
    aten.upsample_bilinear2d: _per_output(4),
    aten.upsample_nearest2d: _per_output(1),
    aten.grid_sampler_2d: _per_output(4),
    aten._adaptive_avg_pool2d: _per_input,
    aten.mean: _mean_as_pool,
}


def _with_overloads(by_packet: dict) -> dict:
    # FlopCounterMode decomposes any op *overload* missing from its registry before counting
    # (upsample_nearest2d.default would vanish into index ops), so register every overload too;
    # the count itself is keyed by the packet.
    table = dict(by_packet)
    for packet, formula in by_packet.items():
        for overload in packet.overloads():
            table[getattr(packet, overload)] = formula
    return table


FVCORE_FORMULAS = _with_overloads(_FORMULAS_BY_PACKET)


def count_flops(model: nn.Module, input_size: tuple[int, int] = (1024, 2048), *,
                batch: int = 1) -> int:
    """FLOPs (fvcore convention, eval mode) of one forward pass of (batch, 3, H, W).

    The model is copied to the meta device and put in eval mode; ``model`` is not modified.
    """
    probe = copy.deepcopy(model).to("meta").eval()
    x = torch.empty(batch, 3, *input_size, device="meta")
    counter = FlopCounterMode(display=False, custom_mapping=FVCORE_FORMULAS)
    with counter, torch.no_grad():
        probe(x)
    return int(counter.get_total_flops())


def count_gflops(model: nn.Module, input_size: tuple[int, int] = (1024, 2048)) -> float:
    """GFLOPs (1e9, one multiply-add = one FLOP) for a 1x3xHxW input, as the paper reports."""
    return count_flops(model, tuple(input_size)) / 1e9


def field_of_view(name: str) -> int | None:
    """Theoretical receptive field (pixels) of a body's stride-16 output, from the body table.

    Accepts a body name ("exp48") or a model name ("exp48_decoder26"); None for models without a
    RegSeg body (DDRNet). Computed as 1 + sum over the stem and every block's 3x3 conv of
    2 * dilation * (input stride); SE's global pooling and the shortcuts are not counted.
    For exp30..exp52: 63 + 32 * sum(max dilation of each last-stage block), matching the
    reference's AblationStudies.md. exp53 (two stride-4 and six stride-8 blocks) gives 3863.
    regnety600mf gives 479, which the tests confirm by measuring the gradient support of the
    built network; the published table says 607, which no receptive-field rule applied to the
    reference's RegNetY600MF reproduces (63 + 32 * 14 for "8*(1,1)+3*(2,2)" would be 511).
    """
    from regseg.models.bodies import BODIES, block_strides_and_dilations

    body = name if name in BODIES else name.partition("_")[0]
    spec = BODIES.get(body)
    if spec is None:
        return None
    rf, jump = 1, 1
    for stride, dilation in block_strides_and_dilations(spec):
        rf += 2 * dilation * jump
        jump *= stride
    return rf
