"""The arguments of a backend's fused per-layer op (conv_weight_signs_) for the calls of one weight.

Math (what the op computes, see csrc/cpu/conv_signs_cpu.cpp): weight (Cout, Cin/g, kh, kw) used by
calls c, sample s:  counts += sum_s sign(G_s),  G_s = sum over calls c of D_c,s U_c,s^T, with U the
implicit im2col of the call's input. Per call the op takes its input x: (n, Cin, H, W) and D = dL/dz:
(n, Cout, Ho, Wo), any strides, and 8 ints: kh, kw, sh, sw, dh, dw, pad_top, pad_left (zero padding;
bottom / right follow from Ho, Wo). Other padding modes are applied here (F.pad, as Conv2d does), so
the op sees padding 0. A Linear on x: (n, *, in) is a 1x1 conv over the positions *: x as
(n, in, P, 1), D as (n, out, P, 1), strided views.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .capture import Call

LayerArgs = tuple[list[torch.Tensor], list[torch.Tensor], list[int], int]
# Input channels per group from which the fused op beats the tile path (conv_rule.py) on the CPU: the
# op then reads a channels-last copy of the input, no im2col. With fewer (first layers, depthwise) the
# convolution's own weight-gradient kernel per chunk of samples plus one sign pass was faster in
# development timings on resnet18's 3-channel stem and depthwise layers (a tuning choice, not a
# correctness one: both paths give identical counts, tests/test_conv_weight_signs.py).
MIN_CHANNELS_PER_GROUP = 32
# At ONE torch thread on the CPU (how sweeps run: one worker process per core) the tile path also wins
# on most convs above the threshold: benchmarks/layer_op_threshold.py --threads 1 put the fused op
# ahead only on k x k convs (k > 1) with at most 8 x 8 output positions; end to end the rule below
# scores the CNN 1.15x and the NB101 net 1.19x faster, NB201 and resnet18 level (README, "Benchmarks";
# strided 1x1 convs, resnet's downsample, stay fused: sent to the tile path they cost resnet18 a few
# per cent). With more threads the fused op keeps its place: one parallel region per layer held up
# better than the tile path's many small ones when a core was busy. The rule applies up to
# TILE_RULE_MAX_THREADS torch threads (0: never; benchmarks compare settings).
ONE_THREAD_MAX_OUTPUT_POSITIONS = 64
TILE_RULE_MAX_THREADS = 1


def tile_wins_at_one_thread(conv: nn.Conv2d, d: torch.Tensor) -> bool:
    """Whether the tile path beats the fused op at one CPU thread for `conv` with D: (n, C_out, Ho, Wo)."""
    if conv.kernel_size == (1, 1):
        return conv.stride == (1, 1)
    return d.shape[-2] * d.shape[-1] > ONE_THREAD_MAX_OUTPUT_POSITIONS


def _conv_args(conv: nn.Conv2d, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
    if conv.padding_mode == "zeros" and not isinstance(conv.padding, str):
        pt, pl = conv.padding
    elif conv.padding_mode == "zeros":  # 'same' / 'valid': (left, right, top, bottom) as Conv2d pads
        left, _, top, _ = conv._reversed_padding_repeated_twice
        pt, pl = top, left
    else:  # reflect / replicate / circular: pad as Conv2d._conv_forward does
        x = F.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
        pt = pl = 0
    return x, d, [kh, kw, sh, sw, dh, dw, pt, pl]


def _sequence_args(linear: nn.Linear, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    n = x.shape[0]
    x = x.reshape(n, -1, linear.in_features).transpose(1, 2).unsqueeze(-1)
    d = d.reshape(n, -1, linear.out_features).transpose(1, 2).unsqueeze(-1)
    return x, d, [1, 1, 1, 1, 1, 1, 0, 0]


def layer_op_args(calls: Sequence[Call], grads: Sequence[torch.Tensor], *,
                  min_channels: int = MIN_CHANNELS_PER_GROUP, cpu_threads: int | None = None) -> LayerArgs | None:
    """(inputs, grads, geometry, groups) of conv_weight_signs_ for one weight, or None where the op does
    not apply (a dtype other than float32 / float64, calls with different groups or kernel sizes) or
    would be slower (fewer than `min_channels` input channels per group; on the CPU at `cpu_threads`
    torch threads, at most TILE_RULE_MAX_THREADS, a conv call where tile_wins_at_one_thread)."""
    dtype = grads[0].dtype
    if dtype not in (torch.float32, torch.float64) or any(c.x.dtype != dtype or d.dtype != dtype
                                                          for c, d in zip(calls, grads)):
        return None
    modules = [c.module for c in calls]
    if isinstance(modules[0], nn.Conv2d):
        if len({(m.groups, m.kernel_size) for m in modules}) != 1 or not all(isinstance(m, nn.Conv2d) for m in modules):
            return None
        if any(c.x.dim() != 4 for c in calls):
            return None
        if modules[0].in_channels // modules[0].groups < min_channels:
            return None
        rule_applies = cpu_threads is not None and cpu_threads <= TILE_RULE_MAX_THREADS
        if rule_applies and any(tile_wins_at_one_thread(c.module, d) for c, d in zip(calls, grads)):
            return None
        parts = [_conv_args(c.module, c.x, d) for c, d in zip(calls, grads)]
        groups = modules[0].groups
    else:
        if not all(isinstance(m, nn.Linear) for m in modules) or any(c.x.dim() < 2 for c in calls):
            return None
        if modules[0].in_features < min_channels:
            return None
        parts = [_sequence_args(c.module, c.x, d) for c, d in zip(calls, grads)]
        groups = 1
    return [p[0] for p in parts], [p[1] for p in parts], [v for p in parts for v in p[2]], groups
