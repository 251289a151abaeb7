"""Per-parameter sign accumulators shared by every engine.

An engine hands over per-sample gradient chunks g: (n_chunk, *param.shape) per distinct trainable
Parameter (keyed by its canonical name in model.named_parameters()); frozen or unused weights keep
all-zero counts, as the loop's `.grad is None` does. `result()` expands them to one SignSums entry per
scored weight, so a Parameter scored by two modules appears (and counts) twice.
"""

from __future__ import annotations

import torch

from ..ops import SignAccumulator
from ..options import memory_budget_bytes
from ..semantics import ScoringJob
from ..sums import SignSums


class WeightSignSums:
    def __init__(self, job: ScoringJob):
        self.job = job
        canonical = {id(p): name for name, p in job.model.named_parameters()}
        self.key_of_entry: list[str] = []
        self.params: dict[str, torch.nn.Parameter] = {}
        for w in job.weights:
            key = canonical.get(id(w.param), w.name)
            self.key_of_entry.append(key)
            self.params.setdefault(key, w.param)
        self.accumulators = {
            key: SignAccumulator(p.numel(), device=p.device, backend=job.backend) for key, p in self.params.items()
        }

    def trainable(self) -> dict[str, torch.nn.Parameter]:
        """canonical name -> Parameter, for the distinct scored Parameters that require grad."""
        return {key: p for key, p in self.params.items() if p.requires_grad}

    def add(self, key: str, g: torch.Tensor) -> None:
        """g: (n_chunk, *shape of parameter `key`) per-sample gradients of n_chunk samples."""
        self.accumulators[key].add(g.reshape(g.shape[0], -1))

    def result(self) -> SignSums:
        names = [w.name for w in self.job.weights]
        accs = [self.accumulators[key] for key in self.key_of_entry]
        return SignSums(names, [a.counts for a in accs], [a.nan for a in accs], self.job.n)

    def chunk_size(self, bytes_per_weight_per_sample: int = 3) -> int:
        """Samples per chunk: the job's chunk_size, else what fits GRADSIGN_MEMORY_BUDGET_MB (1024)."""
        if self.job.chunk_size:
            return min(self.job.chunk_size, self.job.n)
        budget = memory_budget_bytes()
        per_sample = sum(p.numel() * p.element_size() for p in self.trainable().values()) * bytes_per_weight_per_sample
        return max(1, min(self.job.n, budget // max(per_sample, 1)))
