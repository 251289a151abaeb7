"""Per scored Parameter, its integer column sign counts: what every engine fills and hands back as SignSums.

An engine adds per-sample gradient chunks g: (n_chunk, *param.shape) per distinct trainable Parameter
(keyed by its canonical name in model.named_parameters()), or hands a per-layer rule the Parameter's
ColumnSignCounts; frozen or unused weights keep all-zero counts, as the loop's `.grad is None` does.
`result()` expands them to one SignSums entry per scored weight, so a Parameter scored by two modules
appears (and counts) twice.
"""

from __future__ import annotations

from typing import Any

import torch

from ..ops import ColumnSignCounts
from ..semantics import ScoringJob
from ..sums import SignSums


class ScoredParamCounts:
    """counts[key]: the ColumnSignCounts of each distinct scored Parameter; `backend` reduces them."""

    def __init__(self, job: ScoringJob, backend: Any):
        self.job = job
        canonical = {id(p): name for name, p in job.model.named_parameters()}
        self.key_of_entry: list[str] = []
        self.params: dict[str, torch.nn.Parameter] = {}
        for w in job.weights:
            key = canonical.get(id(w.param), w.name)
            self.key_of_entry.append(key)
            self.params.setdefault(key, w.param)
        isa = job.options.cpu_isa
        self.counts = {key: ColumnSignCounts(p.numel(), device=p.device, backend=backend, isa=isa)
                       for key, p in self.params.items()}

    def trainable(self) -> dict[str, torch.nn.Parameter]:
        """canonical name -> Parameter, for the distinct scored Parameters that require grad."""
        return {key: p for key, p in self.params.items() if p.requires_grad}

    def add(self, key: str, g: torch.Tensor) -> None:
        """g: (n_chunk, *shape of parameter `key`) per-sample gradients of n_chunk samples."""
        self.counts[key].add(g.reshape(g.shape[0], -1))

    def result(self) -> SignSums:
        names = [w.name for w in self.job.weights]
        counts = [self.counts[key] for key in self.key_of_entry]
        return SignSums(names, [c.counts for c in counts], [c.nan for c in counts], self.job.n)

    def chunk_size(self, bytes_per_weight_per_sample: int = 3) -> int:
        """Samples per chunk: the job's chunk_size, else what fits its memory budget."""
        options = self.job.options
        if options.chunk_size:
            return min(options.chunk_size, self.job.n)
        per_sample = sum(p.numel() * p.element_size() for p in self.trainable().values()) * bytes_per_weight_per_sample
        return max(1, min(self.job.n, options.memory_budget // max(per_sample, 1)))
