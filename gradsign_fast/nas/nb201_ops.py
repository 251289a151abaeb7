"""NAS-Bench-201 building blocks, in three variants.

Written after the benchmark's model (xautodl `cell_operations.py`: ReLUConvBN, ResNetBasicblock,
POOLING, Zero, Identity) and the zero-cost-proxy model the GradSign authors scored
(SamsungLabs zero-cost-nas `foresight/models/nasbench2_ops.py`). Attribute names follow xautodl so
that a benchmark-variant state_dict has the benchmark's keys.

    variant            cell convs   cell BatchNorm                          stem / reductions / head
    "benchmark"        no bias      affine=True,  track_running_stats=True   affine BN, running stats
    "zero_cost"        with bias    affine=False, track_running_stats=False  affine BN, running stats
    "authors_all_ops"  as zero_cost, and every edge holds all 5 candidate ops (the unused ones idle),
                       exactly the authors' NAS201Model: see nb201.py

The cell edges of zero_cost and authors_all_ops are the same modules; they differ in what the cell
keeps (the chosen op per edge, or all 5 candidates per edge).

With track_running_stats=False a BatchNorm always normalizes with the statistics of the batch it
sees, in train and eval mode alike.
"""

from __future__ import annotations

import torch
from torch import nn

VARIANTS: tuple[str, ...] = ("zero_cost", "benchmark", "authors_all_ops")
# The variants laid out as the authors' zero-cost model: weights created in its order (all 5 candidates
# per edge, the reduction block's shortcut first), so that a torch seed draws the same initial weights.
AUTHORS_LAYOUT: tuple[str, ...] = ("zero_cost", "authors_all_ops")
# Order in which the zero-cost model instantiates the candidate ops of every edge (its OPS dict):
# replayed in the zero_cost variant so that a given torch seed draws the same initial weights.
AUTHORS_CANDIDATE_ORDER: tuple[str, ...] = ("none", "avg_pool_3x3", "nor_conv_3x3", "nor_conv_1x1", "skip_connect")


def check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return variant


class ReLUConvBN(nn.Module):
    """ReLU -> Conv2d -> BatchNorm2d.  x: (n, C_in, H, W) -> (n, C_out, H/stride, W/stride)."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, *,
                 bias: bool, affine: bool, track_running_stats: bool):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel, stride=stride, padding=padding, bias=bias),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The 'none' edge: x * 0 (keeps shape, device, and NaN/inf propagation like the originals)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class AvgPool3x3(nn.Module):
    """The 'avg_pool_3x3' edge: 3x3 average, stride 1, padding 1, padding not counted."""

    def __init__(self):
        super().__init__()
        self.op = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def make_edge_op(name: str, C: int, variant: str) -> nn.Module:
    """One cell edge operation on C channels at stride 1.  x: (n, C, H, W) -> (n, C, H, W)."""
    cell_bn = variant == "benchmark"  # affine BN with running stats in the benchmark, plain BN otherwise
    conv = dict(bias=not cell_bn, affine=cell_bn, track_running_stats=cell_bn)
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(C, C, 1, 1, 0, **conv)
    if name == "nor_conv_3x3":
        return ReLUConvBN(C, C, 3, 1, 1, **conv)
    if name == "avg_pool_3x3":
        return AvgPool3x3()
    raise ValueError(f"unknown NAS-Bench-201 operation {name!r}")


class ResNetBasicblock(nn.Module):
    """The reduction block between cell stages (stride 2, C_in -> C_out), identical in both variants.

    conv_a: ReLUConvBN 3x3 stride 2, conv_b: ReLUConvBN 3x3; downsample: AvgPool 2x2 then a 1x1 conv
    (no bias, no BN); output conv_b(conv_a(x)) + downsample(x).
    x: (n, C_in, H, W) -> (n, C_out, H/2, W/2).  `downsample_first` only changes the order in which
    the weights are created (and so drawn from the RNG): the zero-cost model creates it first.
    """

    def __init__(self, C_in: int, C_out: int, *, downsample_first: bool = False):
        super().__init__()
        bn = dict(bias=False, affine=True, track_running_stats=True)
        if downsample_first:
            self.downsample = self._downsample(C_in, C_out)
        self.conv_a = ReLUConvBN(C_in, C_out, 3, 2, 1, **bn)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1, **bn)
        if not downsample_first:
            self.downsample = self._downsample(C_in, C_out)
        self.in_dim, self.out_dim = C_in, C_out

    @staticmethod
    def _downsample(C_in: int, C_out: int) -> nn.Module:
        return nn.Sequential(nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                             nn.Conv2d(C_in, C_out, kernel_size=1, stride=1, padding=0, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))
