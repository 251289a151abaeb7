"""The 'cuda' sign-reduction backend: the CUDA kernels of gradsign_fast._C_cuda (csrc/cuda/).

Math: counts[k] += sum_i sign(g[i, k]); nan[k] |= any_i isnan(g[i, k]);
      sign_reduce(g) = sum_k [not nan[k]] |counts[k]|, for g: (n, m) fp16/bf16/fp32/fp64 on a GPU.
Row-strided and transposed views are read in place (thread per column / warp per column); other
strides are copied to contiguous once. Loading touches no GPU: supports() only looks at the device.
"""

from __future__ import annotations

import torch

from .op_backend import op_backend

name = "cuda"

_ops = op_backend(name, "cuda", "CUDA")
supports, accumulate_, sign_reduce = _ops.supports, _ops.accumulate_, _ops.sign_reduce


def load():
    """This module, once gradsign_fast._C (op schema) and gradsign_fast._C_cuda import; else ImportError."""
    from .build_record import build_reason

    if not torch.version.cuda:
        raise ImportError(f"torch {torch.__version__} is a CPU-only build")
    try:
        from .. import _C  # noqa: F401  (the op schema lives in the CPU extension)
    except ImportError as exc:
        raise ImportError(f"gradsign_fast._C (op schema) is not available ({build_reason('cpp')}): {exc}") from exc
    try:
        from .. import _C_cuda  # noqa: F401  (registers the CUDA kernels)
    except ImportError as exc:
        raise ImportError(f"gradsign_fast._C_cuda is not available ({build_reason('cuda')}): {exc}") from exc
    from .library import register_fakes

    register_fakes()
    import sys

    return sys.modules[__name__]
