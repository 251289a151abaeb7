"""`gradsign-fast correlate`: Spearman and Kendall of a results file against an accuracy table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .arguments import PROG, key_value

HELP = "rank correlation (Spearman, Kendall) of scores with benchmark accuracy, and a scatter plot"
# Accuracy columns tried in order when --accuracy is not given (the GradSign authors' targets first).
DEFAULT_ACCURACY = ("valid_test_top1", "CIFAR10TestAccuracy200Epochs", "nats_test_accuracy",
                    "val_accuracy", "final_test_acc")  # NB301 (nas.darts), NDS (nas.nds) tables


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """RESULTS, --table, --accuracy, row and record filters, --plot, --json."""
    parser.add_argument("results", type=Path, help="a results file written by `sweep`")
    parser.add_argument("--table", type=Path, required=True, metavar="CSV",
                        help="accuracy table with an arch-string column (e.g. shared/data/nb201/*.csv)")
    parser.add_argument("--accuracy", default=None, metavar="COLUMN",
                        help="accuracy column, e.g. valid_test_top1 (naswot table), CIFAR10TestAccuracy200Epochs "
                             f"(NATS table); default: the first of {', '.join(DEFAULT_ACCURACY)} present; "
                             "its values must be finite")
    parser.add_argument("--where", type=key_value, action="append", default=[], metavar="COL=VALUE",
                        help="only table rows with COL == VALUE (repeatable), e.g. dataset=cifar10")
    parser.add_argument("--duplicates", choices=("raise", "mean"), default="raise",
                        help="an arch on several table rows with different accuracies: an error (default), or "
                             "the mean of its rows (e.g. NASLib's NB101 file, one row per training seed)")
    parser.add_argument("--select", type=key_value, action="append", default=[], metavar="FIELD=VALUE",
                        help="only records whose config FIELD == VALUE (when the file mixes experiments)")
    parser.add_argument("--plot", type=Path, default=None, metavar="PNG",
                        help="write a scatter plot: score (log x) vs accuracy (needs matplotlib; without it the "
                             "correlations are printed, then the missing module is reported, exit 1)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")


def pick_accuracy(table: Path, wanted: str | None) -> str:
    """The accuracy column: the one asked for, else the first of DEFAULT_ACCURACY the table has."""
    from ..nas.tables import table_columns

    if wanted is not None:
        return wanted
    columns = table_columns(table)
    for name in DEFAULT_ACCURACY:
        if name in columns:
            return name
    raise ValueError(f"say which accuracy column of {table} to use with --accuracy; columns: {columns}")


def run(args: argparse.Namespace) -> int:
    """Prints the correlations (or one JSON line), then writes the plot if asked."""
    from ..nas.correlate import correlate, load_scores, scatter_plot
    from ..nas.tables import load_table

    column = pick_accuracy(args.table, args.accuracy)
    scores = load_scores(args.results, select=dict(args.select))
    accs = load_table(args.table, column, where=dict(args.where), require="finite", duplicates=args.duplicates)
    result = correlate(scores, accs)
    if args.json:
        print(json.dumps({**result.to_dict(), "accuracy": column, "table": str(args.table),
                          "results": str(args.results)}, sort_keys=True), flush=True)
    else:
        _print_result(args, column, result)
    if args.plot is not None:  # after the numbers: a missing matplotlib loses nothing computed
        title = f"{args.results.name}: Spearman {result.spearman:.3f}, n={result.n}"
        scatter_plot(scores, accs, args.plot, title=title, ylabel=column)
        if not args.json:
            print(f"plot      {args.plot}")
    return 0


def _print_result(args: argparse.Namespace, column: str, result) -> None:
    print(f"# {PROG} correlate: {args.results} vs {args.table} [{column}]")
    print(f"archs     {result.n}  ({result.scores_only} scored archs not in the table, "
          f"{result.nonfinite} non-finite scores dropped)")
    print(f"spearman  {result.spearman:.4f}  (p={result.spearman_p:.2g})")
    print(f"kendall   {result.kendall:.4f}  (p={result.kendall_p:.2g})", flush=True)
