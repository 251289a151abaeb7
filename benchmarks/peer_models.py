"""The models of the peer benchmark (issue "One call per layer", item 4), as seeded factories.

    cnn       convs 3->64->128->256->256 (3x3, pad 1, ReLU; 2x2 max-pool after the 2nd and 3rd conv),
              global average pool, Linear(256, 10); no BatchNorm.        x: (n, 3, 32, 32)
    mlp       Flatten, 3072-1024-512-10 with ReLU; no BatchNorm.          x: (n, 3, 32, 32)
    nb201     the NAS-Bench-201 zero-cost net (C=16, N=5) of NB201_ARCH;
              BatchNorm with batch statistics.                            x: (n, 3, 32, 32)
    resnet18  torchvision resnet18(num_classes=10); BatchNorm.            x: (n, 3, 64, 64)
    nb101     the NAS-Bench-101 CIFAR-10 net (C=128, 3 stacks of 3 cells) of NB101_CELL: three 3x3
              convs and two 3x3 max-pools per cell, 30.5M weights; BatchNorm. x: (n, 3, 32, 32)
              Not in DEFAULT_MODELS (seconds per score on a CPU; the authors' loop takes minutes).

workload(name, batch) -> (model, x, y): float32 by default, weights seeded with torch.manual_seed(seed),
inputs x ~ N(0, 1) and labels y in [0, 10) from a torch.Generator seeded with `seed`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
NB101_CELL = ("0110001000001000011000000010000001000000010000000|input|conv3x3-bn-relu|conv3x3-bn-relu|"
              "conv3x3-bn-relu|maxpool3x3|maxpool3x3|output")
NUM_CLASSES = 10


class ModelUnavailable(RuntimeError):
    """The model's package (torchvision, gradsign_fast.nas) does not import here."""


def cnn() -> nn.Module:
    """(n, 3, 32, 32) -> (n, 10); 0.96M scored weights, no BatchNorm."""
    def conv(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]

    return nn.Sequential(
        *conv(3, 64), *conv(64, 128), nn.MaxPool2d(2), *conv(128, 256), nn.MaxPool2d(2), *conv(256, 256),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, NUM_CLASSES),
    )


def mlp() -> nn.Module:
    """(n, 3, 32, 32) -> flatten (n, 3072) -> (n, 10); 3.68M scored weights."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3072, 1024), nn.ReLU(), nn.Linear(1024, 512), nn.ReLU(),
                         nn.Linear(512, NUM_CLASSES))


def _build_nb201() -> Callable[..., nn.Module]:
    """gradsign_fast's NB201 builder, wherever it lives today (gradsign_fast.nas or .nas.nb201)."""
    try:
        from gradsign_fast.nas import build_nb201
    except ImportError:
        try:
            from gradsign_fast.nas.nb201 import build_nb201
        except ImportError as exc:
            raise ModelUnavailable(f"gradsign_fast.nas does not import: {exc}") from exc
    return build_nb201


def nb201() -> nn.Module:
    """(n, 3, 32, 32) -> (n, 10): the zero-cost NB201 net (C=16, N=5) of NB201_ARCH."""
    return _build_nb201()(NB201_ARCH)


def resnet18() -> nn.Module:
    """(n, 3, 64, 64) -> (n, 10): torchvision resnet18 (11.2M scored weights, BatchNorm)."""
    try:
        from torchvision.models import resnet18 as tv_resnet18
    except Exception as exc:  # noqa: BLE001 - a torchvision built for another torch fails in many ways
        raise ModelUnavailable(f"torchvision does not import: {type(exc).__name__}: {exc}") from exc
    return tv_resnet18(num_classes=NUM_CLASSES)


def nb101() -> nn.Module:
    """(n, 3, 32, 32) -> (n, 10): gradsign_fast's NAS-Bench-101 network of NB101_CELL."""
    try:
        from gradsign_fast.nas.nb101 import build_nb101
    except ImportError as exc:
        raise ModelUnavailable(f"gradsign_fast.nas.nb101 does not import: {exc}") from exc
    return build_nb101(NB101_CELL)


MODELS: dict[str, Callable[[], nn.Module]] = {"cnn": cnn, "mlp": mlp, "nb201": nb201, "resnet18": resnet18,
                                              "nb101": nb101}
DEFAULT_MODELS = ("cnn", "mlp", "nb201", "resnet18")  # what the peer table and bench_peers run unless told
INPUT_SIZE: dict[str, int] = {"cnn": 32, "mlp": 32, "nb201": 32, "resnet18": 64, "nb101": 32}


def workload(name: str, batch: int = 64, seed: int = 0,
             dtype: torch.dtype = torch.float32) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """(model in train mode, x: (batch, 3, S, S), y: (batch,) int64); raises ModelUnavailable."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    torch.manual_seed(seed)
    model = MODELS[name]().to(dtype).train()
    g = torch.Generator().manual_seed(seed)
    size = INPUT_SIZE[name]
    x = torch.randn(batch, 3, size, size, generator=g).to(dtype)
    y = torch.randint(0, NUM_CLASSES, (batch,), generator=g)
    return model, x, y


def scored_weight_count(model: nn.Module) -> int:
    """Number of scored weights m: the `.weight` elements of every nn.Conv2d / nn.Linear."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
