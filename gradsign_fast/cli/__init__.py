"""gradsign-fast / python -m gradsign_fast: command-line entry points.

    gradsign-fast [options]              the main job: same as `gradsign-fast rank [options]`
    gradsign-fast rank [options]         score a seeded sample of NAS-Bench-201 archs, print them ranked
    gradsign-fast score ARCH|MOD:FN [A]  score one model
    gradsign-fast sweep RESULTS ...      score many archs into a resumable JSONL results file
    gradsign-fast correlate RESULTS ...  Spearman / Kendall against an accuracy table, scatter plot
    gradsign-fast search ...             G-RS / G-REA vs RS / REA, a table standing in for training
    gradsign-fast validate ...           the README's NAS-Bench-201 validation tables

Exit codes: 0 ok, 2 usage error, 1 runtime error (one line on stderr; set GRADSIGN_DEBUG=1 for the
traceback), 3 partial (a sweep with failed archs: rerun to retry them), 130 interrupted.
A subcommand is a module of this package with HELP, add_arguments(parser) and run(args) -> exit code,
listed in SUBCOMMANDS; the options they share are in arguments.py. The torchrun entry point of
gradsign_fast.distributed is cli/distributed.py (not a subcommand: torchrun starts it).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from ..options import debug
from . import correlate, rank, score, search, sweep, validate
from .arguments import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, PROG, UsageError,
                        check_seed_span)

Run = Callable[[argparse.Namespace], int]
# name -> (help, add_arguments, run)
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Run]] = {
    module.__name__.rsplit(".", 1)[1]: (module.HELP, module.add_arguments, module.run)
    for module in (rank, score, sweep, correlate, search, validate)
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser, with one child parser per entry of SUBCOMMANDS."""
    from .._version import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="GradSign zero-cost NAS score (Zhang & Jia, ICLR 2022), exact and fast. "
                    "Without a subcommand, runs `rank` with the options given.",
        epilog=f"examples:\n  {PROG} --archs 5 --seed 1\n  {PROG} rank --data cifar-10-batches-py/test_batch\n"
               f"  {PROG} sweep /tmp/nb201.jsonl --archs 1000 --data cifar10.npz\n"
               f"  {PROG} correlate /tmp/nb201.jsonl --table nb201.csv --accuracy valid_test_top1 --plot fig.png\n"
               f"  {PROG} COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, run) in SUBCOMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(child)
        child.set_defaults(run=run, parser=child)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line `argv` (default sys.argv[1:]); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "rank")  # the main job is the default subcommand
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help / --version (0) and usage errors (2)
        return EXIT_OK if exc.code is None else exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        check_seed_span(args)
        return args.run(args)
    except UsageError as exc:
        args.parser.print_usage(sys.stderr)
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug():
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {message} (GRADSIGN_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_ERROR


__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "PROG", "SUBCOMMANDS",
           "UsageError", "build_parser", "main"]
