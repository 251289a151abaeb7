"""`gradsign-fast rank` (the default): score a seeded sample of NAS-Bench-201 archs, print them ranked."""

from __future__ import annotations

import argparse
import sys
import time

from .cli_common import (PROG, add_model_arguments, add_scoring_arguments, check_device, format_score,
                         int_range, load_batch, torch_threads)
from .nas.nb201_arch import NUM_ARCHS

DEFAULT_ARCHS = 10  # ~25 s on 2 CPU cores at batch 64 with the functorch engine (see README)
HELP = "score a seeded sample of NAS-Bench-201 archs and print them ranked (the default)"


def add_rank_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archs", type=int_range(1, NUM_ARCHS, "a number of archs"), default=DEFAULT_ARCHS,
                        metavar="K", help=f"number of architectures to sample (default {DEFAULT_ARCHS}; "
                                          f"NAS-Bench-201 has {NUM_ARCHS})")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_model_arguments(parser, seed_help="seeds the arch sample, the synthetic batch and every model's init "
                                          "(0 <= SEED < 2**64, default 0)")
    add_scoring_arguments(parser)


def run_rank(args: argparse.Namespace) -> int:
    check_device(args.device)
    start = time.perf_counter()
    with torch_threads(args.threads):
        rows = _rank(args)
    ranked = sorted(rows, key=lambda r: -r[0])  # stable: ties keep sample order
    print(f"{'rank':>4}  {'score':>12}  {'seconds':>7}  arch")
    for rank, (value, seconds, arch) in enumerate(ranked, start=1):
        print(f"{rank:>4}  {format_score(value):>12}  {seconds:>7.2f}  {arch}")
    print(f"# {len(rows)} archs scored in {sum(r[1] for r in rows):.1f} s; "
          f"job wall time {time.perf_counter() - start:.1f} s")
    return 0


def _rank(args: argparse.Namespace) -> list[tuple[float, float, str]]:
    """Prints the header, scores the sampled archs; returns (score, seconds, arch) in sample order."""
    import torch

    import gradsign_fast
    from .nas import build_nb201, sample_arch_strings

    archs = sample_arch_strings(args.archs, args.seed)
    x, y, num_classes, batch_text = load_batch(args)
    x, y = x.to(args.device), y.to(args.device)
    print(f"# {PROG} rank: {len(archs)} NAS-Bench-201 archs sampled with seed {args.seed}, "
          f"variant {args.variant} (C={args.channels}, N={args.cells}, {num_classes} classes)")
    print(f"# batch: {batch_text}")
    print(f"# engine {args.engine}, backend {args.backend}, device {args.device}, reduction {args.reduction}, "
          f"inits {args.inits}, threads {torch.get_num_threads()}; "
          f"gradsign_fast {gradsign_fast.__version__}, torch {torch.__version__}", flush=True)
    rows = []
    for i, arch in enumerate(archs, start=1):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(args.seed)  # each model's init depends only on (seed, arch)
            model = build_nb201(arch, variant=args.variant, C=args.channels, N=args.cells, num_classes=num_classes)
        model = model.to(args.device).train()
        t0 = time.perf_counter()
        value = gradsign_fast.score(model, x, y, reduction=args.reduction, n_inits=args.inits, seed=args.seed,
                                    engine=args.engine, backend=args.backend)
        seconds = time.perf_counter() - t0
        rows.append((value, seconds, arch))
        if not args.quiet:
            print(f"[{i}/{len(archs)}] {format_score(value)} in {seconds:.2f} s  {arch}", file=sys.stderr, flush=True)
    return rows
