"""gradsign_fast: GradSign (Zhang & Jia, ICLR 2022), exact and fast.

    score(model, inputs, targets)   the authors' number, from per-sample gradients reduced to signs
    sign_sums(...)                  what the score is made of: per-parameter integer column sign sums
    reference.score(...)            the authors' per-sample loop, the oracle of the tests
    ops.sign_reduce(g)              sum_k |sum_i sign(g[i, k])| for one (n, m) matrix
    backends(), info()              what runs in this process, and what was built
"""

from __future__ import annotations

from . import ops, reference
from ._version import __version__
from .api import score, sign_sums
from .errors import CannotScoreExactly
from .info import info
from .ops import backends
from .sums import SignSums

__all__ = ["CannotScoreExactly", "SignSums", "__version__", "backends", "info", "ops", "reference", "score", "sign_sums"]
