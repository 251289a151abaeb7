"""Engines side by side: median seconds per model and speed-up ratios of the batched engine.

    python benchmarks/engine_table.py [--models nb201,conv_heavy,transformer] [--repeats 5] [--csv out.csv]
                                      [--threads 2] [--clock wall|cpu]

Methods (all compute the same score; a correctness pass compares them before any timing):
    loop        the authors' per-sample loop (gradsign_fast.reference.score)
    func_recipe the plain torch.func recipe: replace_all_batch_norm_modules_, vmap(grad) over the batch,
                then sign().sum(0).abs().sum() (chunked over samples only to bound memory at 1 GB)
    functorch   our functorch engine (gradsign_fast.score(engine="functorch"))
    batched     our batched engine (gradsign_fast.score(engine="batched"))
Models: NAS-Bench-201 networks (zero-cost variant, C=16, N=5, batch 64, 32x32, three archs), a
conv-heavy model with 16.8M scored weights (batch 64), a small transformer whose attention uses
nn.Linear projections (batch 64, 32 tokens). Timings interleave the methods round by round and report
medians, since the machine may be shared; --clock cpu (process CPU time, best with --threads 1) is
steadier than wall time where other jobs compete for the cores. train_step_s, a plain batched forward
+ backward (loss.backward()), is the floor any batched engine pays.
"""

from __future__ import annotations

import argparse
import copy
import csv
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, grad, replace_all_batch_norm_modules_, vmap
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import gradsign_fast  # noqa: E402

NB201_ARCHS = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
)


def conv_heavy() -> nn.Module:
    """16.8M scored weights: seven 512x512 3x3 convs at 4x4 after two strided stem convs (32x32 input)."""
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                               nn.Conv2d(64, 512, 3, stride=4, padding=1), nn.BatchNorm2d(512), nn.ReLU()]
    for _ in range(7):
        layers += [nn.Conv2d(512, 512, 3, padding=1, bias=False), nn.BatchNorm2d(512), nn.ReLU(inplace=True)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10)]
    return nn.Sequential(*layers)


class Block(nn.Module):
    """Pre-norm transformer block; attention from nn.Linear q/k/v/out projections (batch first)."""

    def __init__(self, d: int, heads: int, ffn: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.out = (nn.Linear(d, d) for _ in range(4))
        self.ff1, self.ff2 = nn.Linear(d, ffn), nn.Linear(ffn, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (n, T, d)
        n, t, d = x.shape
        h = self.norm1(x)
        q, k, v = (f(h).view(n, t, self.heads, -1).transpose(1, 2) for f in (self.q, self.k, self.v))
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, t, d)
        x = x + self.out(a)
        return x + self.ff2(F.gelu(self.ff1(self.norm2(x))))


class SmallTransformer(nn.Module):
    def __init__(self, features: int = 16, d: int = 128, heads: int = 4, ffn: int = 256, depth: int = 2, classes: int = 10):
        super().__init__()
        self.embed = nn.Linear(features, d)
        self.blocks = nn.Sequential(*(Block(d, heads, ffn) for _ in range(depth)))
        self.head = nn.Linear(d, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (n, T, features) -> (n, classes)
        return self.head(self.blocks(self.embed(x)).mean(1))


def workloads(names: list[str]) -> dict[str, tuple[nn.Module, torch.Tensor, torch.Tensor]]:
    """name -> (model, inputs, targets), all seeded."""
    out = {}
    g = torch.Generator().manual_seed(0)
    images = torch.randn(64, 3, 32, 32, generator=g)
    labels = torch.randint(0, 10, (64,), generator=g)
    if "nb201" in names:
        from gradsign_fast.nas import build_nb201

        for k, arch in enumerate(NB201_ARCHS):
            torch.manual_seed(k)
            out[f"nb201_{k}"] = (build_nb201(arch), images, labels)
    if "conv_heavy" in names:
        torch.manual_seed(0)
        out["conv_heavy"] = (conv_heavy(), images, labels)
    if "transformer" in names:
        torch.manual_seed(0)
        out["transformer"] = (SmallTransformer(), torch.randn(64, 32, 16, generator=g), labels)
    return out


def func_recipe(model: nn.Module, x: torch.Tensor, y: torch.Tensor, budget_bytes: int = 1 << 30) -> float:
    """The plain torch.func recipe: vmap(grad) per-sample gradients, sign, sum over samples, |.|, sum."""
    model = copy.deepcopy(model)
    replace_all_batch_norm_modules_(model)
    params = {name: p.detach() for name, p in model.named_parameters()
              if name.endswith("weight") and isinstance(model.get_submodule(name.rsplit(".", 1)[0]), (nn.Conv2d, nn.Linear))}

    def loss_of_one(p, xi, yi):
        return F.cross_entropy(functional_call(model, p, (xi[None],)), yi[None])

    per_sample = vmap(grad(loss_of_one), in_dims=(None, 0, 0), randomness="different")
    chunk = max(1, min(len(x), budget_bytes // (4 * sum(p.numel() for p in params.values()))))
    counts = {name: 0 for name in params}
    for s in range(0, len(x), chunk):
        for name, g in per_sample(params, x[s : s + chunk], y[s : s + chunk]).items():
            counts[name] = counts[name] + g.detach().sign().sum(0)
    return float(sum(c.abs().sum() for c in counts.values()))


METHODS: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor], float]] = {
    "loop": lambda m, x, y: gradsign_fast.reference.score(m, x, y),
    "func_recipe": func_recipe,
    "functorch": lambda m, x, y: gradsign_fast.score(m, x, y, engine="functorch"),
    "batched": lambda m, x, y: gradsign_fast.score(m, x, y, engine="batched"),
}


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)


def check_agreement(name: str, scores: dict[str, float]) -> None:
    """Every method within 1e-3 relative of the loop (float32; dropout-free models)."""
    ref = scores.get("loop", scores.get("functorch"))
    for method, value in scores.items():
        if abs(value - ref) > 1e-3 * max(abs(ref), 1.0):
            raise SystemExit(f"{name}: {method} gives {value}, reference {ref}")


def run(names: list[str], methods: list[str], repeats: int, loop_repeats: int, clock=time.perf_counter) -> list[dict]:
    rows = []
    for name, (model, x, y) in workloads(names).items():
        scored = sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
        scores = {method: METHODS[method](model, x, y) for method in methods}  # also warms up
        check_agreement(name, scores)
        times: dict[str, list[float]] = {method: [] for method in [*methods, "train_step"]}
        for r in range(repeats):
            for method in [*methods, "train_step"]:
                if method == "loop" and r >= loop_repeats:
                    continue
                start = clock()
                (train_step if method == "train_step" else METHODS[method])(model, x, y)
                times[method].append(clock() - start)
        medians = {method: statistics.median(ts) for method, ts in times.items()}
        row = {"model": name, "scored_weights": scored, **{f"{m}_s": round(t, 4) for m, t in medians.items()}}
        for method in methods:
            if method != "batched" and "batched" in medians:
                row[f"{method}/batched"] = round(medians[method] / medians["batched"], 2)
        if "batched" in medians:
            row["batched/train_step"] = round(medians["batched"] / medians["train_step"], 2)
        rows.append(row)
        print(_format_row(row), flush=True)
    return rows


def _format_row(row: dict) -> str:
    return "  ".join(f"{k}={v}" for k, v in row.items())


def print_table(rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    widths = {k: max(len(k), *(len(str(row.get(k, ""))) for row in rows)) for k in keys}
    print("\n" + " | ".join(k.ljust(widths[k]) for k in keys))
    print("-+-".join("-" * widths[k] for k in keys))
    for row in rows:
        print(" | ".join(str(row.get(k, "")).ljust(widths[k]) for k in keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="nb201,conv_heavy,transformer")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loop-repeats", type=int, default=3)
    parser.add_argument("--csv", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.clock} clock, "
          f"backends {gradsign_fast.backends()}")
    rows = run(args.models.split(","), args.methods.split(","), args.repeats, args.loop_repeats, clock)
    print_table(rows)
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
