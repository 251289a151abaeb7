"""Is the ranking real? Rank correlation of scores (a results file) with accuracy (a benchmark table).

    scores = load_scores("/tmp/nb201.jsonl")                     # arch -> GradSign score
    accs = load_table(csv, "valid_test_top1")                    # arch -> accuracy (nas.tables)
    result = correlate(scores, accs)                             # Spearman and Kendall (scipy)
    scatter_plot(scores, accs, "fig2.png")                       # score (log x) vs accuracy

Rows are joined by arch string. A table that lists an arch more than once with different values
(the NASLib subset has one row per dataset) needs a row filter: where={"dataset": "cifar10"}.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from .results import ResultsFile
from .sweep_config import RUNTIME_FIELDS


def _experiment(config: Mapping[str, Any]) -> tuple:
    """What identifies a record's experiment: its config without the RUNTIME_FIELDS, hashable."""
    return tuple(sorted((k, json_safe(v)) for k, v in config.items() if k not in RUNTIME_FIELDS))


def json_safe(value: Any) -> Any:
    """A JSON scalar as it is; anything else as its str (so configs compare and hash)."""
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def load_scores(results_path: str | Path, *, select: Mapping[str, Any] | None = None) -> dict[str, float]:
    """arch -> score of the finished records of a results file (error records are skipped).

    A file holding several experiments (configs differing in more than device/engine/backend) is
    ambiguous: pick one with select={field: value} matched against each record's config.
    """
    path = Path(results_path)
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {path} (write one with `gradsign-fast sweep`)")
    select = dict(select or {})
    records = [r for r in ResultsFile(path).records() if "score" in r and "error" not in r and "arch" in r]
    config_of = [r.get("config", {}) for r in records]
    for field in select:
        if config_of and all(field not in c for c in config_of):
            raise ValueError(f"no record of {path} has config field {field!r}")
    keep = [r for r, c in zip(records, config_of)
            if all(str(c.get(k)) == str(v) for k, v in select.items())]
    experiments = {_experiment(r.get("config", {})) for r in keep}
    if len(experiments) > 1:
        differing = sorted({k for e in experiments for k, v in e if any(dict(o).get(k) != v for o in experiments)})
        raise ValueError(f"{path} mixes {len(experiments)} experiments (configs differ in {differing}); "
                         "choose one with select / --select FIELD=VALUE")
    out: dict[str, float] = {}
    for r in keep:
        out[r["arch"]] = float(r["score"])  # the same key scored twice: the same number; last wins
    return out


@dataclass(frozen=True)
class Correlation:
    """n joined archs; Spearman rho and Kendall tau (tau-b) with their two-sided p-values."""

    n: int
    spearman: float
    spearman_p: float
    kendall: float
    kendall_p: float
    scores_only: int  # scored archs missing from the table
    nonfinite: int  # joined archs dropped because the score is NaN or infinite

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def join(scores: Mapping[str, float], accs: Mapping[str, float]) -> tuple[list[str], list[float], list[float], int]:
    """(archs, scores, accs, nonfinite) of the archs in both, in the order of `scores`."""
    archs, xs, ys, bad = [], [], [], 0
    for arch, s in scores.items():
        if arch in accs:
            if not math.isfinite(s):
                bad += 1
                continue
            archs.append(arch)
            xs.append(float(s))
            ys.append(float(accs[arch]))
    return archs, xs, ys, bad


def correlate(scores: Mapping[str, float], accs: Mapping[str, float]) -> Correlation:
    """Spearman and Kendall between scores and accuracies over the archs both know (>= 3 needed)."""
    from scipy import stats

    archs, xs, ys, bad = join(scores, accs)
    if len(archs) < 3:
        raise ValueError(f"only {len(archs)} scored archs are in the table; a correlation needs at least 3 "
                         "(do the results file and the table use the same arch strings?)")
    rho, rho_p = stats.spearmanr(xs, ys)
    tau, tau_p = stats.kendalltau(xs, ys)
    return Correlation(len(archs), float(rho), float(rho_p), float(tau), float(tau_p),
                       sum(1 for a in scores if a not in accs), bad)


def scatter_plot(scores: Mapping[str, float], accs: Mapping[str, float], path: str | Path, *,
                 title: str = "", xlabel: str = "GradSign score (log scale)", ylabel: str = "accuracy (%)") -> Path:
    """A PNG like the paper's Figure 2: one dot per arch, score on a log x axis, accuracy on y.

    Scores <= 0 cannot sit on a log axis: they are left out and the title says how many.
    Needs matplotlib (pip install 'gradsign-fast[nas]').
    """
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("the scatter plot needs matplotlib: pip install matplotlib "
                           "(or pip install 'gradsign-fast[nas]')") from None
    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt

    _, xs, ys, _ = join(scores, accs)
    pts = [(x, y) for x, y in zip(xs, ys) if x > 0]
    dropped = len(xs) - len(pts)
    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    try:
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=6, alpha=0.5, linewidths=0)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        note = f"\n({dropped} scores <= 0 not shown)" if dropped else ""
        ax.set_title((title + note).strip(), fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return out
