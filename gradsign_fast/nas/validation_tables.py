"""The README's NAS-Bench-201 validation tables, computed from a results file of `sweep`.

    gradsign-fast validate RESULTS [--data-dir shared/data]
    python benchmarks/validate_nb201.py RESULTS                 (the same)

Table 1: GradSign vs CIFAR-10 accuracy of NAS-Bench-201 (the authors' target valid_test_top1, and
test_top1 / NATS-Bench 200-epoch test accuracy) over every arch scored in RESULTS.
Table 2: on the CIFAR-10 rows of NASLib's zero-cost subset that RESULTS scored, GradSign beside the
12 proxies NASLib published (Spearman with nats_test_accuracy and naslib_val_accuracy, same archs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..options import shared_data_override
from .correlate import correlate, load_scores
from .tables import load_table

NASWOT_CSV = "nb201/naswot_arch_score_acc_nb201_cifar10.csv"
NATS_CSV = "nb201/nats_bench_tss_test_acc_200ep.csv"
NASLIB_CSV = "nb201/naslib_zc_nb201_subset_with_nats_test.csv"
PROXIES = ("synflow", "snip", "grad_norm", "nwot", "params", "flops", "jacov", "fisher", "grasp", "epe_nas",
           "plain", "l2_norm")
# (table, column, what it is, the paper's Spearman for it)
TARGETS = (
    (NASWOT_CSV, "valid_test_top1", "NB201 cifar10-valid test acc. (authors' target)", "0.765"),
    (NASWOT_CSV, "test_top1", "NB201 cifar10 test acc. (train+valid)", "-"),
    (NATS_CSV, "CIFAR10TestAccuracy200Epochs", "NATS-Bench TSS C10 test acc., 200 ep.", "0.760"),
)


def default_data_dir() -> Path:
    """GRADSIGN_SHARED_DATA, else ../shared/data beside the repository."""
    override = shared_data_override()
    return override if override is not None else Path(__file__).resolve().parents[3] / "shared" / "data"


def _need(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: set --data-dir (or GRADSIGN_SHARED_DATA) to the shared/data "
                                "directory that holds nb201/")
    return path


def benchmark_table(scores: Mapping[str, float], data_dir: Path) -> str:
    """Table 1 (markdown): Spearman and Kendall of GradSign with each CIFAR-10 target."""
    lines = ["| target | archs | Spearman ρ | Kendall τ | paper ρ |", "|---|---:|---:|---:|---:|"]
    for table, column, what, paper in TARGETS:
        c = correlate(scores, load_table(_need(data_dir / table), column))
        lines.append(f"| {what} (`{column}`) | {c.n} | {c.spearman:.3f} | {c.kendall:.3f} | {paper} |")
    return "\n".join(lines)


def proxy_rows(scores: Mapping[str, float], data_dir: Path) -> list[dict[str, Any]]:
    """Per proxy (GradSign first): n and Spearman with the two accuracies, on the scored CIFAR-10 rows."""
    path = _need(data_dir / NASLIB_CSV)
    where = {"dataset": "cifar10"}
    test = load_table(path, "nats_test_accuracy", where=where)
    val = load_table(path, "naslib_val_accuracy", where=where)
    common = [a for a in test if a in scores]
    if len(common) < 3:
        raise ValueError(f"only {len(common)} archs of {path} (cifar10 rows) are scored; sweep them first")
    rows = []
    for name in ("gradsign", *PROXIES):
        values = {a: float(scores[a]) for a in common} if name == "gradsign" else \
            {a: v for a, v in load_table(path, f"{name}_score", where=where, skip_empty=True).items() if a in scores}
        t, v = correlate(values, test), correlate(values, val)
        rows.append({"proxy": name, "n": t.n, "test": t.spearman, "val": v.spearman,
                     "test_kendall": t.kendall})
    return rows


def proxy_table(scores: Mapping[str, float], data_dir: Path) -> str:
    """Table 2 (markdown), sorted by Spearman with test accuracy."""
    rows = sorted(proxy_rows(scores, data_dir), key=lambda r: -r["test"])
    lines = ["| proxy | archs | ρ vs nats_test_accuracy | τ vs nats_test_accuracy | ρ vs naslib_val_accuracy |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        name = "**GradSign (this package)**" if r["proxy"] == "gradsign" else r["proxy"]
        lines.append(f"| {name} | {r['n']} | {r['test']:.3f} | {r['test_kendall']:.3f} | {r['val']:.3f} |")
    return "\n".join(lines)


def report(results_path: str | Path, data_dir: str | Path | None = None, *,
           select: Mapping[str, Any] | None = None) -> str:
    """Both tables with a header saying what was measured."""
    from .results import ResultsFile

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    scores = load_scores(results_path, select=select)
    records = [r for r in ResultsFile(results_path).records() if "score" in r and "error" not in r]
    chosen = [r for r in records if r.get("arch") in scores]
    config = chosen[-1].get("config", {}) if chosen else {}
    seconds = sorted(r.get("seconds", 0.0) for r in chosen)
    median = seconds[len(seconds) // 2] if seconds else float("nan")
    head = (f"GradSign on {len(scores)} NAS-Bench-201 archs from {results_path}: variant {config.get('variant')}, "
            f"C={config.get('channels')}, N={config.get('cells')}, batch {config.get('batch_size')} of "
            f"{config.get('data') or 'SYNTHETIC data'} (offset {config.get('data_offset')}), seed {config.get('seed')}, "
            f"inits {config.get('n_inits')}; median {median:.2f} s per arch")
    parts = [head, "", "Table 1: rank correlation with CIFAR-10 accuracy", "", benchmark_table(scores, data_dir), ""]
    try:
        parts += ["Table 2: GradSign beside NASLib's published proxies on the CIFAR-10 rows of "
                  "naslib_zc_nb201_subset_with_nats_test.csv that were scored (same archs for every row); "
                  "CIFAR-100 / ImageNet16-120 rows need those images, which are not here", "",
                  proxy_table(scores, data_dir)]
    except ValueError as exc:
        parts += [f"Table 2 skipped: {exc}"]
    return "\n".join(parts)
