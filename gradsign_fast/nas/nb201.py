"""NAS-Bench-201 networks from arch strings: build_nb201(arch, variant=...).

Macro structure (the benchmark's TinyNetwork; the zero-cost model has the same shape):

    stem      Conv2d(3, C, 3, pad 1, no bias) + BatchNorm2d(C)               (n, 3, H, W) -> (n, C, H, W)
    cells     N cells at C, reduction to 2C, N cells at 2C, reduction to 4C, N cells at 4C
    lastact   BatchNorm2d(4C) + ReLU(inplace)
    pooling   global average -> (n, 4C);  classifier Linear(4C, num_classes) -> logits (n, num_classes)

Differences from the two originals, on purpose:
- forward() returns the logits only (TinyNetwork returns (features, logits)), so that
  loss_fn(model(x), y) works; features() returns the pooled (n, 4C) features.
- The zero-cost model instantiates all 5 candidate ops on every edge and masks the unused ones; the
  "zero_cost" variant keeps only the chosen op. Unused ops get no gradient and add nothing to the
  GradSign sum, so that score is the same. Their creation is still replayed (and discarded) so that,
  after torch.manual_seed(s), the kept weights are drawn exactly as the zero-cost model draws them.
- The "authors_all_ops" variant keeps them, as the authors' NAS201Model does (cell.options: 6 edges x
  5 candidates in AUTHORS_CANDIDATE_ORDER, edge-major; forward uses the chosen one per edge). Its
  parameters() are theirs, in their order, and after the same torch.manual_seed equal to theirs. The
  unused candidates' conv weights are scored as zeros: nothing changes for reduction="sum", but they
  count in the denominator of reduction="mean", as in the authors' np.nanmean harness.
"""

from __future__ import annotations

import torch
from torch import nn

from .nb201_arch import EDGES, parse_arch
from .nb201_ops import AUTHORS_CANDIDATE_ORDER, AUTHORS_LAYOUT, ResNetBasicblock, check_variant, make_edge_op


class NB201Cell(nn.Module):
    """One cell: node j = sum of layers[e](node[from]) over its edges.  x: (n, C, H, W) -> (n, C, H, W).

    layers[e] is the op on EDGES[e] (same indexing as the benchmark's InferCell.layers); in the
    authors_all_ops variant options[5 e + k] is candidate AUTHORS_CANDIDATE_ORDER[k] of edge e (their
    SearchCell.options) and edge_op(e) the chosen one.
    """

    def __init__(self, ops: tuple[str, ...], C: int, variant: str):
        super().__init__()
        self.ops = ops
        self.in_dim = self.out_dim = C
        self.chosen: tuple[int, ...] | None = None  # authors_all_ops: index in options of each edge's op
        if variant == "authors_all_ops":  # every candidate of every edge, created in the authors' order
            self.options = nn.ModuleList(make_edge_op(name, C, variant)
                                         for _ in ops for name in AUTHORS_CANDIDATE_ORDER)
            self.chosen = tuple(len(AUTHORS_CANDIDATE_ORDER) * e + AUTHORS_CANDIDATE_ORDER.index(op)
                                for e, op in enumerate(ops))
            return
        layers = []
        for op in ops:
            if variant == "zero_cost":  # replay the zero-cost model's RNG use, keep only `op`
                candidates = {name: make_edge_op(name, C, variant) for name in AUTHORS_CANDIDATE_ORDER}
                layers.append(candidates[op])
            else:
                layers.append(make_edge_op(op, C, variant))
        self.layers = nn.ModuleList(layers)

    def edge_op(self, e: int) -> nn.Module:
        """The module computing edge EDGES[e]."""
        return self.layers[e] if self.chosen is None else self.options[self.chosen[e]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to in (1, 2, 3):
            nodes.append(sum(self.edge_op(e)(nodes[frm]) for e, (t, frm) in enumerate(EDGES) if t == to))
        return nodes[-1]


class NB201Network(nn.Module):
    """A NAS-Bench-201 network; forward(x: (n, 3, H, W)) -> logits (n, num_classes).

    Attributes: arch (the string), variant, C, N, num_classes. H and W: 32 for CIFAR, 16 for
    ImageNet16-120 (any size >= 4 works).
    """

    def __init__(self, arch: str, *, variant: str = "zero_cost", C: int = 16, N: int = 5, num_classes: int = 10):
        super().__init__()
        ops = parse_arch(arch)
        check_variant(variant)
        for name, value, low in (("C", C, 1), ("N", N, 1), ("num_classes", num_classes, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        self.arch, self.variant, self.C, self.N, self.num_classes = arch, variant, C, N, num_classes

        self.stem = nn.Sequential(nn.Conv2d(3, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells: list[nn.Module] = []
        C_prev = C
        for stage, C_curr in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                cells.append(ResNetBasicblock(C_prev, C_curr, downsample_first=variant in AUTHORS_LAYOUT))
            cells.extend(NB201Cell(ops, C_curr, variant) for _ in range(N))
            C_prev = C_curr
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n, 3, H, W) -> pooled features (n, 4C) (TinyNetwork's first output)."""
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        x = self.global_pooling(self.lastact(x))
        return x.view(x.size(0), -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n, 3, H, W) -> logits (n, num_classes)."""
        return self.classifier(self.features(x))

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, variant={self.variant!r}, C={self.C}, N={self.N}, num_classes={self.num_classes}"


def build_nb201(
    arch: str, *, variant: str = "zero_cost", C: int = 16, N: int = 5, num_classes: int = 10
) -> NB201Network:
    """The NAS-Bench-201 network of `arch`, freshly initialized (torch defaults), in train mode.

    variant "zero_cost" (default): the model GradSign's authors scored (cell convs with bias, cell
    BatchNorm without affine parameters or running stats). "benchmark": the benchmark's TinyNetwork
    (cell convs without bias, affine BatchNorm with running stats; same state_dict keys, e.g. to
    load trained weights). "authors_all_ops": the authors' model exactly, all 5 candidate ops on
    every edge (the unused ones idle), as their nanmean harness scored it: use it for
    reduction="mean" parity. C: channels of the first stage (16), N: cells per stage (5),
    num_classes: 10 (CIFAR-10), 100 (CIFAR-100) or 120 (ImageNet16-120).
    forward(x) returns logits (n, num_classes), so loss_fn(model(x), y) works directly.
    """
    return NB201Network(arch, variant=variant, C=C, N=N, num_classes=num_classes)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameter entries (what the benchmark's 'params' column counts, in millions)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
