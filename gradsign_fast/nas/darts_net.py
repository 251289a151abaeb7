"""DARTS-style networks from a Genotype: the CIFAR and ImageNet macro structures of DARTS.

    NetworkCIFAR(genotype, C, layers, num_classes)      (n, 3, H, W) -> logits (n, num_classes)
        stem      Conv3x3(3, 3C) + BN                                          H x W
        cells     `layers` cells; cells layers//3 and 2*layers//3 are reduction cells (channels x2,
                  H, W / 2); a cell's output has len(concat) * C_cell channels
        head      global average pool, Linear(len(concat) * C_last, num_classes)
    NetworkImageNet(genotype, C, layers, num_classes)
        stem0     Conv3x3/2(3, C/2), BN, ReLU, Conv3x3/2(C/2, C), BN           H/4
        stem1     ReLU, Conv3x3/2(C, C), BN                                    H/8
        cells     as above (the first cell's s0 comes from stem0, so it factor-reduces it); head as above

Cell(s0, s1): s0 is preprocessed by ReLUConvBN 1x1 (FactorizedReduce when the previous cell reduced),
s1 by ReLUConvBN 1x1, both to C_cell channels; node 2+j = op_a(node[i_a]) + op_b(node[i_b]); output
cat(node[k] for k in concat). In a reduction cell the ops reading nodes 0 and 1 have stride 2.

This is the network of DARTS' model.py as used by NASLib (build_darts_net.NetworkCIFAR, auxiliary
head off) and by NDS's pycls (nas.NetworkCIFAR / NetworkImageNet); modules are created in their order,
so their state dicts load into ours parameter by parameter. Differences, on purpose: forward returns
the logits only; no auxiliary head and no drop-path (both off in the scored networks: GradSign scores
at initialization); every ReLU is out of place (NDS's ImageNet stem uses in-place ReLUs; same values).
"""

from __future__ import annotations

import torch
from torch import nn

from .darts_genotype import Genotype
from .darts_ops import FactorizedReduce, ReLUConvBN, make_op


class Cell(nn.Module):
    """One cell: (s0: (n, C_pp, H0, W0), s1: (n, C_p, H, W)) -> (n, len(concat) * C, H', W')."""

    def __init__(self, genotype: Genotype, C_prev_prev: int, C_prev: int, C: int, reduction: bool,
                 reduction_prev: bool):
        super().__init__()
        self.preprocess0 = FactorizedReduce(C_prev_prev, C) if reduction_prev else ReLUConvBN(C_prev_prev, C, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        edges, concat = genotype.cell(reduction)
        self.ops = nn.ModuleList(make_op(op, C, 2 if reduction and node_in < 2 else 1) for op, node_in in edges)
        self.inputs = tuple(node_in for _, node_in in edges)
        self.concat = tuple(concat)
        self.reduction = reduction
        self.multiplier = len(concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for j in range(len(self.ops) // 2):
            a, b = 2 * j, 2 * j + 1
            states.append(self.ops[a](states[self.inputs[a]]) + self.ops[b](states[self.inputs[b]]))
        return torch.cat([states[k] for k in self.concat], dim=1)


def check_genotype(genotype: Genotype) -> None:
    """ValueError unless every cell has pairs of edges reading earlier nodes and concat names nodes."""
    for name in ("normal", "reduce"):
        edges, concat = genotype.cell(name == "reduce")
        if not edges or len(edges) % 2:
            raise ValueError(f"a genotype's {name} cell has an even, nonzero number of edges, got {len(edges)}")
        for e, (op, node_in) in enumerate(edges):
            if not isinstance(node_in, int) or not 0 <= node_in < e // 2 + 2:
                raise ValueError(f"{name} edge {e} ({op!r}, {node_in!r}) feeds node {e // 2 + 2}: its input must "
                                 f"be an earlier node, 0..{e // 2 + 1}")
        nodes = len(edges) // 2 + 2
        if not concat or any(not isinstance(k, int) or not 0 <= k < nodes for k in concat):
            raise ValueError(f"{name}_concat {concat!r} must list nodes among 0..{nodes - 1}")


class DartsNetwork(nn.Module):
    """A DARTS-style network; forward(x: (n, 3, H, W)) -> logits (n, num_classes).

    stem "cifar" (NetworkCIFAR) or "imagenet" (NetworkImageNet); C: channels of the first cells
    (the CIFAR stem has 3C); layers: number of cells. The ImageNet network divides H and W by 32, the
    CIFAR one by 4: inputs smaller than 33 resp. 5 pixels would leave 1x1 maps, which a training-mode
    BatchNorm cannot normalize per sample, so they are refused with a ValueError.
    """

    def __init__(self, genotype: Genotype, *, C: int, layers: int, num_classes: int, stem: str = "cifar"):
        super().__init__()
        for name, value, low in (("C", C, 2), ("layers", layers, 1), ("num_classes", num_classes, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if stem not in ("cifar", "imagenet"):
            raise ValueError(f"stem is 'cifar' or 'imagenet', got {stem!r}")
        if stem == "imagenet" and C % 2:
            raise ValueError(f"the ImageNet stem halves C: C must be even, got {C}")
        check_genotype(genotype)
        self.genotype, self.C, self.layers, self.num_classes, self.stem_kind = genotype, C, layers, num_classes, stem
        if stem == "cifar":
            self.stem = nn.Sequential(nn.Conv2d(3, 3 * C, 3, padding=1, bias=False), nn.BatchNorm2d(3 * C))
            C_prev_prev = C_prev = 3 * C
            reduction_prev = False
        else:
            self.stem0 = nn.Sequential(nn.Conv2d(3, C // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C // 2),
                                       nn.ReLU(), nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
                                       nn.BatchNorm2d(C))
            self.stem1 = nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C))
            C_prev_prev = C_prev = C
            reduction_prev = True
        cells, C_curr = [], C
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            C_curr *= 2 if reduction else 1
            cell = Cell(genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev)
            cells.append(cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
        self.cells = nn.ModuleList(cells)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        self.min_size = 5 if stem == "cifar" else 33

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"a DARTS network takes images (n, 3, H, W), got shape {tuple(x.shape)}")
        if min(x.shape[2:]) < self.min_size:
            raise ValueError(f"the {self.stem_kind} DARTS network needs H, W >= {self.min_size} (its last maps "
                             f"would be 1x1), got {tuple(x.shape[2:])}")
        if self.stem_kind == "cifar":
            s0 = s1 = self.stem(x)
        else:
            s0 = self.stem0(x)
            s1 = self.stem1(s0)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def extra_repr(self) -> str:
        return f"stem={self.stem_kind}, C={self.C}, layers={self.layers}, num_classes={self.num_classes}"
