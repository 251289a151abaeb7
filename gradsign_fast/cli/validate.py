"""`gradsign-fast validate`: the README's NAS-Bench-201 validation tables from a results file."""

from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import key_value

HELP = "print the NAS-Bench-201 validation tables (GradSign vs accuracy, vs NASLib's proxies)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """RESULTS, --data-dir, --select."""
    parser.add_argument("results", type=Path, help="a results file of `sweep` over NB201 archs")
    parser.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                        help="the shared data directory holding nb201/ (default: $GRADSIGN_SHARED_DATA, "
                             "else ../shared/data beside the repository)")
    parser.add_argument("--select", type=key_value, action="append", default=[], metavar="FIELD=VALUE",
                        help="only records whose config FIELD == VALUE (when the file mixes experiments)")


def run(args: argparse.Namespace) -> int:
    """Prints both tables (nas.validation_tables.report)."""
    from ..nas.validation_tables import report

    print(report(args.results, args.data_dir, select=dict(args.select)))
    return 0
