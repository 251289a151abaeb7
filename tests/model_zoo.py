"""Small models that exercise every rule of GradSign's semantics, shared by tests and benchmarks.

Each factory takes a dtype and returns a Case: model, inputs (n, ...), targets, loss_fn, plus
`exact_fp64`: whether float64 scores must equal the authors' loop exactly (False only where a
mathematically zero gradient can come out as +-1e-17, see shared/docs/GRADSIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class Case:
    model: nn.Module
    inputs: Any
    targets: torch.Tensor | None
    loss_fn: Callable[..., torch.Tensor] = F.cross_entropy
    exact_fp64: bool = True
    kwargs: dict = field(default_factory=dict)


def _images(n, c, h, w, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, h, w, generator=g).to(dtype)


def _labels(n, classes, seed=1):
    return torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed))


def _build(module_fn, dtype, seed=0):
    torch.manual_seed(seed)
    return module_fn().to(dtype)


def conv_bn_net(dtype):
    """Conv/BN(train)/ReLU/grouped/depthwise/dilated/strided convs, every padding mode, a Linear head."""
    model = _build(
        lambda: nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8, (3, 1), padding=(1, 0), padding_mode="reflect", groups=2),
            nn.Conv2d(8, 8, 3, padding=1, padding_mode="replicate", groups=8, bias=False),
            nn.Conv2d(8, 12, (2, 3), stride=(2, 1), dilation=(1, 2), padding="valid"),
            nn.BatchNorm2d(12),
            nn.Tanh(),
            nn.Conv2d(12, 12, 4, padding="same", padding_mode="circular", dilation=1),
            nn.Conv2d(12, 6, 2, padding="same", dilation=2),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(24, 10),
        ),
        dtype,
    )
    return Case(model, _images(6, 3, 9, 11, dtype), _labels(6, 10))


def eval_bn_net(dtype):
    """BatchNorm in eval mode (running statistics), others in train mode; one BN without running stats."""
    model = _build(
        lambda: nn.Sequential(
            nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU(),
            nn.Conv2d(6, 6, 3), nn.BatchNorm2d(6, affine=False, track_running_stats=False), nn.ReLU(),
            nn.Flatten(), nn.Linear(6 * 4 * 4, 5),
        ),
        dtype,
    )
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.5, 0.5)
        model[1].running_var.uniform_(0.5, 2.0)
    model[1].eval()
    return Case(model, _images(5, 3, 8, 8, dtype), _labels(5, 5))


class SequenceMLP(nn.Module):
    """Linear layers on (n, T, d) token sequences, mean-pooled to class logits."""

    def __init__(self, d=6, hidden=10, classes=4):
        super().__init__()
        self.inp = nn.Linear(d, hidden)
        self.mid = nn.Linear(hidden, hidden, bias=False)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x):
        h = self.norm(torch.relu(self.mid(torch.tanh(self.inp(x)))))
        return self.out(h.mean(dim=1))


def sequence_linear(dtype):
    return Case(_build(SequenceMLP, dtype), torch.randn(5, 7, 6, generator=torch.Generator().manual_seed(3)).to(dtype), _labels(5, 4))


class Reused(nn.Module):
    """One Linear and one Conv2d called twice: each counts once, with both uses summed."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(16, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        x = self.conv(torch.relu(self.conv(x)))
        z = x.mean(dim=(2, 3)).repeat(1, 4)
        return self.head(self.fc(torch.sigmoid(self.fc(z))))


def reused_modules(dtype):
    return Case(_build(Reused, dtype), _images(6, 4, 5, 5, dtype), _labels(6, 3))


class Tied(nn.Module):
    """Two Linear modules sharing one weight Parameter: the loop scores it twice."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)
        self.b.weight = self.a.weight
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(torch.tanh(self.b(torch.relu(self.a(x)))))


def tied_parameters(dtype):
    return Case(_build(Tied, dtype), torch.randn(7, 8, generator=torch.Generator().manual_seed(4)).to(dtype), _labels(7, 3))


def frozen_and_unused(dtype):
    """A frozen Conv2d, a Linear that is never called: both contribute zeros."""
    model = _build(lambda: nn.ModuleDict({"conv": nn.Conv2d(3, 4, 3), "unused": nn.Linear(3, 3), "fc": nn.Linear(4 * 4 * 4, 6)}), dtype)
    model["conv"].weight.requires_grad_(False)

    class Net(nn.Module):
        def __init__(self, parts):
            super().__init__()
            self.parts = parts

        def forward(self, x):
            return self.parts["fc"](torch.relu(self.parts["conv"](x)).flatten(1))

    return Case(Net(model), _images(5, 3, 6, 6, dtype), _labels(5, 6))


def weighted_losses(dtype):
    """Class-weighted, label-smoothed cross-entropy with ignore_index on some labels."""
    case = conv_bn_net(dtype)
    weight = torch.linspace(0.5, 2.0, 10, dtype=dtype)
    targets = case.targets.clone()
    targets[2] = -1
    case.loss_fn = nn.CrossEntropyLoss(weight=weight, ignore_index=-1, label_smoothing=0.1)
    case.targets = targets
    return case


def ignore_index_loss(dtype):
    """Plain cross-entropy with the default ignore_index: an ignored sample's loss is NaN (0/0)."""
    case = conv_bn_net(dtype)
    case.targets = case.targets.clone()
    case.targets[1] = -100
    return case


def mse_regression(dtype):
    model = _build(lambda: nn.Sequential(nn.Linear(5, 9), nn.GELU(), nn.Linear(9, 2)), dtype)
    g = torch.Generator().manual_seed(5)
    return Case(model, torch.randn(8, 5, generator=g).to(dtype), torch.randn(8, 2, generator=g).to(dtype), F.mse_loss)


class TwoInputs(nn.Module):
    """Token ids (integers) and a float feature vector: a tuple input."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 6)
        self.feat = nn.Linear(3, 6)
        self.head = nn.Linear(6, 4)

    def forward(self, ids, feats):
        return self.head(torch.relu(self.emb(ids).mean(1) + self.feat(feats)))


def tuple_integer_inputs(dtype):
    g = torch.Generator().manual_seed(6)
    inputs = (torch.randint(0, 20, (6, 5), generator=g), torch.randn(6, 3, generator=g).to(dtype))
    return Case(_build(TwoInputs, dtype), inputs, _labels(6, 4))


class InplaceAfterScored(nn.Module):
    """In-place activations applied to the outputs of scored modules."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.act = nn.Hardswish(inplace=True)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        y = self.act(self.conv(x))
        y = y.mean(dim=(2, 3))
        z = self.fc(y)
        z.mul_(2.0)
        return z


def inplace_activations(dtype):
    return Case(_build(InplaceAfterScored, dtype), _images(5, 3, 6, 6, dtype), _labels(5, 4))


class TinyAttention(nn.Module):
    """nn.MultiheadAttention (out_proj used through F.linear, never called) and a TransformerEncoderLayer."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(5, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = self.embed(x)
        h = h + self.attn(h, h, h, need_weights=False)[0]
        return self.head(self.layer(h).mean(1))


def attention(dtype):
    return Case(_build(TinyAttention, dtype), torch.randn(4, 6, 5, generator=torch.Generator().manual_seed(7)).to(dtype), _labels(4, 3))


def nb201(variant):
    def factory(dtype):
        from gradsign_fast.nas.nb201 import build_nb201

        arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
        torch.manual_seed(0)
        model = build_nb201(arch, variant=variant, C=4, N=1, num_classes=10).to(dtype)
        return Case(model, _images(6, 3, 16, 16, dtype), _labels(6, 10))

    return factory


CASES = {
    "conv_bn_net": conv_bn_net,
    "eval_bn_net": eval_bn_net,
    "sequence_linear": sequence_linear,
    "reused_modules": reused_modules,
    "tied_parameters": tied_parameters,
    "frozen_and_unused": frozen_and_unused,
    "weighted_losses": weighted_losses,
    "ignore_index_loss": ignore_index_loss,
    "mse_regression": mse_regression,
    "tuple_integer_inputs": tuple_integer_inputs,
    "inplace_activations": inplace_activations,
    "attention": attention,
    "nb201_zero_cost": nb201("zero_cost"),
    "nb201_benchmark": nb201("benchmark"),
}


def relative_error(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1.0)

