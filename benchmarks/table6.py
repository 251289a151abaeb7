"""The paper's Table 6 on simulated time: `python benchmarks/table6.py SCORES [--runs 500] [--plot table6.png]`.

SCORES: a `gradsign-fast sweep` results file of NAS-Bench-201 CIFAR-10 GradSign scores (or
`precomputed:nb201/cifar10`, the package's table). The search
space is the archs it holds ("a scored sample of N archs" unless it holds all 15,625). Per method
(RS, REA, REINFORCE, HB and their G- variants) `--runs` seeded runs, each with the paper's 12,000 s
of simulated training (multifidelity.py: the 12-epoch CIFAR-10 test accuracy stands in for the
12-epoch cifar10-valid validation accuracy the authors' searches queried; Hyperband's top rung is
the 200-epoch cifar10-valid validation accuracy). The search runs on CIFAR-10; the table gives mean
+- std of the returned arch's 200-epoch test accuracy on CIFAR-10, CIFAR-100 and ImageNet16-120
(NATS-Bench, 3-seed means). Only table look-ups: no model is built or scored.

The plot: per method, the mean CIFAR-10 test accuracy of the arch a run would return if stopped at
simulated time t, with and without GradSign (runs that have trained nothing yet are left out).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from gradsign_fast.nas.correlate import load_scores
from gradsign_fast.nas.multifidelity import PAPER_BUDGET_SECONDS, load_nb201_fidelities
from gradsign_fast.nas.nb201_arch import NUM_ARCHS
from gradsign_fast.nas.search import METHODS, compare, mean_std
from gradsign_fast.nas.tables import load_table

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REPORTS = {"CIFAR-10": "CIFAR10TestAccuracy200Epochs", "CIFAR-100": "CIFAR100TestAccuracy200Epochs",
           "ImageNet16-120": "ImageNetTestAccuracy200Epochs"}
PAPER_NOTE = ("the paper's Table 6 numbers are not in the offline material (shared/docs, the authors' "
              "README): the paper column is left empty")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scores", help="results file of NB201 CIFAR-10 GradSign scores (JSONL), or "
                                       "precomputed:nb201/cifar10 (the table shipped with the package)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data directory (holds nb201/)")
    parser.add_argument("--runs", type=int, default=500, help="seeded runs per method (500, as the paper)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget-seconds", type=float, default=PAPER_BUDGET_SECONDS,
                        help="simulated training seconds per run (12000, the paper's)")
    parser.add_argument("--budget", type=float, default=None,
                        help="count trained archs instead of seconds (each training at any fidelity costs 1)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--plot", type=Path, default=None, help="write the accuracy-vs-time figure here (PNG)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {','.join(METHODS)}")

    start = time.perf_counter()
    nb201 = args.data / "nb201"
    reports = {name: load_table(nb201 / "nats_bench_tss_test_acc_200ep.csv", col, require="finite")
               for name, col in REPORTS.items()}
    scores = {a: s for a, s in score_map(args.scores).items() if a in reports["CIFAR-10"]}
    fids = load_nb201_fidelities(nb201 / "nb201_multifidelity.csv", archs=scores, unit_cost=args.budget is not None)
    budget = args.budget if args.budget is not None else args.budget_seconds
    space = "all" if len(scores) == NUM_ARCHS else "a scored sample of"
    unit = "trained archs" if args.budget is not None else "simulated training seconds"
    print(f"# Table 6 on {space} {len(scores):,} NAS-Bench-201 archs (GradSign scores: {args.scores}); "
          f"budget {budget:g} {unit} per run; {args.runs} runs per method", flush=True)

    done = [0]

    def progress() -> None:
        done[0] += 1
        if done[0] % max(args.runs, 1) == 0:
            print(f"#   {done[0] // args.runs}/{len(methods)} methods done, "
                  f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)

    results = compare(fids.low, budget, args.runs, methods=methods, scorer=scores.__getitem__,
                      first_seed=args.first_seed, progress=progress, fidelities=fids.ladder)
    print(table(results, reports, budget))
    best = {name: max(col[a] for a in scores) for name, col in reports.items()}
    print(f"\nBest in this space: " + " / ".join(f"{v:.2f}" for v in best.values()) + f"; {PAPER_NOTE}.")
    if args.plot is not None:
        plot(results, reports["CIFAR-10"], budget, unit, args.plot)
    print(f"# wall time {time.perf_counter() - start:.1f} s (python {sys.version.split()[0]})")
    return 0


def score_map(spec: str) -> dict[str, float]:
    """arch -> GradSign score from a results file, or from the package's table ("precomputed:SPACE/DATASET")."""
    if spec.startswith("precomputed:"):
        from gradsign_fast.nas.precomputed import parse_spec, precomputed

        return dict(precomputed(*parse_spec(spec)))
    return load_scores(spec)


def table(results, reports, budget: float) -> str:
    """Markdown: per method, trained / scored archs per run, mean +- std per dataset, the paper's column."""
    lines = ["| method | runs | trained / run | scored / run | " + " | ".join(reports) + " | paper (Table 6) |",
             "|---|---:|---:|---:|" + "---:|" * len(reports) + "---|"]
    for method, runs in results.items():
        cells = []
        for col in reports.values():
            mean, std = mean_std([col[r.arch] for r in runs])
            cells.append(f"{mean:.2f} ± {std:.2f}")
        trained = statistics.fmean(r.trained for r in runs)
        scored = statistics.fmean(r.scored for r in runs)
        lines.append(f"| {method} | {len(runs)} | {trained:.1f} | {scored:.1f} | " + " | ".join(cells) + " | n/a |")
    return "\n".join(lines)


def curves(runs, accuracy, budget: float, points: int = 200):
    """(t: (points,), mean accuracy of the incumbent at t: (points,), NaN before any run has one)."""
    import numpy as np

    t = np.linspace(0.0, budget, points)
    values = np.full((len(runs), points), np.nan)
    for k, run in enumerate(runs):
        if not run.trace:
            continue
        spent = np.array([s for s, _ in run.trace])
        acc = np.array([accuracy[a] for _, a in run.trace])
        idx = np.searchsorted(spent, t, side="right") - 1  # the last incumbent change at or before t
        values[k] = np.where(idx >= 0, acc[np.clip(idx, 0, None)], np.nan)
    with np.errstate(all="ignore"):
        counts = np.sum(~np.isnan(values), axis=0)
        mean = np.where(counts > 0, np.nansum(values, axis=0) / np.maximum(counts, 1), np.nan)
    return t, mean


def plot(results, accuracy, budget: float, unit: str, path: Path) -> None:
    """One panel per search method, its plain and G- curves (curves()); skipped if matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError:
        print("# matplotlib is not installed: no plot (pip install matplotlib)", file=sys.stderr)
        return
    bases = [m for m in dict.fromkeys(m.removeprefix("G-") for m in results)]
    fig, axes = plt.subplots(1, len(bases), figsize=(4 * len(bases), 3.4), sharey=True, squeeze=False)
    low, high = float("inf"), float("-inf")
    for ax, base in zip(axes[0], bases):
        for method, style in ((base, "--"), (f"G-{base}", "-")):
            if method in results:
                t, mean = curves(results[method], accuracy, budget)
                ax.plot(t, mean, style, label=method)
                late = mean[t >= 0.2 * budget]  # the y range: from a fifth of the budget on
                low, high = min(low, float(np.nanmin(late))), max(high, float(np.nanmax(late)))
        ax.set_title(base)
        ax.set_xlabel(unit)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    axes[0][0].set_ylabel("CIFAR-10 test acc. of the incumbent (%)")
    if low < high:
        axes[0][0].set_ylim(low - 0.3, high + 0.2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"# plot written to {path}")


if __name__ == "__main__":
    raise SystemExit(main())
