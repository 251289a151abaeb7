"""Does the batched forward treat every sample alone, as the loop does? Two checks.

A batched pass is exact only if row i of every captured input and of the model output depends on
sample i alone (BatchNorms already made per-sample). Models that mix samples (a batch-level attention,
x - x.mean(0), a cumsum along the batch, BatchNorm-like custom code), that compute with the batch size,
or that put the batch elsewhere than dim 0 (sequence-first transformers: Linear inputs (T, n, d))
break that.

1. The batch tracker (batch_tracker.py) follows the batch through every aten op of the main forward:
   any op that combines two samples, in any rows, whatever the values, is refused; every captured
   layer input and every output must hold sample i in row i. `tracked(job)` / `check_tracked(...)`.
2. The value probe (SeparabilityProbe) catches what no op shows: a forward that computes with the batch
   size (x * x.shape[0]). Sample 0 is forwarded alone (no grad, dropout modules off, RNG forked; the same per-sample BatchNorm
and capture wrappers active) and compared with row 0 of a batched forward: the engine's own main pass
(no extra cost) or, where dropout modules are active there, a dropout-free forward of samples 0 and 1.
Same call structure, dim 0 of size 1 vs the batch with equal trailing dims, and values within a float
tolerance (a batch of one uses other kernels), else CannotScoreExactly. Cost: one forward of one sample.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn.modules.dropout import _DropoutNd
from torch.utils import _pytree as pytree

from ..errors import CannotScoreExactly
from ..semantics import ScoringJob, dropout_off
from .batch_dim import ROWS
from .batch_tracker import BatchTracker
from .capture import Call, CallRecorder

_RTOL = {torch.float64: 1e-6, torch.float32: 1e-2, torch.float16: 0.1, torch.bfloat16: 0.2}
Forward = tuple[Any, CallRecorder]  # (model output, the recorder of that forward)


def _active_dropout(job: ScoringJob) -> bool:
    return job.options.dropout and any(isinstance(m, _DropoutNd) and m.training and m.p > 0 for m in job.model.modules())


def _forward_rows(job: ScoringJob, modules: list[nn.Module], rows: list[int]) -> Forward:
    """The model's output and captured calls for samples `rows` alone (no grad, no dropout, RNG forked)."""
    devices = []
    if job.device.type == "cuda":
        devices = [job.device.index if job.device.index is not None else torch.cuda.current_device()]
    with dropout_off(job.model), torch.no_grad(), torch.random.fork_rng(devices=devices):
        with CallRecorder(modules) as recorder:
            output = job.model(*(x[rows] for x in job.inputs))
    return output, recorder


def _row0_close(a: torch.Tensor, b: torch.Tensor, rows: int) -> bool:
    """Row 0 of a: (rows, ...) vs b: (1, ...): equal trailing shape, close within the dtype's tolerance."""
    if a.dim() == 0 or a.shape[0] != rows or b.dim() != a.dim() or b.shape[0] != 1 or a.shape[1:] != b.shape[1:]:
        return False
    a = a[:1].detach()
    if not a.is_floating_point():
        return bool(torch.equal(a, b))
    scale = float(b.abs().nan_to_num_(0.0, posinf=0.0, neginf=0.0).amax()) if b.numel() else 0.0
    return bool(torch.allclose(a, b, rtol=0.0, atol=_RTOL.get(b.dtype, 1e-2) * scale, equal_nan=True))


class SeparabilityProbe:
    """probe = SeparabilityProbe(job, modules)   (before the main pass: sample 0 alone)
    probe.check(output, recorder)                 (after it: its row 0 must match)"""

    def __init__(self, job: ScoringJob, modules: list[nn.Module]):
        self.job, self.modules = job, modules
        self.alone = _forward_rows(job, modules, [0]) if job.n >= 2 else None
        self.pair = None
        if self.alone is not None and _active_dropout(job):
            self.pair = _forward_rows(job, modules, [0, 1])
            self._compare(self.pair, 2)

    def check(self, output: Any, recorder: CallRecorder) -> None:
        """Raises CannotScoreExactly if row 0 of the main pass (output, recorder) differs from sample 0 alone."""
        if self.alone is not None and self.pair is None:
            self._compare((output, recorder), self.job.n)

    def _compare(self, batched: Forward, rows: int) -> None:
        leaves_a, spec_a = pytree.tree_flatten(batched[0])
        leaves_b, spec_b = pytree.tree_flatten(self.alone[0])
        kinds_a, kinds_b = ([isinstance(v, torch.Tensor) for v in leaves] for leaves in (leaves_a, leaves_b))
        if spec_a != spec_b or kinds_a != kinds_b:
            raise CannotScoreExactly("the structure of the model output depends on the batch")
        for a, b in zip(leaves_a, leaves_b):
            if isinstance(a, torch.Tensor) and not _row0_close(a, b, rows):
                raise CannotScoreExactly(
                    f"the batched output of sample 0 (shape {tuple(a.shape)}) differs from its output alone "
                    f"({tuple(b.shape)}): the model mixes samples or depends on the batch size"
                )
        with torch.no_grad():
            for m in self.modules:
                calls_a, calls_b = batched[1].calls[id(m)], self.alone[1].calls[id(m)]
                if len(calls_a) != len(calls_b):
                    raise CannotScoreExactly(f"{type(m).__name__} is called a batch-dependent number of times")
                for ca, cb in zip(calls_a, calls_b):
                    if not _row0_close(ca.x, cb.x, rows):
                        raise CannotScoreExactly(
                            f"a {type(m).__name__} call sees input {tuple(ca.x.shape)} for {rows} samples and "
                            f"{tuple(cb.x.shape)} for one: its dim 0 is not the sample (e.g. sequence-first "
                            "attention) or the model mixes samples before it"
                        )


@contextlib.contextmanager
def tracked(job: ScoringJob) -> Iterator[BatchTracker | None]:
    """Runs the body under a BatchTracker (None for a batch of one: nothing to mix). An error raised
    by an aten op on the batch becomes CannotScoreExactly (the model may only run one sample at a time);
    an error raised by the model's own Python code propagates as raised."""
    if job.n < 2:
        yield None
        return
    tracker = BatchTracker(job.inputs, job.n)
    try:
        with tracker:
            yield tracker
    except CannotScoreExactly:
        raise
    except Exception as exc:
        if tracker.failed_op is None:
            raise
        raise CannotScoreExactly(f"the batched forward failed in {tracker.failed_op}") from exc


def check_tracked(tracker: BatchTracker | None, calls: list[Call], output: Any) -> None:
    """Raises CannotScoreExactly unless the tracked forward kept the samples apart, with sample i in row i
    of every captured layer input and of every tensor the model returned."""
    if tracker is None:
        return
    if tracker.violation is not None:
        raise CannotScoreExactly(f"the model mixes samples in its forward ({tracker.violation})")
    for call in calls:
        tag = tracker.tag_of(call.x)
        if tag != ROWS:
            where = "no sample" if tag is None else f"the samples along {tag}"
            raise CannotScoreExactly(f"a {type(call.module).__name__} call sees an input holding {where}, not "
                                     "sample i in row i (e.g. sequence-first attention): dim 0 is not the batch")
    for leaf in pytree.tree_leaves(output):
        if isinstance(leaf, torch.Tensor) and tracker.tag_of(leaf) != ROWS:
            raise CannotScoreExactly(f"the model returns a tensor of shape {tuple(leaf.shape)} that does not hold "
                                     "sample i in row i")
