"""gradsign-fast / python -m gradsign_fast: command-line entry points.

    gradsign-fast [options]          the main job: same as `gradsign-fast rank [options]`
    gradsign-fast rank [options]     score a seeded sample of NAS-Bench-201 archs, print them ranked

Exit codes: 0 ok, 2 usage error (argparse), 1 runtime error (one line on stderr; set
GRADSIGN_DEBUG=1 for the traceback), 130 interrupted.
New subcommands: write add_<name>_arguments(parser) and run_<name>(args) -> int, add both to
SUBCOMMANDS.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

PROG = "gradsign-fast"
DEFAULT_ARCHS = 10  # ~25 s on 2 CPU cores at batch 64 with the functorch engine (see README)
DEFAULT_BATCH = 64  # the paper's batch size for NAS-Bench-201


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _device(text: str):
    import torch

    try:
        return torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"not a torch device: {text!r} (e.g. cpu, cuda, cuda:1)") from None


def _engine_names() -> tuple[str, ...]:
    from . import dispatch

    return tuple(getattr(dispatch, "ENGINES", ("auto", "functorch", "loop")))


def _backend_names() -> tuple[str, ...]:
    from .ops import registry

    return ("auto", *registry.registered())


def add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every scoring subcommand shares: the batch, the engine/backend and the device."""
    group = parser.add_argument_group("scoring")
    group.add_argument("--batch-size", type=_positive_int, default=DEFAULT_BATCH, metavar="N",
                       help=f"images in the batch (default {DEFAULT_BATCH})")
    group.add_argument("--data", type=Path, default=None, metavar="PATH",
                       help="real images: a CIFAR-10/100 python batch (data_batch_1, test_batch, train, test) "
                            "or a .npz with x and y; default: a seeded synthetic batch")
    group.add_argument("--data-offset", type=_nonnegative_int, default=0, metavar="I",
                       help="first image of --data to use (default 0)")
    group.add_argument("--num-classes", type=_positive_int, default=None, metavar="K",
                       help="classifier outputs (default: 10 synthetic; for --data the smallest of 10, 100 "
                            "that covers the labels)")
    group.add_argument("--engine", choices=_engine_names(), default="auto", help="per-sample gradient engine")
    group.add_argument("--backend", choices=_backend_names(), default="auto", help="sign-reduction backend")
    group.add_argument("--device", type=_device, default="cpu", help="torch device (default cpu)")
    group.add_argument("--reduction", choices=("sum", "mean"), default="sum",
                       help="nansum (default, the paper) or nanmean over weights")
    group.add_argument("--inits", type=_positive_int, default=1, metavar="K",
                       help="average the score over K initializations (default 1)")
    group.add_argument("--threads", type=_positive_int, default=None, metavar="T",
                       help="torch CPU threads (default: torch's choice; on a busy machine 1 thread, or "
                            "OMP_WAIT_POLICY=PASSIVE in the environment, can be several times faster)")


def add_rank_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archs", type=_positive_int, default=DEFAULT_ARCHS, metavar="K",
                        help=f"number of architectures to sample (default {DEFAULT_ARCHS})")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the arch sample, the synthetic batch and every model's init (default 0)")
    parser.add_argument("--variant", choices=("zero_cost", "benchmark"), default="zero_cost",
                        help="zero_cost: the model GradSign's authors scored (default); benchmark: TinyNetwork")
    parser.add_argument("--channels", type=_positive_int, default=16, metavar="C",
                        help="channels of the first stage (default 16, the benchmark's)")
    parser.add_argument("--cells", type=_positive_int, default=5, metavar="N",
                        help="cells per stage (default 5, the benchmark's)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_scoring_arguments(parser)


def load_batch(args: argparse.Namespace):
    """(x, y, description) for the options of add_scoring_arguments; x: (n, 3, 32, 32), y: (n,)."""
    from .data import load_images, synthetic_batch

    n = args.batch_size
    if args.data is None:
        num_classes = args.num_classes or 10
        x, y = synthetic_batch(n, seed=args.seed, num_classes=num_classes)
        return x, y, num_classes, f"{n} SYNTHETIC images (seeded random pixels, seed {args.seed}; not real data)"
    try:
        x, y = load_images(args.data, n, offset=args.data_offset)
    except ValueError as exc:
        raise ValueError(f"{exc} [set by --batch-size {n} --data-offset {args.data_offset}]") from None
    top = int(y.max()) + 1
    num_classes = args.num_classes or next((k for k in (10, 100) if top <= k), top)
    if top > num_classes:
        raise ValueError(f"labels of {args.data} reach {top - 1}, but --num-classes is {num_classes}")
    return x, y, num_classes, f"{n} real images from {args.data} (offset {args.data_offset}, labels < {num_classes})"


def _format_score(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.6g}"


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch.set_num_threads(n) inside the block (nothing when n is None), restored after it."""
    import torch

    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_rank(args: argparse.Namespace) -> int:
    import torch

    if args.device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {args.device} asked for, but torch sees no CUDA device here")
    start = time.perf_counter()
    with torch_threads(args.threads):
        rows = _rank(args)
    ranked = sorted(rows, key=lambda r: -r[0])  # stable: ties keep sample order
    print(f"{'rank':>4}  {'score':>12}  {'seconds':>7}  arch")
    for rank, (value, seconds, arch) in enumerate(ranked, start=1):
        print(f"{rank:>4}  {_format_score(value):>12}  {seconds:>7.2f}  {arch}")
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
            print(f"[{i}/{len(archs)}] {_format_score(value)} in {seconds:.2f} s  {arch}", file=sys.stderr, flush=True)
    return rows


# name -> (help, add_arguments, run)
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "rank": ("score a seeded sample of NAS-Bench-201 archs and print them ranked (the default)",
             add_rank_arguments, run_rank),
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="GradSign zero-cost NAS score (Zhang & Jia, ICLR 2022), exact and fast. "
                    "Without a subcommand, runs `rank` with the options given.",
        epilog=f"examples:\n  {PROG} --archs 5 --seed 1\n  {PROG} rank --data cifar-10-batches-py/test_batch\n"
               f"  {PROG} rank --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, run) in SUBCOMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(child)
        child.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line `argv` (default sys.argv[1:]); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "rank")  # the main job is the default subcommand
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help / --version (0) and usage errors (2)
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("GRADSIGN_DEBUG"):
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {message} (GRADSIGN_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
