"""What the subcommands share: argument types, the scoring and model options, the batch, threads.

Each subcommand lives in cli_<name>.py as add_<name>_arguments(parser) and run_<name>(args) -> int;
cli.py lists them in SUBCOMMANDS. Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 partial
(some archs failed; their error records are in the results file), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Iterator

PROG = "gradsign-fast"
DEFAULT_BATCH = 64  # the paper's batch size for NAS-Bench-201
EXIT_PARTIAL = 3


class UsageError(Exception):
    """A bad combination of options found after parsing: reported like argparse's errors (exit 2)."""


def _int_at_least(text: str, low: int, wanted: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer")


def nonnegative_int(text: str) -> int:
    return _int_at_least(text, 0, "an integer >= 0")


def device_type(text: str):
    import torch

    try:
        return torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"not a torch device: {text!r} (e.g. cpu, cuda, cuda:1)") from None


def engine_names() -> tuple[str, ...]:
    from . import dispatch

    return tuple(getattr(dispatch, "ENGINES", ("auto", "functorch", "loop")))


def backend_names() -> tuple[str, ...]:
    from .ops import registry

    return ("auto", *registry.registered())


def add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every scoring subcommand shares: the batch, the engine/backend and the device."""
    group = parser.add_argument_group("scoring")
    group.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH, metavar="N",
                       help=f"images in the batch (default {DEFAULT_BATCH})")
    group.add_argument("--data", type=Path, default=None, metavar="PATH",
                       help="real images: a CIFAR-10/100 python batch (data_batch_1, test_batch, train, test) "
                            "or a .npz with x and y; default: a seeded synthetic batch")
    group.add_argument("--data-offset", type=nonnegative_int, default=0, metavar="I",
                       help="first image of --data to use (default 0)")
    group.add_argument("--num-classes", type=positive_int, default=None, metavar="K",
                       help="classifier outputs (default: 10 synthetic; for --data the smallest of 10, 100 "
                            "that covers the labels)")
    group.add_argument("--engine", choices=engine_names(), default="auto", help="per-sample gradient engine")
    group.add_argument("--backend", choices=backend_names(), default="auto", help="sign-reduction backend")
    group.add_argument("--device", type=device_type, default="cpu", help="torch device (default cpu)")
    group.add_argument("--reduction", choices=("sum", "mean"), default="sum",
                       help="nansum (default, the paper) or nanmean over weights")
    group.add_argument("--inits", type=positive_int, default=1, metavar="K",
                       help="average the score over K initializations (default 1)")
    group.add_argument("--threads", type=positive_int, default=None, metavar="T",
                       help="torch CPU threads (default: torch's choice; on a busy machine 1 thread, or "
                            "OMP_WAIT_POLICY=PASSIVE in the environment, can be several times faster)")


def add_model_arguments(parser: argparse.ArgumentParser, *, seed_help: str | None = None) -> None:
    """--seed and the NAS-Bench-201 model options (variant, channels, cells)."""
    group = parser.add_argument_group("model")
    group.add_argument("--seed", type=int, default=0,
                       help=seed_help or "seeds the synthetic batch and every model's init (default 0)")
    group.add_argument("--variant", choices=("zero_cost", "benchmark"), default="zero_cost",
                       help="NB201 model: zero_cost, the model GradSign's authors scored (default); "
                            "benchmark: TinyNetwork")
    group.add_argument("--channels", type=positive_int, default=16, metavar="C",
                       help="NB201 channels of the first stage (default 16, the benchmark's)")
    group.add_argument("--cells", type=positive_int, default=5, metavar="N",
                       help="NB201 cells per stage (default 5, the benchmark's)")


def load_batch(args: argparse.Namespace):
    """(x, y, num_classes, description) for the options of add_scoring_arguments; x: (n, 3, 32, 32)."""
    from .data import resolve_batch

    try:
        return resolve_batch(args.data, args.batch_size, offset=args.data_offset, seed=args.seed,
                             num_classes=args.num_classes)
    except ValueError as exc:
        if args.data is None:
            raise
        raise ValueError(f"{exc} [set by --batch-size {args.batch_size} --data-offset {args.data_offset}]") from None


def check_device(device) -> None:
    import torch

    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device} asked for, but torch sees no CUDA device here")


def format_score(value: float) -> str:
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
