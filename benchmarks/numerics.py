"""How far float32 scores are from float64, on the authors' own NAS-Bench-201 model and on a few other nets.

For each net (one seed, one batch) it prints, against the authors' float64 loop:
    flips f32 loop      fraction of the n x m per-sample gradient entries whose sign differs in the
                        authors' float32 loop (the matrix the paper's code stacks)
    rel f32 loop        |score(float32 loop) - score(float64 loop)| / score(float64 loop)
    rel f32 batched     the same for gradsign_fast.score in float32 (engine auto)
    rel f64 batched     the same for gradsign_fast.score in float64 (0 unless a gradient is
                        mathematically zero and comes out +-1e-17, see GRADSIGN.md)

    python benchmarks/numerics.py --archs 5 --batch 64          (README: Numerics)
"""

from __future__ import annotations

import argparse
import copy
import numpy as np
import torch

import gradsign_fast
from gradsign_fast import reference


def _nets(archs: int, seed: int):
    from gradsign_fast.nas import build_nb201, sample_arch_strings

    for arch in sample_arch_strings(archs, seed):
        torch.manual_seed(seed)
        yield arch, build_nb201(arch)


def _row(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    m64 = copy.deepcopy(model).double()
    g64 = reference.per_sample_gradients(m64, x.double(), y)
    g32 = reference.per_sample_gradients(model, x, y)
    s64 = reference.score_of_matrix(g64)
    flips = float(np.mean(np.sign(g32) != np.sign(g64)))
    rel = lambda s: abs(s - s64) / s64  # noqa: E731
    return {"flips f32 loop": flips, "rel f32 loop": rel(reference.score_of_matrix(g32)),
            "rel f32 batched": rel(gradsign_fast.score(model, x, y)),
            "rel f64 batched": rel(gradsign_fast.score(m64, x.double(), y))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archs", type=int, default=5, help="NB201 archs of the seeded sample (default 5)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="an image file (.npz / CIFAR batch); default: synthetic")
    args = parser.parse_args()
    from gradsign_fast.data import resolve_batch

    x, y, _, what = resolve_batch(args.data, args.batch, seed=args.seed)
    print(f"# batch: {what}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    columns = ["flips f32 loop", "rel f32 loop", "rel f32 batched", "rel f64 batched"]
    print("| NB201 arch (zero-cost model, C=16, N=5) | " + " | ".join(columns) + " |\n|---|" + "---:|" * len(columns))
    worst = dict.fromkeys(columns, 0.0)
    for name, model in _nets(args.archs, args.seed):
        row = _row(model, x, y)
        worst = {c: max(worst[c], row[c]) for c in columns}
        print(f"| {name} | " + " | ".join(f"{row[c]:.2e}" for c in columns) + " |", flush=True)
    print("| **largest** | " + " | ".join(f"{worst[c]:.2e}" for c in columns) + " |")


if __name__ == "__main__":
    main()
