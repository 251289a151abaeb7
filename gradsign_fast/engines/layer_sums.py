"""Which rule adds a scored Parameter's column sign counts, given its captured calls and D = dL/dz.

    Linear weight on (n, in), called once:  sign(D)^T sign(A), no per-sample gradient   (linear_rule.py)
    any other weight (Conv2d, Linear on (n, *, in), reused or tied):
        the backend's fused per-layer op where it has one and it pays ('cpp': conv_weight_signs_, one
        call per layer, float32 / float64; layer_op.py builds its arguments and decides), else its
        fused per-sample GEMM kernel ('triton'), else G_i = D_i U_i^T by chunks of samples reduced to signs tile by tile
        ('torch', 'cuda', other dtypes)                                                  (conv_rule.py)
    a bias: b_i = D_i summed over positions and calls, (n, C_out), reduced directly
With verify (GRADSIGN_VERIFY=1) each rule also returns sum_i g_i, compared with autograd's batch
gradient: a safety net that the calls explain the gradient.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..errors import CannotScoreExactly
from ..ops import ColumnSignCounts
from .capture import Call
from .conv_rule import accumulate_weight_signs, per_sample_bias_grads, per_sample_weight_grads
from .layer_op import MIN_CHANNELS_PER_GROUP, layer_op_args
from .linear_rule import factorized_sign_counts


def add_param_signs(counts: ColumnSignCounts, calls: Sequence[Call], grads: Sequence[torch.Tensor], *,
                    is_bias: bool, chunk_size: int | None, memory_budget: int, verify: bool) -> torch.Tensor | None:
    """counts += the column sign sums over all samples of one Parameter used by `calls` (D in `grads`);
    returns sum_i g_i: (m,) if `verify`, else None."""
    n = calls[0].x.shape[0]
    if is_bias:
        b = per_sample_bias_grads(calls, grads, 0, n)  # (n, C_out): small
        counts.add(b)
        return b.sum(0) if verify else None
    if len(calls) == 1 and isinstance(calls[0].module, nn.Linear) and calls[0].x.dim() == 2:
        d, a = grads[0], calls[0].x
        factorized = factorized_sign_counts(d, a)
        if factorized is not None:
            counts.add_counts(factorized, owned=True)
            return (d.t() @ a).reshape(-1) if verify else None
    fused = getattr(counts.backend, "conv_weight_signs_", None)
    # the channel count from which the op pays differs per backend (the CPU's is tuned, a GPU's is 1)
    min_channels = getattr(counts.backend, "layer_op_min_channels", MIN_CHANNELS_PER_GROUP)
    # the 'cpp' backend (CPU tensors only) also applies the one-thread rule: it needs the thread count
    cpu_threads = torch.get_num_threads() if getattr(counts.backend, "layer_op_one_thread_rule", False) else None
    args = layer_op_args(calls, grads, min_channels=min_channels,
                         cpu_threads=cpu_threads) if fused is not None else None
    if args is not None:
        fused(*args, counts.counts, counts.nan, isa=counts.isa)
        return _batch_gradient(calls, grads) if verify else None
    return accumulate_weight_signs(calls, grads, counts, chunk_size, memory_budget, verify)


def _batch_gradient(calls: Sequence[Call], grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """sum_i g_i: (m,), for the verify check (the per-sample gradients summed, chunk by chunk)."""
    n = calls[0].x.shape[0]
    return sum(per_sample_weight_grads(calls, grads, s, min(n, s + 8)).sum(0) for s in range(0, n, 8))


def check_against_autograd(key: str, total: torch.Tensor | None, reference: torch.Tensor | None) -> None:
    """Raises CannotScoreExactly if sum_i g_i from the captures differs from autograd's batch gradient."""
    if total is None or reference is None:
        return
    rtol = {torch.float64: 1e-8, torch.float32: 1e-3}.get(reference.dtype, 5e-2)
    reference, total = reference.reshape(-1).double(), total.reshape(-1).double()
    if not (torch.isfinite(reference).all() and torch.isfinite(total).all()):
        return  # NaN / inf columns: nothing to compare
    scale = float(reference.abs().max()) if reference.numel() else 0.0
    if float((total - reference).abs().max()) > rtol * scale + 1e-30:
        raise CannotScoreExactly(f"{key}: the captured calls do not reproduce autograd's batch gradient")
