"""`gradsign-fast sweep`: score many architectures into a resumable JSONL results file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_common import (EXIT_PARTIAL, PROG, UsageError, add_model_arguments, add_scoring_arguments, check_device,
                         int_range, json_object, seed_int, torch_threads)

HELP = "score many architectures into a resumable results file (JSONL; rerun to resume)"


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected COLUMN=VALUE, got {text!r}")
    return key, value


def shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, e.g. 0/2, got {text!r}") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, got {text!r}")
    return i, n


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Everything a SweepConfig holds: --space, the model, the batch, engine/backend/device, --dtype."""
    parser.add_argument("--space", default="nb201", metavar="NAME",
                        help="search space: nb201 (default) or a factory module:function taking an arch string")
    add_model_arguments(parser)
    add_scoring_arguments(parser)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="model and batch dtype (default float32)")


def config_from_args(args: argparse.Namespace):
    from .nas.sweep import SweepConfig

    return SweepConfig(space=args.space, variant=args.variant, channels=args.channels, cells=args.cells,
                       num_classes=args.num_classes, batch_size=args.batch_size,
                       data=None if args.data is None else str(args.data), data_offset=args.data_offset,
                       seed=args.seed, n_inits=args.inits, device=str(args.device), engine=args.engine,
                       backend=args.backend, dtype=args.dtype, reduction=args.reduction)


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="the results file (JSONL, appended to; created if missing)")
    which = parser.add_argument_group("which architectures (one source; --archs K samples from it)")
    which.add_argument("--archs", type=int_range(1, 10**7, "a number of archs"), default=None, metavar="K",
                       help="a seeded sample of K archs (from --from-table/--arch-file if given, else the space)")
    which.add_argument("--all", action="store_true", help="every arch of the space (NB201: 15,625)")
    which.add_argument("--from-table", type=Path, default=None, metavar="CSV",
                       help="the archs of an accuracy table, in row order (e.g. shared/data/nb201/*.csv)")
    which.add_argument("--where", type=key_value, action="append", default=[], metavar="COL=VALUE",
                       help="only the table rows with COL == VALUE (repeatable), e.g. dataset=cifar10")
    which.add_argument("--arch-file", type=Path, default=None, metavar="FILE",
                       help="one arch string per line ('#' comments and blank lines skipped)")
    which.add_argument("--arch", action="append", default=[], metavar="ARCH", help="one arch (repeatable)")
    which.add_argument("--sample-seed", type=seed_int, default=None, metavar="S",
                       help="seed of the --archs sample (default: --seed)")
    which.add_argument("--shard", type=shard, default=None, metavar="I/N",
                       help="only archs I, I+N, I+2N, ... of the list: run N processes on one results file")
    which.add_argument("--reverse", action="store_true",
                       help="walk the list backward: with a second, forward sweep on the same file, each "
                            "skips what the other finished (two processes, no split to choose)")
    fan = parser.add_argument_group("fan-out")
    fan.add_argument("--ray", action="store_true", help="score on a Ray cluster (needs `pip install ray`)")
    fan.add_argument("--workers", type=int_range(1, 10_000, "a number of workers"), default=1, metavar="N",
                     help="Ray workers (with --ray)")
    fan.add_argument("--ray-address", default=None, metavar="ADDR",
                     help="join a running Ray cluster ('auto', 'ray://host:10001'); default: a local one")
    fan.add_argument("--resources-per-worker", type=json_object, default=None, metavar="JSON",
                     help='Ray resources of one worker, e.g. \'{"num_cpus": 1, "num_gpus": 0.25}\'')
    fan.add_argument("--max-retries", type=int_range(0, 100, "a number of retries"), default=3, metavar="R",
                     help="Ray retries of an arch whose worker died (default 3)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="per arch on stderr: the engine that scored it and why others could not")
    add_config_arguments(parser)


def read_arch_file(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"no arch file at {path}")
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def table_archs(path: Path, where: list[tuple[str, str]]) -> list[str]:
    """Arch strings of a table's rows (filtered by --where), in row order, each once."""
    import csv

    from .nas.nb201_arch import ARCH_COLUMNS

    if not path.is_file():
        raise FileNotFoundError(f"no arch table at {path}")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        column = next((c for c in ARCH_COLUMNS if c in fields), None)
        if column is None:
            raise ValueError(f"{path} has no arch-string column (looked for {ARCH_COLUMNS}); columns: {fields}")
        missing = [k for k, _ in where if k not in fields]
        if missing:
            raise ValueError(f"--where column(s) {missing} not in {path}; columns: {fields}")
        rows = [r[column] for r in reader if all(r[k] == v for k, v in where)]
    if not rows:
        raise ValueError(f"no rows of {path} match --where {where}")
    return list(dict.fromkeys(rows))


def select_archs(args: argparse.Namespace, space) -> list[str]:
    """The arch list the options ask for (see add_sweep_arguments), validated by the space."""
    from .nas.nb201_arch import sample_arch_strings

    sources = [s for s, on in (("--all", args.all), ("--from-table", args.from_table is not None),
                               ("--arch-file", args.arch_file is not None), ("--arch", bool(args.arch))) if on]
    if len(sources) > 1:
        raise UsageError(f"choose one source of archs, got {' and '.join(sources)}")
    if args.where and args.from_table is None:
        raise UsageError("--where filters --from-table rows; give --from-table CSV")
    seed = args.seed if args.sample_seed is None else args.sample_seed
    if args.from_table is not None:
        archs = table_archs(args.from_table, args.where)
    elif args.arch_file is not None:
        archs = read_arch_file(args.arch_file)
    elif args.arch:
        archs = list(args.arch)
    elif args.all:
        if space.archs is None:
            raise ValueError(f"space {space.name!r} cannot list its archs (no all_archs()); use --arch-file")
        archs = list(space.archs())
    elif args.archs is not None:
        archs = space.sample_many(args.archs, seed)
    else:
        raise UsageError("which archs? give --archs K, --all, --from-table CSV, --arch-file FILE or --arch ARCH")
    if args.archs is not None and (args.from_table is not None or args.arch_file is not None or args.arch):
        if args.archs > len(archs):
            raise ValueError(f"--archs {args.archs} but the source holds only {len(archs)} archs")
        archs = sample_arch_strings(args.archs, seed, population=archs)
    for arch in archs:
        space.check(arch)
    if args.shard is not None:
        i, n = args.shard
        archs = archs[i::n]
    return archs[::-1] if args.reverse else archs


def run_sweep(args: argparse.Namespace) -> int:
    from .nas.spaces import resolve_space
    from .nas.sweep import sweep

    check_device(args.device)
    if args.ray_address is not None and not args.ray:
        raise UsageError("--ray-address goes with --ray")
    if args.workers > 1 and not args.ray:
        raise UsageError("--workers N runs Ray workers: add --ray (or run N local processes with --shard I/N)")
    config = config_from_args(args)
    space = resolve_space(config.space, variant=config.variant, channels=config.channels, cells=config.cells)
    archs = select_archs(args, space)
    print(f"# {PROG} sweep: {len(archs)} archs of space {config.space} -> {args.results}", flush=True)
    with torch_threads(args.threads):
        if args.ray:
            summary = _ray(archs, args, config)
        else:
            summary = sweep(archs, args.results, config, progress=not args.quiet, verbose=args.verbose)
    print(f"# {summary.get('skipped', 0)} already done, {summary.get('done', 0)} scored, "
          f"{summary.get('failed', 0)} failed, in {summary.get('seconds', 0.0):.1f} s")
    if summary.get("failed"):
        print(f"{PROG}: {summary['failed']} archs failed: their error records are in {args.results}; "
              "rerun the same command to retry them", file=sys.stderr)
        return EXIT_PARTIAL
    return 0


def _ray(archs: list[str], args: argparse.Namespace, config) -> dict:
    """Calls nas.ray_sweep.ray_sweep lazily; says clearly when Ray or the integration is missing."""
    try:
        from .nas.ray_sweep import ray_sweep
    except ModuleNotFoundError as exc:
        if exc.name == "ray":
            raise RuntimeError("--ray needs Ray, which is not installed: pip install 'ray[default]'") from None
        if exc.name and exc.name.endswith("ray_sweep"):
            raise RuntimeError("this gradsign_fast has no Ray fan-out (gradsign_fast/nas/ray_sweep.py is "
                               "missing); run without --ray, or use --shard I/N in N processes") from None
        raise
    import inspect

    extra = {"address": args.ray_address, "progress": not args.quiet}
    accepted = inspect.signature(ray_sweep).parameters
    missing = [k for k, v in extra.items() if k not in accepted and v not in (None, True)]
    if missing:
        raise RuntimeError(f"this ray_sweep does not take {missing}; drop --ray-address")
    try:
        return ray_sweep(archs, args.results, config, workers=args.workers,
                         resources_per_worker=args.resources_per_worker, max_retries=args.max_retries,
                         **{k: v for k, v in extra.items() if k in accepted})
    except ModuleNotFoundError as exc:
        if exc.name == "ray":
            raise RuntimeError("--ray needs Ray, which is not installed: pip install 'ray[default]'") from None
        raise
