"""SignSums: what a GradSign score is made of, before the final |.| and sum.

For each scored weight p (flattened to m_p columns) over the n samples:
    counts[p]: (m_p,) int64, counts[p][k] = sum_i sign(g_i[p][k])
    nan[p]:    (m_p,) bool,  nan[p][k]    = any_i isnan(g_i[p][k])
Shards of one batch (sample chunks, distributed ranks) add exactly: counts add, NaN marks OR.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .ops import reduce_counts


@dataclass
class SignSums:
    """names[j], counts[j] (m_j,) int64, nan[j] (m_j,) bool per scored entry; n_samples scored.

    engine: the engine that produced the sums ("batched", "functorch" or "loop"); notes: why any engine
    before it could not score this model exactly (engine="auto" falls back and says so here).
    """

    names: list[str]
    counts: list[torch.Tensor]
    nan: list[torch.Tensor]
    n_samples: int
    engine: str = ""
    notes: list[str] = field(default_factory=list)

    def score(self, reduction: str = "sum") -> float:
        """sum_j sum_k |counts[j][k]| over NaN-free columns ("sum"), or numpy's nanmean ("mean")."""
        return float(reduce_counts(self.counts, self.nan, reduction))

    @property
    def num_weights(self) -> int:
        return sum(c.numel() for c in self.counts)

    def __add__(self, other: SignSums) -> SignSums:
        """The sums of the union of two disjoint sample shards scored with the same weights."""
        if not isinstance(other, SignSums):
            return NotImplemented
        if self.names != other.names or [c.shape for c in self.counts] != [c.shape for c in other.counts]:
            raise ValueError("cannot add SignSums of different scored weights")
        return SignSums(
            names=list(self.names),
            counts=[a + b.to(a.device) for a, b in zip(self.counts, other.counts)],
            nan=[a | b.to(a.device) for a, b in zip(self.nan, other.nan)],
            n_samples=self.n_samples + other.n_samples,
            engine=self.engine if self.engine == other.engine else f"{self.engine}+{other.engine}",
            notes=list(dict.fromkeys([*self.notes, *other.notes])),
        )

    def to(self, device: torch.device | str) -> SignSums:
        return SignSums(list(self.names), [c.to(device) for c in self.counts], [b.to(device) for b in self.nan],
                        self.n_samples, self.engine, list(self.notes))
