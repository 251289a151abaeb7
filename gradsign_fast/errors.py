"""The exceptions gradsign_fast raises on purpose (everything else is a plain ValueError / TypeError)."""

from __future__ import annotations


class CannotScoreExactly(RuntimeError):
    """An engine cannot give the authors' exact number for this model (and says why).

    engine="auto" catches it and moves on to the next engine (batched -> functorch -> loop), noting why
    on the returned SignSums (`.notes`); an engine asked for explicitly raises it to the caller.
    torch.func's refusals (data-dependent control flow, .item(), in-place writes of per-sample values
    into shared tensors) reach the caller as this type too, chained to torch's own error.
    """


class InferenceModeError(ValueError, RuntimeError):
    """score() was called under torch.inference_mode, where no gradient can be formed."""
