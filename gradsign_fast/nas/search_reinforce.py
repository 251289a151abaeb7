"""REINFORCE and the paper's G-REINFORCE on a benchmark table (xautodl's reinforce.py as the GradSign
authors modified it: their autodl/reinforce.py).

Policy: logits theta of shape (6 edges, 5 ops), theta0 = 1e-3 * N(0, 1); an arch takes one op per
edge, a_e ~ softmax(theta[e]) independently. Each step:

    a ~ pi_theta                        the sampled arch
    REINFORCE:    train a               -> reward r (the table's accuracy; cost charged to the budget)
    G-REINFORCE:  c_1..c_M = M one-edge mutations of a, train only argmax_j GradSign(c_j) -> r
    b = EMA(r; momentum 0.9), bias-corrected (numerator / denominator), updated with r BEFORE use
    loss = -log pi_theta(a) * (r - b);   one Adam step (lr 0.5, betas (0.9, 0.999), eps 1e-8)

    d loss / d theta[e] = -(onehot(a_e) - softmax(theta[e])) * (r - b)          shape (5,) per edge

So a reward above the baseline raises the probability of every sampled op. In G-REINFORCE the
update uses log pi(a) of the SAMPLED arch with the reward of the trained mutation, as the authors
do. A run returns the arch with the best reward trained (their `max(trace)`). Defaults: the
NAS-Bench-201 recipe the authors ran (`REINFORCE.sh 0.5`: lr 0.5, EMA momentum 0.9), M = 10.

Deliberate differences from the authors' loop: the arch whose training would overrun the budget is
not trained (theirs records it), and the policy update's wall time is not charged (theirs adds
it: milliseconds). On a table that is not all of NAS-Bench-201 (e.g. only the scored archs),
sampling rejects the archs the table lacks, i.e. draws from pi conditioned on the table; the update
still uses log pi(a).
"""

from __future__ import annotations

import math
import random
from typing import Sequence

from .nb201_arch import EDGES, NB201_OPS, format_arch, parse_arch

MAX_REJECTIONS = 100_000  # policy draws per step that may miss a table lacking most of the space
_OP_INDEX = {op: i for i, op in enumerate(NB201_OPS)}


class Policy:
    """Independent categorical per edge, trained with Adam on the REINFORCE loss (see module doc)."""

    def __init__(self, rng: random.Random, *, learning_rate: float = 0.5, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, n_edges: int = len(EDGES), n_ops: int = len(NB201_OPS)):
        if not (math.isfinite(learning_rate) and learning_rate > 0):
            raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
        self.theta = [[1e-3 * rng.gauss(0.0, 1.0) for _ in range(n_ops)] for _ in range(n_edges)]
        self.lr, self.betas, self.eps, self.steps = learning_rate, betas, eps, 0
        self._m = [[0.0] * n_ops for _ in range(n_edges)]
        self._v = [[0.0] * n_ops for _ in range(n_edges)]

    def probs(self) -> list[list[float]]:
        """softmax(theta[e]) for each edge: (6, 5) as nested lists."""
        out = []
        for row in self.theta:
            top = max(row)
            exps = [math.exp(x - top) for x in row]
            total = sum(exps)
            out.append([x / total for x in exps])
        return out

    def sample(self, rng: random.Random) -> tuple[int, ...]:
        """One op index per edge, a_e ~ softmax(theta[e]) (inverse CDF on one rng.random() per edge)."""
        actions = []
        for p in self.probs():
            u, acc, pick = rng.random(), 0.0, len(p) - 1
            for i, pi in enumerate(p):
                acc += pi
                if u < acc:
                    pick = i
                    break
            actions.append(pick)
        return tuple(actions)

    def log_prob(self, actions: Sequence[int]) -> float:
        """log pi_theta(a) = sum_e log softmax(theta[e])[a_e]."""
        return sum(math.log(p[a]) for p, a in zip(self.probs(), actions))

    def step(self, actions: Sequence[int], advantage: float) -> None:
        """One Adam step on loss = -log pi(actions) * advantage (torch.optim.Adam's update rule)."""
        b1, b2 = self.betas
        self.steps += 1
        c1, c2 = 1 - b1 ** self.steps, 1 - b2 ** self.steps
        for e, (p, a) in enumerate(zip(self.probs(), actions)):
            for i, pi in enumerate(p):
                g = -((1.0 if i == a else 0.0) - pi) * advantage
                self._m[e][i] = b1 * self._m[e][i] + (1 - b1) * g
                self._v[e][i] = b2 * self._v[e][i] + (1 - b2) * g * g
                self.theta[e][i] -= (self.lr / c1) * self._m[e][i] / (math.sqrt(self._v[e][i]) / math.sqrt(c2) + self.eps)


class MovingAverage:
    """Bias-corrected exponential moving average (xautodl's ExponentialMovingAverage)."""

    def __init__(self, momentum: float):
        if not 0 <= momentum < 1:
            raise ValueError(f"ema_momentum must be in [0, 1), got {momentum!r}")
        self.momentum, self._num, self._den = momentum, 0.0, 0.0

    def update(self, value: float) -> None:
        self._num = self.momentum * self._num + (1 - self.momentum) * value
        self._den = self.momentum * self._den + (1 - self.momentum)

    def value(self) -> float:
        return self._num / self._den


def actions_of(arch: str) -> tuple[int, ...]:
    """Op indices (into NB201_OPS) of an arch string's 6 edges."""
    return tuple(_OP_INDEX[op] for op in parse_arch(arch))


def _sample_in_table(policy: Policy, bench, rng: random.Random) -> tuple[tuple[int, ...], str]:
    """(actions, arch) drawn from the policy, redrawn until the table has the arch (see module doc)."""
    for _ in range(MAX_REJECTIONS):
        actions = policy.sample(rng)
        arch = format_arch([NB201_OPS[a] for a in actions])
        if arch in bench.accs:
            return actions, arch
    raise ValueError(f"the policy drew {MAX_REJECTIONS:,} archs in a row that the table of {len(bench.archs)} "
                     "archs lacks: REINFORCE needs a table covering much of NAS-Bench-201")


def reinforce(tracker, rng: random.Random, *, m: int = 10, learning_rate: float = 0.5,
              ema_momentum: float = 0.9) -> None:
    """Runs REINFORCE, or G-REINFORCE when tracker.scorer is set (train the best-scored of m mutations of
    the sampled arch), until tracker.train refuses (budget spent). tracker: search._Tracker, whose
    bench must hold NAS-Bench-201 arch strings; the caller reads the result off it."""
    bench = tracker.bench
    try:
        actions_of(bench.archs[0])
    except (TypeError, ValueError) as err:
        raise ValueError(f"REINFORCE samples NAS-Bench-201 cells; the table's archs are not ({err})") from None
    policy = Policy(rng, learning_rate=learning_rate)
    baseline = MovingAverage(ema_momentum)
    while True:
        actions, arch = _sample_in_table(policy, bench, rng)
        if tracker.scorer is not None:
            arch = tracker.best_scored([bench.mutate(arch, rng) for _ in range(m)])
        reward = tracker.train(arch)
        if reward is None:
            return
        baseline.update(reward)
        policy.step(actions, reward - baseline.value())
