"""Input checks shared by every sign-reduction backend: clear errors, never a crash in a kernel."""

from __future__ import annotations

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_matrix(g: object, *, what: str = "g") -> torch.Tensor:
    """Checks that `g` is an (n, m) floating tensor (fp16/bf16/fp32/fp64, any strides); returns it."""
    if not isinstance(g, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor of shape (n, m), got {type(g).__name__}")
    if g.dim() != 2:
        raise ValueError(
            f"{what} must be 2-D (n samples, m weights), got shape {tuple(g.shape)}; "
            f"flatten per-sample gradients with g.reshape(n, -1)"
        )
    if g.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{what} must be float16, bfloat16, float32 or float64, got {g.dtype}")
    if g.is_sparse or g.layout != torch.strided:
        raise TypeError(f"{what} must be a dense (strided) tensor, got layout {g.layout}")
    return g


def check_accumulators(g: torch.Tensor, counts: object, nan: object) -> None:
    """Checks the running (m,) int64 `counts` and (m,) bool `nan` that `g` (n, m) is added into."""
    check_matrix(g)
    m = g.shape[1]
    for name, t, dtype in (("counts", counts, torch.int64), ("nan", nan, torch.bool)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dtype != dtype or t.shape != (m,) or not t.is_contiguous():
            raise ValueError(
                f"{name} must be a contiguous ({m},) {dtype} tensor for g of shape {tuple(g.shape)}, "
                f"got {tuple(t.shape)} {t.dtype} (contiguous={t.is_contiguous()})"
            )
        if t.device != g.device:
            raise ValueError(f"{name} is on {t.device} but g is on {g.device}; put them on one device")
