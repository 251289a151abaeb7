"""NAS-Bench-101 networks from cells: build_nb101(arch) is the benchmark's CIFAR-10 model.

Macro structure (NAS-Bench-101, Ying et al. 2019; defaults are the benchmark's):

    stem      Conv3x3(3 -> C, no bias) + BatchNorm + ReLU                   (n, 3, H, W) -> (n, C, H, W)
    stacks    S stacks of N cells; before stack s > 0 a MaxPool 2x2/2 halves H, W and the cells of
              stack s output C * 2**s channels (C=128, S=3, N=3: 128, 256, 512 channels)
    head      mean over H, W -> (n, C * 2**(S-1));  Linear -> logits (n, num_classes)

Inside a cell of c_in -> c_out channels (vertex v: its op, or input/output):
- the output's c_out channels are split over the vertices feeding it (the first c_out % k of the k
  get one extra); every other interior vertex gets the max over the interior vertices it feeds;
- vertex v sums a 1x1 Conv+BN+ReLU projection of the cell input (if input -> v) and the outputs of its
  interior predecessors cut to its own channel count (the first channels), in vertex order, then
  applies its op (conv3x3 / conv1x1 + BN + ReLU, or 3x3 max pool, stride 1) at its channel count;
- the output concatenates its interior predecessors in vertex order, plus a projection of the input
  if input -> output (the projection alone if nothing else feeds the output).

Initialization is the zero-cost code's (the network GradSign's authors scored): torch's default
init, then in modules() order conv weights ~ N(0, 2 / (k*k*c_out)), BatchNorm weight 1 / bias 0,
Linear weight ~ N(0, 0.01**2) / bias 0; modules are created in the same order, so after
torch.manual_seed(s) the weights are bitwise the authors' Network's.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .nb101_arch import Cell, parse_arch


def conv_bn_relu(c_in: int, c_out: int, kernel_size: int) -> nn.Sequential:
    """Conv2d (no bias, 'same' padding, stride 1) + BatchNorm2d + ReLU: (n, c_in, H, W) -> (n, c_out, H, W)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


def make_op(name: str, channels: int) -> nn.Module:
    """The module of an interior op at `channels` channels (shape-preserving)."""
    if name == "conv3x3-bn-relu":
        return conv_bn_relu(channels, channels, 3)
    if name == "conv1x1-bn-relu":
        return conv_bn_relu(channels, channels, 1)
    if name == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise ValueError(f"unknown NAS-Bench-101 op {name!r}")


def vertex_channels(c_in: int, c_out: int, matrix) -> list[int]:
    """Channels of each vertex of a pruned cell (see the module docstring): [c_in, ..., c_out]."""
    n = len(matrix)
    channels = [c_in] + [0] * (n - 2) + [c_out]
    if n == 2:
        return channels
    feeders = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    share, extra = divmod(c_out, len(feeders))
    for i, v in enumerate(feeders):
        channels[v] = share + (i < extra)
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            channels[v] = max(channels[w] for w in range(v + 1, n - 1) if matrix[v][w])
    if min(channels[1:-1]) < 1:
        raise ValueError(f"{c_out} output channels cannot feed {len(feeders)} vertices (use more channels)")
    return channels


class NB101Cell(nn.Module):
    """One cell: x (n, c_in, H, W) -> (n, c_out, H, W) (see the module docstring)."""

    def __init__(self, cell: Cell, c_in: int, c_out: int):
        super().__init__()
        self.matrix, self.n = cell.matrix, cell.num_vertices
        self.channels = vertex_channels(c_in, c_out, cell.matrix)
        # created in this order (ops, then projections) so the RNG draws match the authors' Cell
        self.vertex_ops = nn.ModuleList(make_op(cell.ops[v], self.channels[v]) for v in range(1, self.n - 1))
        self.projections = nn.ModuleDict({str(v): conv_bn_relu(c_in, self.channels[v], 1)
                                          for v in range(1, self.n) if self.matrix[0][v]})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, last = self.matrix, self.n - 1
        outputs: list[torch.Tensor] = [x]
        for v in range(1, last):
            inputs = [outputs[u][:, :self.channels[v]] for u in range(1, v) if m[u][v]]
            if m[0][v]:
                inputs.append(self.projections[str(v)](x))
            outputs.append(self.vertex_ops[v - 1](sum(inputs)))
        concat = [outputs[v] for v in range(1, last) if m[v][last]]
        if not concat:
            return self.projections[str(last)](x)
        out = concat[0] if len(concat) == 1 else torch.cat(concat, 1)
        return out + self.projections[str(last)](x) if m[0][last] else out


class NB101Network(nn.Module):
    """A NAS-Bench-101 network; forward(x: (n, 3, H, W)) -> logits (n, num_classes).

    Attributes: arch, channels (stem C), stacks (S), cells (N per stack), num_classes. H, W: 32 for
    CIFAR-10; any size that survives S-1 halvings works.
    """

    def __init__(self, arch: str, *, channels: int = 128, stacks: int = 3, cells: int = 3, num_classes: int = 10):
        super().__init__()
        cell = parse_arch(arch)
        for name, value in (("channels", channels), ("stacks", stacks), ("cells", cells),
                            ("num_classes", num_classes)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        self.arch, self.channels, self.stacks, self.num_cells, self.num_classes = arch, channels, stacks, cells, \
            num_classes
        self.stem = conv_bn_relu(3, channels, 3)
        blocks: list[nn.Module] = []
        c_in = channels
        for s in range(stacks):
            if s > 0:
                blocks.append(nn.MaxPool2d(2, stride=2))
            for _ in range(cells):
                blocks.append(NB101Cell(cell, c_in, channels * 2**s))
                c_in = channels * 2**s
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(c_in, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """The zero-cost code's init (module docstring), in modules() order."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.data.normal_(0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))
                if m.bias is not None:
                    m.bias.data.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()
            elif isinstance(m, nn.Linear):
                m.weight.data.normal_(0, 0.01)
                m.bias.data.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n, 3, H, W) -> logits (n, num_classes)."""
        return self.classifier(torch.mean(self.blocks(self.stem(x)), (2, 3)))

    def extra_repr(self) -> str:
        return (f"arch={self.arch!r}, channels={self.channels}, stacks={self.stacks}, cells={self.num_cells}, "
                f"num_classes={self.num_classes}")


def build_nb101(arch: str, *, channels: int = 128, stacks: int = 3, cells: int = 3,
                num_classes: int = 10) -> NB101Network:
    """The NAS-Bench-101 network of `arch` (an nb101_arch string), freshly initialized, in train mode.

    Defaults are the benchmark's CIFAR-10 model (stem 128 channels, 3 stacks of 3 cells); smaller
    channels/stacks/cells give the same topology at a smaller size (tests, quick runs).
    """
    return NB101Network(arch, channels=channels, stacks=stacks, cells=cells, num_classes=num_classes).train()
