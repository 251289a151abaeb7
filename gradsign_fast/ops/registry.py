"""The sign-reduction backend registry: which backends exist, which load in this process, and why not.

A backend is any object with

    name: str
    supports(device: torch.device) -> bool
    accumulate_(g, counts, nan, *, isa="auto") -> None
        g: (n, m) float16/bfloat16/float32/float64, any strides, on a supported device
        counts: (m,) int64 contiguous, same device; counts[k] += sum_i sign(g[i, k])
        nan: (m,) bool contiguous, same device;    nan[k] |= any_i isnan(g[i, k])
        isa: the CPU instruction set ('cpp' only; the others ignore it)
    sign_reduce(g, *, isa="auto") -> int
        g as above; returns sum_k |sum_i sign(g[i, k])| over the columns k without a NaN.
and optionally per-layer fused kernels (see gradsign_fast/engines/conv_rule.py for who calls them):
    per_sample_gemm_signs_(d, u, counts, nan) -> None
        d: (n, g, o, L), u: (n, g, k, L); counts (g*o*k,) += column sign sums of G_i = d_i u_i^T.
    conv_weight_signs_(inputs, grads, geometry, groups, counts, nan, *, isa) -> None   ('cpp', 'triton')
        a Conv2d weight's per-sample gradients reduced to sign counts, one call per layer (engines/
        layer_op.py); layer_op_min_channels (optional): input channels per group from which to use it;
        layer_op_one_thread_rule (optional, 'cpp'): at one thread, only where tile_wins_at_one_thread says not.

Backends register a *loader* (a zero-argument callable returning the backend object, raising
ImportError/RuntimeError with a reason when it cannot run here). Loaders run on first use, never at
import time, so importing gradsign_fast never touches CUDA, Triton or the compiled extension.

resolve(name, device) is the one place a backend is chosen: a name, or "auto" for the first of
AUTO_ORDER[device type] that runs there.
"""

from __future__ import annotations

from typing import Any, Callable

# "auto": per device type, the backends to try in order. On CUDA Triton comes first: it also has the
# fused per-layer kernels (no per-sample gradient in memory); the CUDA C++ kernels reduce the rest.
AUTO_ORDER = {"cpu": ("cpp", "torch"), "cuda": ("triton", "cuda", "torch")}

_LOADERS: dict[str, Callable[[], Any]] = {}
_LOADED: dict[str, Any] = {}
_FAILED: dict[str, str] = {}


def register(name: str, loader: Callable[[], Any]) -> None:
    """Registers (or replaces) the loader of backend `name`; it is called lazily on first use."""
    _LOADERS[name] = loader
    _LOADED.pop(name, None)
    _FAILED.pop(name, None)


def registered() -> list[str]:
    """Every registered backend name, loadable here or not, in registration order."""
    return list(_LOADERS)


def load(name: str) -> Any | None:
    """The backend object, or None if it cannot run in this process (the reason is in `reasons()`)."""
    if name in _LOADED:
        return _LOADED[name]
    if name in _FAILED or name not in _LOADERS:
        return None
    try:
        backend = _LOADERS[name]()
    except Exception as exc:  # a broken backend is a reason, never a crash
        _FAILED[name] = f"{type(exc).__name__}: {exc}"
        return None
    _LOADED[name] = backend
    return backend


def available() -> list[str]:
    """Names of the backends that load in this process, in registration order."""
    return [name for name in _LOADERS if load(name) is not None]


def runnable() -> list[str]:
    """Names of the backends that load here AND reduce tensors on a device this machine has (the CPU,
    and CUDA when a GPU is visible): a CUDA build of torch loads 'cuda' and 'triton' on a machine
    without a GPU, but they cannot run there."""
    devices = _present_devices()
    return [name for name in available() if any(_LOADED[name].supports(d) for d in devices)]


def _present_devices() -> list[str]:
    import torch

    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def reasons() -> dict[str, str]:
    """Why each registered backend that cannot run here does not: it failed to load, or it loads but
    reduces tensors on no device this machine has."""
    usable = set(runnable())
    out = dict(_FAILED)
    for name in available():
        if name not in usable:
            out[name] = f"loads, but reduces tensors on no device present here (devices: {_present_devices()})"
    return out


def get(name: str) -> Any:
    """The backend called `name`; raises ValueError naming the available ones if it cannot run here."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string, got {type(name).__name__}")
    backend = load(name)
    if backend is not None:
        return backend
    if name not in _LOADERS:
        why = "no such backend"
    else:
        why = _FAILED.get(name, "failed to load")
    raise ValueError(
        f"sign-reduction backend {name!r} is not available ({why}); "
        f"available here: {runnable()}; use backend='auto' to pick one automatically"
    )


def resolve(name: str, device: Any) -> Any:
    """The backend object that reduces tensors on `device`: `name`, or for "auto" the first of
    AUTO_ORDER that loads and supports the device ('torch' runs everywhere). An explicitly named backend
    that is missing or cannot reduce on `device` raises ValueError listing the ones that can."""
    import torch

    device = torch.device(device)
    if name != "auto":
        backend = get(name)
        if not backend.supports(device):
            able = [b for b in runnable() if _LOADED[b].supports(device)]
            raise ValueError(f"backend {name!r} cannot reduce tensors on {device}; available here: {able}; "
                             "use backend='auto' to pick one automatically")
        return backend
    for candidate in AUTO_ORDER.get(device.type, ()):
        backend = load(candidate)
        if backend is not None and backend.supports(device):
            return backend
    return get("torch")
