"""NAS-Bench-201's cost model and two training fidelities: search budgets in simulated training seconds.

The GradSign authors' searches (their autodl/ scripts, built on xautodl's `train_and_eval`) never
train: "training" an arch looks up its 12-epoch validation accuracy on `cifar10-valid` and charges

    cost(arch, E) = E * train_sec_per_epoch(arch) + valid_sec_per_eval(arch)        seconds, E = 12

(the benchmark's `train-all-time + valid-per-time`), and a search stops once 12,000 s are spent
(PAPER_BUDGET_SECONDS). Hyperband adds a second fidelity: a full E = 200 training.

What `nb201_multifidelity.csv` (shared/data/nb201, one row per arch) offers, and what is used here:

    low fidelity,  E = 12:  c10_test_12ep_s111      CIFAR-10 TEST accuracy after 12 epochs, ONE seed.
                            A STAND-IN: the 12-epoch cifar10-valid VALIDATION accuracy the authors'
                            searches queried is not available offline (Spearman of this column with
                            the 200-epoch accuracy: 0.87).
    high fidelity, E = 200: c10v_valid_200ep_mean   cifar10-valid validation accuracy after 200 epochs,
                            mean of 3 seeds (the authors' hpbandster draws one seed at random).
    cost model:             c10v_train_sec_per_epoch, c10v_valid_sec_per_eval (the same per-epoch
                            time for the 12- and 200-epoch schedules; a 200-epoch run is charged in
                            full: the two schedules differ, so it does not resume a 12-epoch run).

`unit_cost=True` drops the cost model: every training (at either fidelity) costs 1, so a budget
counts trained architectures, as the README's G-RS / G-REA table does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Collection

from .search import Benchmark
from .tables import load_table

PAPER_BUDGET_SECONDS = 12_000.0
LOW_EPOCHS, HIGH_EPOCHS = 12, 200
LOW_ACCURACY = "c10_test_12ep_s111"  # stand-in for the 12-epoch cifar10-valid validation accuracy
HIGH_ACCURACY = "c10v_valid_200ep_mean"
TRAIN_SEC_PER_EPOCH = "c10v_train_sec_per_epoch"
VALID_SEC_PER_EVAL = "c10v_valid_sec_per_eval"


def training_cost(train_sec_per_epoch: float, valid_sec_per_eval: float, epochs: int) -> float:
    """Simulated seconds to train `epochs` epochs and evaluate once (the benchmark's cost model)."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    return epochs * float(train_sec_per_epoch) + float(valid_sec_per_eval)


@dataclass(frozen=True)
class Fidelities:
    """The same archs at two training lengths: `low` (12 epochs) and `high` (200 epochs).

    Each is a search.Benchmark (arch -> accuracy, arch -> cost); RS / REA / REINFORCE search on
    `low` (as the authors' scripts), Hyperband on (low, high)."""

    low: Benchmark
    high: Benchmark
    epochs: tuple[int, int] = (LOW_EPOCHS, HIGH_EPOCHS)

    @property
    def ladder(self) -> list[Benchmark]:
        """[low, high]: the rungs Hyperband climbs."""
        return [self.low, self.high]


def load_nb201_fidelities(csv_path: str | Path, *, archs: Collection[str] | None = None,
                          unit_cost: bool = False) -> Fidelities:
    """The two fidelities of `nb201_multifidelity.csv`, optionally only for `archs` (e.g. the scored ones).

    ValueError if `archs` names an arch the table lacks, or leaves fewer than 2 archs."""
    low_acc = load_table(csv_path, LOW_ACCURACY, require="finite")
    high_acc = load_table(csv_path, HIGH_ACCURACY, require="finite")
    if archs is not None:
        wanted = set(archs)
        missing = wanted - low_acc.keys()
        if missing:
            raise ValueError(f"{len(missing)} arch(s) are not in {csv_path}, e.g. {sorted(missing)[0]}")
        low_acc = {a: v for a, v in low_acc.items() if a in wanted}
        high_acc = {a: v for a, v in high_acc.items() if a in wanted}
    if len(low_acc) < 2:
        raise ValueError(f"a search needs at least 2 archs; {len(low_acc)} left of {csv_path}")
    if unit_cost:
        return Fidelities(Benchmark(low_acc), Benchmark(high_acc))
    per_epoch = load_table(csv_path, TRAIN_SEC_PER_EPOCH, require="positive")
    per_eval = load_table(csv_path, VALID_SEC_PER_EVAL, require="positive")
    costs = [{a: training_cost(per_epoch[a], per_eval[a], e) for a in low_acc} for e in (LOW_EPOCHS, HIGH_EPOCHS)]
    return Fidelities(Benchmark(low_acc, costs[0]), Benchmark(high_acc, costs[1]))
