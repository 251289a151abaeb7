"""`gradsign-fast rank` (the default): score a seeded sample of NAS-Bench-201 archs, print them ranked."""

from __future__ import annotations

import argparse
import sys
import time

from ..nas.nb201_arch import NUM_ARCHS
from .arguments import (PROG, add_model_arguments, add_scoring_arguments, check_device, config_from_args,
                        format_score, int_range, load_batch, torch_threads)

DEFAULT_ARCHS = 10  # ~25 s on 2 CPU cores at batch 64 with the functorch engine (see README)
HELP = "score a seeded sample of NAS-Bench-201 archs and print them ranked (the default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--archs, --quiet, the model and the scoring options."""
    parser.add_argument("--archs", type=int_range(1, NUM_ARCHS, "a number of archs"), default=DEFAULT_ARCHS,
                        metavar="K", help=f"number of architectures to sample (default {DEFAULT_ARCHS}; "
                                          f"NAS-Bench-201 has {NUM_ARCHS})")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_model_arguments(parser, seed_help="seeds the arch sample, the synthetic batch and every model's init "
                                          "(0 <= SEED < 2**64, default 0)")
    add_scoring_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Scores the sample, then prints the table: rank, score, seconds, arch (best first)."""
    check_device(args.device)
    start = time.perf_counter()
    with torch_threads(args.threads):
        records = _score_sample(args)
    ranked = sorted(records, key=lambda r: -r["score"])  # stable: ties keep sample order
    print(f"{'rank':>4}  {'score':>12}  {'seconds':>7}  arch")
    for rank, record in enumerate(ranked, start=1):
        print(f"{rank:>4}  {format_score(record['score']):>12}  {record['seconds']:>7.2f}  {record['arch']}")
    print(f"# {len(records)} archs scored in {sum(r['seconds'] for r in records):.1f} s; "
          f"job wall time {time.perf_counter() - start:.1f} s")
    return 0


def _score_sample(args: argparse.Namespace) -> list[dict]:
    """Prints the header, scores the sampled archs; returns their records in sample order."""
    from ..nas.nb201_arch import sample_arch_strings
    from ..nas.scoring import score_arch

    archs = sample_arch_strings(args.archs, args.seed)
    config = config_from_args(args)
    _, _, num_classes, batch_text = load_batch(config)
    _print_header(args, len(archs), num_classes, batch_text)
    records = []
    for i, arch in enumerate(archs, start=1):
        record = score_arch(arch, config)  # each model's init depends only on (seed, arch)
        records.append(record)
        if not args.quiet:
            print(f"[{i}/{len(archs)}] {format_score(record['score'])} in {record['seconds']:.2f} s  {arch}",
                  file=sys.stderr, flush=True)
    return records


def _print_header(args: argparse.Namespace, count: int, num_classes: int, batch_text: str) -> None:
    import torch

    import gradsign_fast

    print(f"# {PROG} rank: {count} NAS-Bench-201 archs sampled with seed {args.seed}, "
          f"variant {args.variant} (C={args.channels}, N={args.cells}, {num_classes} classes)")
    print(f"# batch: {batch_text}")
    print(f"# engine {args.engine}, backend {args.backend}, device {args.device}, reduction {args.reduction}, "
          f"inits {args.inits}, threads {torch.get_num_threads()}; "
          f"gradsign_fast {gradsign_fast.__version__}, torch {torch.__version__}", flush=True)
