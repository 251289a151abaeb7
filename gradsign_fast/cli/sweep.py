"""`gradsign-fast sweep`: score many architectures into a resumable JSONL results file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .arguments import (EXIT_PARTIAL, PROG, UsageError, add_config_arguments, check_device, config_from_args,
                        int_range, json_object, key_value, positive_float, seed_int, shard_spec, torch_threads)

HELP = "score many architectures into a resumable results file (JSONL; rerun to resume)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """RESULTS, where the archs come from, the Ray fan-out, and the config options."""
    parser.add_argument("results", type=Path, help="the results file (JSONL, appended to; created if missing)")
    _add_arch_sources(parser)
    fan = parser.add_argument_group("fan-out")
    fan.add_argument("--jobs", type=int_range(1, 1024, "a number of worker processes"), default=None, metavar="N",
                     help="N local worker processes, one torch thread each (--threads T: T each), splitting the "
                          "archs with claim records in RESULTS; other --jobs sweeps on the same file share the work")
    fan.add_argument("--claim-stale", type=positive_float, default=None, metavar="SECONDS",
                     help="with --jobs: a claim older than this is free even if its owner seems alive (default "
                          "3600; a claim of a dead process on this host is free at once)")
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


def _add_arch_sources(parser: argparse.ArgumentParser) -> None:
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
    which.add_argument("--shard", type=shard_spec, default=None, metavar="I/N",
                       help="only archs I, I+N, I+2N, ... of the list: run N processes on one results file")
    which.add_argument("--reverse", action="store_true",
                       help="walk the list backward: with a second, forward sweep on the same file, each "
                            "skips what the other finished (two processes, no split to choose)")


def read_arch_file(path: Path) -> list[str]:
    """The arch strings of a file: one per line, '#' comments and blank lines skipped."""
    if not path.is_file():
        raise FileNotFoundError(f"no arch file at {path}")
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _source_archs(args: argparse.Namespace, space) -> list[str]:
    """The archs of the one source the options name (before --archs sampling from it)."""
    from ..nas.tables import table_archs

    sources = [s for s, on in (("--all", args.all), ("--from-table", args.from_table is not None),
                               ("--arch-file", args.arch_file is not None), ("--arch", bool(args.arch))) if on]
    if len(sources) > 1:
        raise UsageError(f"choose one source of archs, got {' and '.join(sources)}")
    if args.where and args.from_table is None:
        raise UsageError("--where filters --from-table rows; give --from-table CSV")
    if args.from_table is not None:
        return table_archs(args.from_table, where=args.where)
    if args.arch_file is not None:
        return read_arch_file(args.arch_file)
    if args.arch:
        return list(args.arch)
    if args.all:
        if space.archs is None:
            raise ValueError(f"space {space.name!r} cannot list its archs (no all_archs()); use --arch-file")
        return list(space.archs())
    if args.archs is not None:
        return space.sample_many(args.archs, _sample_seed(args))
    raise UsageError("which archs? give --archs K, --all, --from-table CSV, --arch-file FILE or --arch ARCH")


def _sample_seed(args: argparse.Namespace) -> int:
    return args.seed if args.sample_seed is None else args.sample_seed


def select_archs(args: argparse.Namespace, space) -> list[str]:
    """The arch list the options ask for (see add_arguments), validated by the space."""
    from ..nas.nb201_arch import sample_arch_strings

    archs = _source_archs(args, space)
    if args.archs is not None and (args.from_table is not None or args.arch_file is not None or args.arch):
        if args.archs > len(archs):
            raise ValueError(f"--archs {args.archs} but the source holds only {len(archs)} archs")
        archs = sample_arch_strings(args.archs, _sample_seed(args), population=archs)
    for arch in archs:
        space.check(arch)
    if args.shard is not None:
        i, n = args.shard
        archs = archs[i::n]
    return archs[::-1] if args.reverse else archs


def run(args: argparse.Namespace) -> int:
    """Sweeps (in process, or on Ray); exit 3 when some archs failed (their error records are written)."""
    from ..nas.spaces import resolve_space
    from ..nas.sweep import sweep

    check_device(args.device)
    if args.ray_address is not None and not args.ray:
        raise UsageError("--ray-address goes with --ray")
    if args.workers > 1 and not args.ray:
        raise UsageError("--workers N runs Ray workers: add --ray (or N local processes with --jobs N)")
    if args.jobs is not None and args.ray:
        raise UsageError("--jobs N runs local worker processes, --ray runs Ray workers: choose one")
    if args.claim_stale is not None and args.jobs is None:
        raise UsageError("--claim-stale goes with --jobs")
    config = config_from_args(args)
    space = resolve_space(config.space, variant=config.variant, channels=config.channels, cells=config.cells)
    archs = select_archs(args, space)
    print(f"# {PROG} sweep: {len(archs)} archs of space {config.space} -> {args.results}", flush=True)
    with torch_threads(args.threads):
        if args.ray:
            summary = _ray(archs, args, config)
        elif args.jobs is not None:
            summary = _jobs(archs, args, config)
        else:
            summary = sweep(archs, args.results, config, progress=not args.quiet, verbose=args.verbose)
    print(f"# {summary.get('skipped', 0)} already done, {summary.get('done', 0)} scored, "
          f"{summary.get('failed', 0)} failed, in {summary.get('seconds', 0.0):.1f} s"
          + (f" ({summary['jobs']} jobs, {summary['left']} left)" if "jobs" in summary else ""))
    if summary.get("failed"):
        print(f"{PROG}: {summary['failed']} archs failed: their error records are in {args.results}; "
              "rerun the same command to retry them", file=sys.stderr)
        return EXIT_PARTIAL
    if summary.get("left"):
        print(f"{PROG}: {summary['left']} archs are not finished ({summary.get('lost_workers', 0)} workers lost; "
              "others held by live claims elsewhere): rerun the same command to finish them", file=sys.stderr)
        return EXIT_PARTIAL
    return 0


def _jobs(archs: list[str], args: argparse.Namespace, config) -> dict:
    """nas.jobs.local_sweep with the options: --jobs workers of --threads (default 1) torch threads each."""
    from ..nas.claims import DEFAULT_STALE_AFTER
    from ..nas.jobs import local_sweep

    stale = DEFAULT_STALE_AFTER if args.claim_stale is None else args.claim_stale
    summary = local_sweep(archs, args.results, config, jobs=args.jobs, threads=args.threads or 1,
                          stale_after=stale, progress=not args.quiet)
    if summary.get("lost_workers"):
        print(f"{PROG}: {summary['lost_workers']} of {args.jobs} workers exited abnormally; the others took over "
              "what they had claimed", file=sys.stderr)
    return summary


def _ray(archs: list[str], args: argparse.Namespace, config) -> dict:
    """nas.ray_sweep.ray_sweep with the options; a missing Ray is one clear runtime error."""
    from ..nas.ray_sweep import ray_sweep

    try:
        return ray_sweep(archs, args.results, config, workers=args.workers,
                         resources_per_worker=args.resources_per_worker, max_retries=args.max_retries,
                         address=args.ray_address, progress=not args.quiet)
    except ModuleNotFoundError as exc:
        if exc.name == "ray":
            raise RuntimeError("--ray needs Ray, which is not installed: pip install 'ray[default]'") from None
        raise
