"""`gradsign-fast search`: G-RS / G-REA / G-REINFORCE / G-HB against RS / REA / REINFORCE / HB on an
accuracy table, many seeded runs; --multifidelity: budgets in simulated training seconds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .arguments import (PROG, UsageError, add_config_arguments, check_device, config_from_args, int_range,
                        key_value, positive_float, seed_int, torch_threads)

HELP = ("GradSign-assisted search (G-RS, G-REA, G-REINFORCE, G-HB) vs RS, REA, REINFORCE, Hyperband, "
        "a table standing in for training")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The table and its columns, where the scores come from, the search options, the config options."""
    from ..nas.search import METHODS

    parser.add_argument("--table", type=Path, required=True, metavar="CSV", help="the accuracy table (the 'training')")
    parser.add_argument("--accuracy", default=None, metavar="COLUMN",
                        help="what training returns during the search, e.g. valid_top1 (finite numbers); "
                             "required unless --multifidelity")
    parser.add_argument("--report", action="append", default=[], metavar="COLUMN",
                        help="columns reported for the returned arch (repeatable; default: --accuracy)")
    parser.add_argument("--where", type=key_value, action="append", default=[], metavar="COL=VALUE",
                        help="only table rows with COL == VALUE (repeatable), e.g. dataset=cifar10")
    scores = parser.add_mutually_exclusive_group()
    scores.add_argument("--scores", type=Path, default=None, metavar="RESULTS",
                        help="GradSign scores: a results file of `sweep` (misses are scored and appended to it), "
                             "or precomputed:SPACE/DATASET, the table shipped with the package (e.g. "
                             "precomputed:nb201/cifar10; no scoring at all)")
    scores.add_argument("--score-column", default=None, metavar="COLUMN",
                        help="guide G-RS/G-REA with a table column instead (e.g. another proxy, for comparison); "
                             "nan and +-inf rank last, as non-finite GradSign scores do")
    parser.add_argument("--scored-only", action="store_true",
                        help="search only the table archs that --scores already holds (no scoring at all)")
    parser.add_argument("--no-compute", action="store_true", help="fail on an arch --scores lacks, do not score it")
    algo = parser.add_argument_group("search")
    algo.add_argument("--methods", default=None, metavar="LIST",
                      help=f"comma-separated subset of {','.join(METHODS)} (default RS,G-RS,REA,G-REA; "
                           "all eight with --multifidelity; HB/G-HB need it)")
    algo.add_argument("--runs", type=int_range(1, 100_000, "a number of runs"), default=100, metavar="R",
                      help="seeded runs per method (100)")
    algo.add_argument("--first-seed", type=seed_int, default=0, metavar="S",
                      help="seeds S .. S+R-1 (0 <= S < 2**64, default 0)")
    algo.add_argument("--budget", type=positive_float, default=None, metavar="B",
                      help="training budget per run: archs trained, or --time-column units; > 0 (default 50)")
    algo.add_argument("--multifidelity", type=Path, default=None, metavar="CSV",
                      help="nb201_multifidelity.csv: search on simulated training time, the authors' way (12-epoch "
                           "accuracy and cost; Hyperband adds 200-epoch trainings); --table/--report give the report")
    algo.add_argument("--budget-seconds", type=positive_float, default=None, metavar="S",
                      help="with --multifidelity: simulated training seconds per run (default 12000, the paper's); "
                           "give --budget N instead to count trained archs")
    algo.add_argument("--eta", type=int_range(2, 100, "a Hyperband eta"), default=3, metavar="ETA",
                      help="Hyperband's halving rate (3)")
    algo.add_argument("--learning-rate", type=positive_float, default=0.5, metavar="LR",
                      help="REINFORCE's Adam learning rate (0.5, the NAS-Bench-201 recipe)")
    algo.add_argument("--time-column", default=None, metavar="COLUMN",
                      help="per-arch training cost column (finite numbers > 0)")
    algo.add_argument("--candidates", type=int_range(1, 10_000, "a number of candidates"), default=10,
                      metavar="M", help="archs scored per trained arch in G-RS/G-REA (default 10, the authors')")
    algo.add_argument("--population", type=int_range(1, 100_000, "a population size"), default=10, metavar="P",
                      help="REA population (10)")
    algo.add_argument("--sample-size", type=int_range(1, 100_000, "a tournament size"), default=3, metavar="S",
                      help="REA tournament size (3)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Runs every method --runs times on the table; prints the summary table."""
    from ..nas.progress import Progress
    from ..nas.search import Benchmark, check_budget, compare, summary_table
    from ..nas.tables import load_table

    methods = _methods(args)
    where = dict(args.where)
    reports = {c: load_table(args.table, c, where=where, require="finite") for c in (args.report or [args.accuracy])}
    accs = load_table(args.table, args.accuracy, where=where, require="finite") if args.accuracy else \
        next(iter(reports.values()))
    cost = load_table(args.table, args.time_column, where=where, require="positive") if args.time_column else None
    scorer, note = _scorer(args, accs)
    if args.scored_only:
        accs = {a: v for a, v in accs.items() if a in scorer.known}
        if len(accs) < 2:
            raise ValueError(f"only {len(accs)} table archs are scored in {args.scores}; run `sweep` first")
    budget, fidelities, what = _budget(args, accs)
    bench = Benchmark(accs, cost) if fidelities is None else fidelities.low
    accs = bench.accs
    check_budget(budget, bench)  # a budget worth too many trainings: say so before the header
    print(f"# {PROG} search: {len(accs)} archs of {args.table} [{what}]; budget {budget:g} "
          f"{_budget_unit(args)}; M={args.candidates}, "
          f"P={args.population}, S={args.sample_size}; {args.runs} runs per method; {note}", flush=True)
    bar = Progress(len(methods) * args.runs, "search", enabled=not args.quiet)
    with torch_threads(args.threads), bar:
        results = compare(bench, budget, args.runs, methods=methods, scorer=scorer, first_seed=args.first_seed,
                          progress=bar.update, m=args.candidates, population=args.population,
                          sample=args.sample_size, eta=args.eta, learning_rate=args.learning_rate,
                          fidelities=None if fidelities is None else fidelities.ladder)
    print(summary_table(results, reports))
    computed = getattr(scorer, "computed", 0)
    if computed:
        print(f"# {computed} archs were scored on demand and appended to {args.scores}", file=sys.stderr)
    return 0


def _budget(args: argparse.Namespace, accs: dict[str, float]):
    """(budget, multifidelity.Fidelities or None, what training returns) from the budget options."""
    if args.multifidelity is None:
        return (50.0 if args.budget is None else args.budget), None, args.accuracy
    from ..nas.multifidelity import HIGH_ACCURACY, LOW_ACCURACY, PAPER_BUDGET_SECONDS, load_nb201_fidelities

    fidelities = load_nb201_fidelities(args.multifidelity, archs=accs, unit_cost=args.budget is not None)
    budget = args.budget if args.budget is not None else (args.budget_seconds or PAPER_BUDGET_SECONDS)
    return budget, fidelities, f"{args.multifidelity.name}: {LOW_ACCURACY}, HB also {HIGH_ACCURACY}"


def _budget_unit(args: argparse.Namespace) -> str:
    if args.multifidelity is not None:
        return "trained archs (any fidelity)" if args.budget is not None else "simulated training seconds"
    return "units of " + args.time_column if args.time_column else "trained archs"


def _methods(args: argparse.Namespace) -> list[str]:
    """--methods as a list, checked against METHODS and against the scores the options give."""
    from ..nas.search import CLASSIC_METHODS, METHODS

    _check_budget_options(args)
    default = METHODS if args.multifidelity is not None else CLASSIC_METHODS
    methods = [m.strip() for m in (args.methods or ",".join(default)).split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UsageError(f"--methods: unknown {unknown}; choose from {','.join(METHODS)}")
    if args.multifidelity is None and any(m.endswith("HB") for m in methods):
        raise UsageError("HB/G-HB need two training lengths: give --multifidelity nb201_multifidelity.csv")
    guided = any(m.startswith("G-") for m in methods)
    if guided and args.scores is None and args.score_column is None:
        raise UsageError("G-RS/G-REA need scores: give --scores RESULTS (from `sweep`) or --score-column COLUMN")
    if args.scored_only and args.scores is None:
        raise UsageError("--scored-only needs --scores RESULTS")
    return methods


class _KnownScores:
    """A scorer over a fixed arch -> score mapping; `known` is the set of archs it can answer."""

    def __init__(self, scores: dict[str, float]):
        self.scores, self.known = scores, set(scores)

    def __call__(self, arch: str) -> float:
        return self.scores[arch]


def _scorer(args: argparse.Namespace, accs: dict[str, float]):
    """(scorer guiding G-RS/G-REA or None, a note saying where its scores come from)."""
    from ..nas.correlate import load_scores
    from ..nas.sweep import CachedScorer
    from ..nas.tables import load_table

    if args.score_column is not None:
        scores = load_table(args.table, args.score_column, where=dict(args.where))
        return _KnownScores(scores), f"guided by table column {args.score_column}"
    if args.scores is None:
        return None, "no scores (plain methods only)"
    if str(args.scores).startswith("precomputed:"):
        return _precomputed(args, accs)
    if args.scored_only:  # the file's own experiment: no need to repeat its options here
        known = {a: s for a, s in load_scores(args.scores).items() if a in accs}
        return _KnownScores(known), f"GradSign from {args.scores} ({len(known)} scored table archs)"
    if not args.no_compute:
        check_device(args.device)
    cached = CachedScorer(args.scores, config_from_args(args), compute=not args.no_compute)
    return cached, f"GradSign from {args.scores} ({len(cached)} records; misses scored on demand)"


def _precomputed(args: argparse.Namespace, accs: dict[str, float]):
    """--scores precomputed:SPACE/DATASET: the shipped table; every table arch must have a score
    unless --scored-only (a partial table, while its sweep runs, covers only part of the space)."""
    from ..nas.precomputed import parse_spec, precomputed

    table = precomputed(*parse_spec(str(args.scores)))
    known = {a: table[a] for a in accs if a in table}
    missing = len(accs) - len(known)
    if missing and not args.scored_only:
        raise ValueError(f"{table.describe()}: {missing} of the {len(accs)} archs of {args.table} have no "
                         f"precomputed score; add --scored-only to search the {len(known)} that do")
    return _KnownScores(known), f"GradSign from the {table.describe()}"


def _check_budget_options(args: argparse.Namespace) -> None:
    """UsageError for option combinations --multifidelity rules out (or needs)."""
    if args.multifidelity is None:
        if args.accuracy is None:
            raise UsageError("give --accuracy COLUMN (what training returns), or --multifidelity CSV")
        if args.budget_seconds is not None:
            raise UsageError("--budget-seconds needs --multifidelity CSV (or use --time-column with --budget)")
        return
    clashes = [name for name, value in (("--accuracy", args.accuracy), ("--time-column", args.time_column))
               if value is not None]
    if clashes:
        raise UsageError(f"--multifidelity sets what training returns and costs: drop {' and '.join(clashes)}")
    if not args.report:
        raise UsageError("--multifidelity needs --report COLUMN (what to report for the returned arch)")
    if args.budget is not None and args.budget_seconds is not None:
        raise UsageError("give --budget-seconds S (simulated time) or --budget N (trained archs), not both")
