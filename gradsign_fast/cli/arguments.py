"""What the subcommands share: argument types, the option groups, and what the options become.

    int_range(1, 1024, "a number of threads")   argparse types: a usage error says what was expected
    add_config_arguments(parser)                 --space, the model, the batch, engine/backend/device, --dtype
    config_from_args(args) -> SweepConfig        the options as the config every scorer takes
    load_batch(config), torch_threads(n)         the config's batch (once per process); torch threads in a block

A bad combination of options found after parsing raises UsageError (exit 2, like argparse's errors).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
from pathlib import Path
from typing import Callable, Iterator

PROG = "gradsign-fast"
# Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 partial (a sweep with failed archs), 130 interrupted.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_BATCH = 64  # the paper's batch size for NAS-Bench-201
SEED_WANTED = "a seed 0 <= S < 2**64 (the range torch.manual_seed takes)"


class UsageError(Exception):
    """A bad combination of options found after parsing: reported like argparse's errors (exit 2)."""


# ---------------------------------------------------------------- argument types

def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _int_between(text: str, low: int, high: int | None, wanted: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {_short(text)!r}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {_short(str(value))}")
    return value


def int_range(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer low <= n <= high, else a usage error "expected WHAT from LOW to HIGH"."""
    wanted = f"{what} from {low} to {high}"

    def parse(text: str) -> int:
        return _int_between(text, low, high, wanted)

    parse.__name__ = what
    return parse


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _int_between(text, 1, None, "a positive integer")


def seed_int(text: str) -> int:
    """A seed: 0 <= S < 2**64, what torch.manual_seed takes (negative seeds are refused: torch would
    wrap them modulo 2**64 while random.Random uses their absolute value)."""
    return _int_between(text, 0, 2**64 - 1, SEED_WANTED)


def check_seed_span(args: argparse.Namespace) -> None:
    """--inits K re-initializes from seeds SEED .. SEED+K-1: the last must stay below 2**64 too."""
    seed, inits = getattr(args, "seed", None), getattr(args, "inits", 1)
    if seed is not None and seed + inits - 1 >= 2**64:
        raise UsageError(f"--seed {seed} with --inits {inits} would seed up to {seed + inits - 1}; "
                         f"seeds must stay below 2**64: use --seed {2**64 - inits} or lower")


def positive_float(text: str) -> float:
    """A finite number > 0 (no nan, no inf), e.g. a search budget."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {_short(text)!r}")
    return value


def json_object(text: str) -> dict:
    """A JSON object, e.g. Ray resources."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        value = exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f'expected a JSON object, e.g. \'{{"num_cpus": 1, "num_gpus": 0.25}}\', '
                                         f"got {_short(text)!r}")
    return value


def key_value(text: str) -> tuple[str, str]:
    """COLUMN=VALUE -> (COLUMN, VALUE)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected COLUMN=VALUE, got {text!r}")
    return key, value


def shard_spec(text: str) -> tuple[int, int]:
    """I/N with 0 <= I < N -> (I, N)."""
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, e.g. 0/2, got {text!r}") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, got {text!r}")
    return i, n


def device_type(text: str):
    """cpu, cuda or cuda:K as a torch.device (meta and other device types are refused)."""
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"expected a torch device: cpu, cuda or cuda:K, got {_short(text)!r}") \
            from None
    if device.type == "meta":
        raise argparse.ArgumentTypeError("expected a device that computes: meta tensors hold no values, so nothing "
                                         "can be scored on them; use cpu or cuda")
    if device.type not in ("cpu", "cuda") or (device.type == "cpu" and device.index not in (None, 0)):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:K, got {_short(text)!r}: "
                                         "use cpu or cuda (no other device is supported)")
    return device


def engine_names() -> tuple[str, ...]:
    """The --engine choices: every engine name score() accepts ("auto" first)."""
    from ..options import ENGINES

    return tuple(ENGINES)


def nb201_variants() -> tuple[str, ...]:
    """The --variant choices: every NAS-Bench-201 model variant build_nb201 takes."""
    from ..nas.nb201_ops import VARIANTS

    return VARIANTS


def backend_names() -> tuple[str, ...]:
    """The --backend choices: auto and every registered sign-reduction backend."""
    from ..ops import registry

    return ("auto", *registry.registered())


# ---------------------------------------------------------------- option groups

def add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every scoring subcommand shares: the batch, the engine/backend and the device."""
    group = parser.add_argument_group("scoring")
    group.add_argument("--batch-size", type=int_range(1, 65536, "a batch size"), default=DEFAULT_BATCH, metavar="N",
                       help=f"images in the batch (default {DEFAULT_BATCH})")
    group.add_argument("--data", type=Path, default=None, metavar="PATH",
                       help="real images: a CIFAR-10/100 python batch (data_batch_1, test_batch, train, test) "
                            "or a .npz with x and y; default: a seeded synthetic batch")
    group.add_argument("--data-offset", type=int_range(0, 10**9, "an image index"), default=0, metavar="I",
                       help="first image of --data to use (default 0)")
    group.add_argument("--num-classes", type=int_range(2, 100_000, "a number of classes"), default=None, metavar="K",
                       help="classifier outputs (default: 10 synthetic; for --data the smallest of 10, 100 "
                            "that covers the labels)")
    group.add_argument("--engine", choices=engine_names(), default="auto", help="per-sample gradient engine")
    group.add_argument("--backend", choices=backend_names(), default="auto", help="sign-reduction backend")
    group.add_argument("--device", type=device_type, default="cpu", help="cpu, cuda or cuda:K (default cpu)")
    group.add_argument("--reduction", choices=("sum", "mean"), default="sum",
                       help="nansum (default, the paper) or nanmean over weights")
    group.add_argument("--inits", type=int_range(1, 1000, "a number of initializations"), default=1, metavar="K",
                       help="average the score over K initializations (default 1)")
    group.add_argument("--threads", type=int_range(1, 1024, "a number of threads"), default=None, metavar="T",
                       help="torch CPU threads (default: torch's choice; on a busy machine 1 thread, or "
                            "OMP_WAIT_POLICY=PASSIVE in the environment, can be several times faster)")


def add_model_arguments(parser: argparse.ArgumentParser, *, seed_help: str | None = None,
                        per_space_size: bool = False) -> None:
    """--seed, --dataset and the model options (variant, channels, cells); per_space_size: --channels
    and --cells default to the --space's size (SweepConfig.SPACE_SIZES) instead of NB201's 16 and 5."""
    group = parser.add_argument_group("model")
    group.add_argument("--seed", type=seed_int, default=0,
                       help=seed_help or "seeds the synthetic batch and every model's init "
                                         "(0 <= SEED < 2**64, default 0)")
    group.add_argument("--variant", choices=nb201_variants(), default="zero_cost",
                       help="NB201 model: zero_cost, the model GradSign's authors scored (default); "
                            "benchmark: TinyNetwork; authors_all_ops: the authors' model with all 5 "
                            "candidate ops on every edge (for --reduction mean as their nanmean harness)")
    if per_space_size:
        channels_help = "NB201 channels of the first stage (default 16), NB101 of the stem (default 128)"
        cells_help = "NB201 cells per stage (default 5), NB101 cells per stack (default 3); defaults: the benchmarks'"
    else:
        channels_help = "NB201 channels of the first stage (default 16, the benchmark's)"
        cells_help = "NB201 cells per stage (default 5, the benchmark's)"
    group.add_argument("--channels", type=int_range(1, 1024, "a number of channels"),
                       default=None if per_space_size else 16, metavar="C", help=channels_help)
    group.add_argument("--cells", type=int_range(1, 100, "a number of cells"), default=None if per_space_size else 5,
                       metavar="N", help=cells_help)
    group.add_argument("--dataset", choices=("cifar10", "cifar100", "ImageNet16-120"), default="cifar10",
                       help="the NB201 dataset the head and batch are for: cifar10 (default; 10 classes, 32x32), "
                            "cifar100 (100 classes, 32x32), ImageNet16-120 (120 classes, 16x16). Without --data: "
                            "SYNTHETIC seeded pixels of that shape and normalization; with --data: the file's "
                            "images, box-downsampled to 16x16 for ImageNet16-120 (CIFAR images as a stand-in), "
                            "its labels (< classes). Recorded in the config and the batch description")
    group.add_argument("--image-size", type=int_range(8, 4096, "an image size"), default=None, metavar="S",
                       help="S x S inputs instead of the dataset's size: synthetic pixels drawn at S x S, a "
                            "--data file's images resized bilinearly (e.g. 64 for --space nds, whose ImageNet "
                            "networks need S >= 33). Recorded in the config and the batch description")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Everything a SweepConfig holds: --space, the model, the batch, engine/backend/device, --dtype."""
    parser.add_argument("--space", default="nb201", metavar="NAME",
                        help="search space: nb201 (default), nb101 (NAS-Bench-101 cells: "
                             "'<adjacency bits>|input|<op>|...|output') or a factory module:function taking an "
                             "arch string")
    add_model_arguments(parser, per_space_size=True)
    add_scoring_arguments(parser)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="model and batch dtype (default float32)")


# ---------------------------------------------------------------- what the options become

def config_from_args(args: argparse.Namespace):
    """The SweepConfig of the options (a parser without --space/--dtype means nb201 and float32)."""
    from ..nas.sweep_config import SweepConfig

    dataset = getattr(args, "dataset", "cifar10")
    try:
        return SweepConfig(space=getattr(args, "space", "nb201"), variant=args.variant, channels=args.channels,
                           cells=args.cells, num_classes=args.num_classes, batch_size=args.batch_size,
                           data=None if args.data is None else str(args.data), data_offset=args.data_offset,
                           seed=args.seed, n_inits=args.inits, device=str(args.device), engine=args.engine,
                           backend=args.backend, dtype=getattr(args, "dtype", "float32"), reduction=args.reduction,
                           dataset=dataset, image_size=getattr(args, "image_size", None))
    except ValueError as exc:
        if "contradicts dataset" in str(exc):
            raise UsageError(f"--num-classes {args.num_classes} contradicts --dataset {dataset}: leave "
                             "--num-classes out (it follows the dataset)") from None
        raise


def load_batch(config):
    """(x, y, num_classes, description) of a config's batch, loaded once per process (the scorers reuse
    it); a file that cannot give it names the options that asked for it."""
    from ..nas.scoring import load_config_batch

    try:
        return load_config_batch(config)
    except ValueError as exc:
        if config.data is None:
            raise
        raise ValueError(f"{exc} [set by --batch-size {config.batch_size} --data-offset {config.data_offset}]") \
            from None


def check_device(device) -> None:
    """A CUDA device torch cannot see is a runtime error before any work."""
    import torch

    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device} asked for, but torch sees no CUDA device here")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(f"--device {device} asked for, but torch sees {torch.cuda.device_count()} CUDA "
                           f"device(s) here: use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")


def format_score(value: float) -> str:
    """An integer score as an integer, any other with 6 significant digits."""
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
