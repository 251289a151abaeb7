"""torchrun entry point of gradsign_fast.distributed: score NAS-Bench-201 archs data-parallel.

    torchrun --standalone --nproc_per_node 2 -m gradsign_fast.cli.distributed --archs 2

Every rank builds the same seeded models and scores its shard of one batch; rank 0 prints one line per
arch: score, arch, world size and batch. Options are checked before any process group starts.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from ..distributed import score, shard
from .arguments import positive_int

COMMAND = "torchrun --standalone --nproc_per_node 2 -m gradsign_fast.cli.distributed --archs 2"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The entry point's options, validated before any process group starts (argparse errors, exit 2)."""
    from ..nas.nb201_arch import NUM_ARCHS

    parser = argparse.ArgumentParser(prog="python -m gradsign_fast.cli.distributed", description=main.__doc__)
    parser.add_argument("--archs", type=positive_int, default=2, help=f"architectures to score, 1..{NUM_ARCHS} (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the arch sample, the synthetic batch and every init")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="samples over all ranks, >= world size (default 64)")
    parser.add_argument("--data", default=None, help="CIFAR python batch or .npz with x, y (default: synthetic)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--channels", type=positive_int, default=16, help="NB201 channels of the first stage (default 16)")
    parser.add_argument("--cells", type=positive_int, default=5, help="NB201 cells per stage (default 5)")
    args = parser.parse_args(argv)
    if args.archs > NUM_ARCHS:
        parser.error(f"--archs {args.archs}: NAS-Bench-201 has {NUM_ARCHS} architectures")
    if args.data is not None and not Path(args.data).is_file():
        parser.error(f"--data {args.data}: no such file")
    if "WORLD_SIZE" not in os.environ:
        parser.error(f"WORLD_SIZE is not set: start it with torchrun, e.g. {COMMAND}")
    world = int(os.environ["WORLD_SIZE"])
    if args.batch_size < world:
        parser.error(f"--batch-size {args.batch_size} is smaller than the world size {world}: "
                     f"every rank needs a sample; use --batch-size {world} or more, or fewer ranks")
    return args


def main(argv: list[str] | None = None) -> int:
    """torchrun entry point: score NAS-Bench-201 architectures data-parallel; rank 0 prints the scores."""
    args = parse_args(argv)
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        _score_archs(args, _rank_device())
        dist.barrier()  # every rank done before any tears the group down (gloo aborts a peer otherwise)
    finally:
        dist.destroy_process_group()
    return 0


def _rank_device() -> torch.device:
    """This rank's GPU (LOCAL_RANK modulo the GPUs) when there are GPUs, else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", dist.get_rank())) % torch.cuda.device_count())
    torch.cuda.set_device(device)
    return device


def _score_archs(args: argparse.Namespace, device: torch.device) -> None:
    """Scores the seeded sample of archs on this rank's shard; rank 0 prints one line per arch."""
    from ..data import load_images, synthetic_batch
    from ..nas import build_nb201, sample_arch_strings

    x, y = load_images(args.data, args.batch_size) if args.data else synthetic_batch(args.batch_size, seed=args.seed)
    dtype = getattr(torch, args.dtype)
    for arch in sample_arch_strings(args.archs, seed=args.seed):
        torch.manual_seed(args.seed)
        model = build_nb201(arch, C=args.channels, N=args.cells).to(device, dtype)
        value = score(model, shard(x).to(device, dtype), shard(y).to(device))
        if dist.get_rank() == 0:
            print(f"{value:.1f}\t{arch}\t(world size {dist.get_world_size()}, batch {args.batch_size})", flush=True)


def exit_now(code: int) -> None:
    """Ends the process without the interpreter's teardown, once everything is flushed: under load, gloo's
    threads can abort a rank that has finished its work while static objects are destroyed
    ('terminate called without an active exception', torch 2.14)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
