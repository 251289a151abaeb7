"""GradSign the way a user without gradsign_fast computes it: one function per method, (model, x, y) -> float.

    authors_loop       the authors' per-sample loop (gradsign_fast.reference.score: forward/backward of
                       each sample alone, np.sign, nansum)
    torch_func_recipe  torch.func: vmap(grad(loss of one sample)) with functional_call over the
                       Conv2d/Linear weights; on a training-mode BatchNorm net a deep copy gets
                       replace_all_batch_norm_modules_ (per-sample statistics, like the loop)
    opacus             Opacus 1.x GradSampleModule, p.grad_sample; refuses BatchNorm (-> CannotRun)
    backpack           BackPACK 1.x extend(model) (use_converter=True where hooks alone fail: ResNet),
                       extend(loss), BatchGrad, p.grad_batch; per-sample
                       gradients of the summed loss, which on a batch-statistics BatchNorm net are
                       not the loop's (-> "computes a different number")
    gradsign_fast      gradsign_fast.score(model, x, y)
    train_step         one plain forward + backward of the batch: the floor; returns nan (no score)

x: (n, ...) inputs, y: (n,) class labels, cross-entropy loss. Every scorer reduces per-sample gradients
G: (n, m) as nansum_k |sum_i sign(G[i, k])|. opacus / backpack import lazily; a missing one raises
NotInstalled. evaluate() turns a method's outcome into the status the benchmarks report.
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
import warnings
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import gradsign_fast  # noqa: E402
import gradsign_fast.reference  # noqa: E402

RTOL = 1e-3  # float32: per-sample gradients from different kernels may flip the sign of tiny entries


class NotInstalled(RuntimeError):
    """The peer's package is missing or does not import with this torch."""


class CannotRun(RuntimeError):
    """The peer refuses this model (e.g. Opacus and BatchNorm)."""


def scored_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """name -> `.weight` of every nn.Conv2d / nn.Linear, in model.modules() order (the authors' list)."""
    return {f"{name}.weight" if name else "weight": m.weight for name, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))}


def has_batch_statistics(model: nn.Module) -> bool:
    """True if some BatchNorm normalizes with the statistics of the batch (training mode or no running stats)."""
    return any(isinstance(m, _BatchNorm) and (m.training or m.running_mean is None) for m in model.modules())


def sign_counts(per_sample: torch.Tensor) -> torch.Tensor:
    """per_sample: (n, *w.shape) -> (*w.shape) float64 sum over samples of sign (NaN stays NaN).

    Summed in float32 (exact up to 2**24 samples; no float64 copy of the (n, ...) signs), then widened."""
    dtype = torch.float64 if per_sample.dtype == torch.float64 else torch.float32
    return per_sample.detach().sign().sum(0, dtype=dtype).double()


def reduce_counts(counts: Iterable[torch.Tensor]) -> float:
    """counts: per-weight sums of signs -> nansum_k |count_k| (a NaN gradient drops its weight)."""
    return float(sum(c.abs().nansum() for c in counts))


def reduce_per_sample(grads: Iterable[torch.Tensor | None]) -> float:
    """grads: per weight a (n, *w.shape) per-sample gradient (None: no gradient, adds 0) -> the score."""
    return reduce_counts(sign_counts(g) for g in grads if g is not None)


def _first_line(exc: BaseException, limit: int = 160) -> str:
    """'Type: first line of the message', at most `limit` characters (a list of errors: the first one)."""
    if exc.args and isinstance(exc.args[0], list) and exc.args[0] and isinstance(exc.args[0][0], BaseException):
        exc = exc.args[0][0]  # Opacus raises NotImplementedError([NotImplementedError(...), ...])
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def _no_inplace(model: nn.Module):
    """Switch in-place activations off meanwhile: full backward hooks (Opacus, BackPACK) forbid an
    in-place op on a hooked module's output (a user of these libraries must do the same)."""
    inplace = [m for m in model.modules() if getattr(m, "inplace", False) is True]
    for m in inplace:
        m.inplace = False
    try:
        yield
    finally:
        for m in inplace:
            m.inplace = True


@contextlib.contextmanager
def _quiet():
    """Silence the peers' harmless warnings (hooks on modules whose inputs need no grad, BackPACK on
    containers with parameters, BatchNorm in training mode: reported as a status instead)."""
    with warnings.catch_warnings():
        for message in ("Full backward hook is firing", "Extension saving to grad_batch does not have",
                        "Encountered BatchNorm module in training mode"):
            warnings.filterwarnings("ignore", message=message)
        yield


def _opacus_refusal(model: nn.Module, exc: BaseException) -> str:
    """'Opacus refuses layers with buffers (BatchNorm): bn1 (BatchNorm2d) and 19 more', else the error."""
    refused = [f"{name} ({type(m).__name__})" for name, m in model.named_modules()
               if any(p.requires_grad for p in m.parameters(recurse=False))
               and any(True for _ in m.buffers(recurse=False))]
    if not isinstance(exc, NotImplementedError) or not refused:
        return _first_line(exc)
    more = f" and {len(refused) - 1} more" if len(refused) > 1 else ""
    return f"Opacus refuses trainable layers with buffers (BatchNorm): {refused[0]}{more} (NotImplementedError)"


def authors_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The authors' loop: n forward/backward passes of one sample each (gradsign_fast.reference)."""
    return gradsign_fast.reference.score(model, x, y)


def torch_func_recipe(model: nn.Module, x: torch.Tensor, y: torch.Tensor, budget_bytes: int = 1 << 30) -> float:
    """vmap(grad) per-sample gradients in chunks of samples bounding them to budget_bytes, then the reduction."""
    if model.training and any(isinstance(m, _BatchNorm) for m in model.modules()):
        model = copy.deepcopy(model)
        torch.func.replace_all_batch_norm_modules_(model)  # per-sample statistics, no running-stat updates
    params = {name: w.detach() for name, w in scored_weights(model).items()}

    def loss_of_one(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(torch.func.functional_call(model, p, (xi[None],)), yi[None])

    per_sample = torch.func.vmap(torch.func.grad(loss_of_one), in_dims=(None, 0, 0), randomness="different")
    per_row = sum(p.numel() * p.element_size() for p in params.values())
    chunk = max(1, min(len(x), budget_bytes // max(per_row, 1)))
    counts: dict[str, torch.Tensor] = {}
    for s in range(0, len(x), chunk):
        for name, g in per_sample(params, x[s : s + chunk], y[s : s + chunk]).items():
            counts[name] = counts[name] + sign_counts(g) if name in counts else sign_counts(g)
    return reduce_counts(counts.values())


def opacus(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Opacus GradSampleModule (hooks added to `model`, removed after; in-place activations off meanwhile):
    loss summed, p.grad_sample: (n, *w.shape)."""
    try:
        from opacus import GradSampleModule
    except Exception as exc:  # noqa: BLE001 - a build for another torch fails in many ways
        raise NotInstalled(f"opacus: {_first_line(exc)}") from exc
    try:
        gsm = GradSampleModule(model, batch_first=True, loss_reduction="sum")
    except Exception as exc:  # noqa: BLE001 - NotImplementedError on BatchNorm (buffers)
        for p in model.parameters():  # set before Opacus validates the model
            for attr in ("grad_sample", "_forward_counter", "_current_grad_sample"):
                p.__dict__.pop(attr, None)
        raise CannotRun(_opacus_refusal(model, exc)) from exc
    try:
        model.zero_grad(set_to_none=True)
        with torch.enable_grad(), _quiet(), _no_inplace(model):
            F.cross_entropy(gsm(x), y, reduction="sum").backward()
        return reduce_per_sample(getattr(w, "grad_sample", None) for w in scored_weights(model).values())
    except (NotImplementedError, RuntimeError, ValueError) as exc:  # e.g. a layer its hooks cannot handle
        raise CannotRun(_first_line(exc)) from exc
    finally:
        gsm._close()  # removes the hooks and the grad_sample attributes
        model.zero_grad(set_to_none=True)


def backpack(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """BackPACK BatchGrad on the summed loss, p.grad_batch: (n, *w.shape). `model` is extended in place
    (in-place activations switched off meanwhile; hooks removed after); where that fails (an in-place
    op on a hooked module's output, e.g. ResNet's `out += identity`), a deep copy with use_converter=True."""
    try:
        import backpack as bp
        from backpack.extensions import BatchGrad
    except Exception as exc:  # noqa: BLE001
        raise NotInstalled(f"backpack-for-pytorch: {_first_line(exc)}") from exc
    try:
        return _backpack_batch_grad(bp, BatchGrad, model, x, y, convert=False)
    except (NotImplementedError, RuntimeError) as exc:
        first = exc
    try:
        return _backpack_batch_grad(bp, BatchGrad, copy.deepcopy(model), x, y, convert=True)
    except Exception as exc:  # noqa: BLE001 - the converter's torch.fx tracing fails in many ways
        raise CannotRun(f"{_first_line(first)}; with use_converter=True: {_first_line(exc)}") from exc


def _backpack_batch_grad(bp, batch_grad, model: nn.Module, x: torch.Tensor, y: torch.Tensor, convert: bool) -> float:
    """One BackPACK pass; undoes extend after (hooks, flags, stored I/O, grad_batch)."""
    from backpack.context import CTX

    handles = len(CTX.hook_handles)
    try:
        model.zero_grad(set_to_none=True)
        with _no_inplace(model):
            net = bp.extend(model, use_converter=convert)
            loss_fn = bp.extend(nn.CrossEntropyLoss(reduction="sum"))
            with torch.enable_grad(), bp.backpack(batch_grad()), _quiet():
                loss_fn(net(x), y).backward()
        return reduce_per_sample(getattr(w, "grad_batch", None) for w in scored_weights(net).values())
    finally:
        for handle in CTX.hook_handles[handles:]:
            handle.remove()
        del CTX.hook_handles[handles:]
        for m in model.modules():
            m.__dict__.pop("_backpack_extend", None)
            bp.memory_cleanup(m)
        for p in model.parameters():
            if hasattr(p, "grad_batch"):
                del p.grad_batch
        model.zero_grad(set_to_none=True)


def gradsign_fast_score(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """gradsign_fast.score(model, x, y)."""
    return gradsign_fast.score(model, x, y)


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """One forward + backward of the batch (the floor of any batched method); nan: no score."""
    model.zero_grad(set_to_none=True)
    with torch.enable_grad():
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return math.nan


METHODS: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor], float]] = {
    "authors_loop": authors_loop,
    "torch_func_recipe": torch_func_recipe,
    "opacus": opacus,
    "backpack": backpack,
    "gradsign_fast": gradsign_fast_score,
    "train_step": train_step,
}
PEERS = ("authors_loop", "torch_func_recipe", "opacus", "backpack")  # compared with gradsign_fast
MAY_DIFFER_ON_BATCHNORM = ("opacus", "backpack")  # batch statistics: not the loop's per-sample gradients


def agrees(got: float, expected: float, rtol: float = RTOL) -> bool:
    """|got - expected| <= rtol * max(|expected|, 1); rtol=0: exactly equal."""
    return got == expected or abs(got - expected) <= rtol * max(abs(expected), 1.0)


def evaluate(method: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, expected: float,
             rtol: float = RTOL) -> tuple[str, float | None]:
    """Run `method` once -> (status, score). Status: "ok", "floor" (train_step), "not installed: ...",
    "cannot run: ...", "computes a different number: got vs expected" (expected on a batch-statistics
    BatchNorm net for opacus/backpack), or "MISMATCH: got vs expected" (a bug: should agree)."""
    try:
        got = METHODS[method](model, x, y)
    except NotInstalled as exc:
        return f"not installed: {exc}", None
    except CannotRun as exc:
        return f"cannot run: {exc}", None
    if method == "train_step":
        return "floor", None
    if agrees(got, expected, rtol):
        return "ok", got
    if method in MAY_DIFFER_ON_BATCHNORM and has_batch_statistics(model):
        return f"computes a different number: {got:.6g} vs {expected:.6g}", got
    return f"MISMATCH: {got:.6g} vs {expected:.6g}", got
