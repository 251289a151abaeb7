"""The edge operations of DARTS-style cells (DARTS, and NDS's DARTS/ENAS/PNAS/NASNet/Amoeba spaces).

make_op(name, C, stride) -> nn.Module, (n, C, H, W) -> (n, C, ceil(H/stride), ceil(W/stride)).
Every op keeps the channel count C; stride is 1, or 2 on the input edges of a reduction cell.
BatchNorms are affine; convolutions have no bias; every ReLU is out of place (so per-sample gradient
capture can hook any output). The op set and each op's layer order are those of DARTS' operations.py
as carried by NDS's pycls (`pycls/models/nas/operations.py`) and NASLib's build_darts_net.py, so a
state dict of theirs loads into ours parameter by parameter:

    none                   zeros (strided when stride 2)
    avg_pool_KxK           AvgPool2d(K, stride, pad K//2 (0 for 2x2), count_include_pad=False)   K = 2, 3, 5
    max_pool_KxK           MaxPool2d(K, stride, pad K//2 (0 for 2x2))                             K = 2, 3, 5, 7
    skip_connect           identity; FactorizedReduce when stride 2
    conv_1x1, conv_3x3     ReLU, Conv(K, stride), BN
    sep_conv_KxK           (ReLU, depthwise Conv(K, stride), Conv 1x1, BN) then the same with stride 1   K = 3, 5, 7
    dil_conv_KxK           ReLU, depthwise Conv(K, stride, dilation 2), Conv 1x1, BN                K = 3, 5
    dil_sep_conv_3x3       sep_conv_3x3 with dilation 2 in both depthwise convs
    conv_3x1_1x3, conv_7x1_1x7   ReLU, Conv(1xK, stride (1, s)), Conv(Kx1, stride (s, 1)), BN

FactorizedReduce(x) = BN(cat(conv_a(relu(x)), conv_b(relu(x) shifted by one pixel, zero-padded))),
two 1x1 stride-2 convs of C_out/2 channels each: pycls's padded form, which equals DARTS'/NASLib's
unpadded one on even H, W and also works on odd sizes (where theirs cannot concatenate).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F


class ReLUConvBN(nn.Module):
    """ReLU, Conv2d(C_in, C_out, k, stride, padding, no bias), BatchNorm2d(C_out)."""

    def __init__(self, C_in: int, C_out: int, kernel_size, stride, padding):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding,
                                                     bias=False), nn.BatchNorm2d(C_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def _sep_half(C: int, k: int, stride: int, padding: int, dilation: int) -> list[nn.Module]:
    return [nn.ReLU(), nn.Conv2d(C, C, k, stride=stride, padding=padding, dilation=dilation, groups=C, bias=False),
            nn.Conv2d(C, C, 1, bias=False), nn.BatchNorm2d(C)]


class SepConv(nn.Module):
    """Two (ReLU, depthwise KxK, pointwise 1x1, BN) halves; the first carries the stride."""

    def __init__(self, C: int, k: int, stride: int, padding: int, dilation: int = 1):
        super().__init__()
        self.op = nn.Sequential(*_sep_half(C, k, stride, padding, dilation), *_sep_half(C, k, 1, padding, dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """ReLU, depthwise KxK conv with dilation, pointwise 1x1, BN."""

    def __init__(self, C: int, k: int, stride: int, padding: int, dilation: int):
        super().__init__()
        self.op = nn.Sequential(*_sep_half(C, k, stride, padding, dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """(n, C_in, H, W) -> (n, C_out, ceil(H/2), ceil(W/2)): two shifted 1x1 stride-2 convs, concatenated, BN."""

    def __init__(self, C_in: int, C_out: int):
        super().__init__()
        if C_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {C_out}")
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class Zero(nn.Module):
    """The 'none' op: zeros shaped like the strided input (x * 0, so NaN/inf propagate as in DARTS)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0) if self.stride == 1 else x[:, :, ::self.stride, ::self.stride].mul(0.0)


def _conv_kx1_1xk(C: int, k: int, stride: int) -> nn.Module:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, (1, k), stride=(1, stride), padding=(0, k // 2), bias=False),
                         nn.Conv2d(C, C, (k, 1), stride=(stride, 1), padding=(k // 2, 0), bias=False),
                         nn.BatchNorm2d(C))


def _pool(kind: type, k: int) -> Callable[[int, int], nn.Module]:
    pad = 0 if k == 2 else k // 2
    if kind is nn.AvgPool2d:
        return lambda C, s: nn.AvgPool2d(k, stride=s, padding=pad, count_include_pad=False)
    return lambda C, s: nn.MaxPool2d(k, stride=s, padding=pad)


OPS: dict[str, Callable[[int, int], nn.Module]] = {
    "none": lambda C, s: Zero(s),
    "avg_pool_2x2": _pool(nn.AvgPool2d, 2),
    "avg_pool_3x3": _pool(nn.AvgPool2d, 3),
    "avg_pool_5x5": _pool(nn.AvgPool2d, 5),
    "max_pool_2x2": _pool(nn.MaxPool2d, 2),
    "max_pool_3x3": _pool(nn.MaxPool2d, 3),
    "max_pool_5x5": _pool(nn.MaxPool2d, 5),
    "max_pool_7x7": _pool(nn.MaxPool2d, 7),
    "skip_connect": lambda C, s: nn.Identity() if s == 1 else FactorizedReduce(C, C),
    "conv_1x1": lambda C, s: nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, 1, stride=s, bias=False), nn.BatchNorm2d(C)),
    "conv_3x3": lambda C, s: nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, 3, stride=s, padding=1, bias=False),
                                           nn.BatchNorm2d(C)),
    "sep_conv_3x3": lambda C, s: SepConv(C, 3, s, 1),
    "sep_conv_5x5": lambda C, s: SepConv(C, 5, s, 2),
    "sep_conv_7x7": lambda C, s: SepConv(C, 7, s, 3),
    "dil_conv_3x3": lambda C, s: DilConv(C, 3, s, 2, 2),
    "dil_conv_5x5": lambda C, s: DilConv(C, 5, s, 4, 2),
    "dil_sep_conv_3x3": lambda C, s: SepConv(C, 3, s, 2, dilation=2),
    "conv_3x1_1x3": lambda C, s: _conv_kx1_1xk(C, 3, s),
    "conv_7x1_1x7": lambda C, s: _conv_kx1_1xk(C, 7, s),
}


def make_op(name: str, C: int, stride: int) -> nn.Module:
    """The op `name` on C channels with `stride` (1 or 2)."""
    if name not in OPS:
        raise ValueError(f"unknown DARTS-style op {name!r}; known: {sorted(OPS)}")
    return OPS[name](C, stride)
