"""The batch tracker: every op that mixes samples is found, every per-sample op is let through, and the
tags it computes say exactly which sample each element belongs to."""

import random

import pytest
import torch
from torch.nn import functional as F

from gradsign_fast.engines.batch_dim import BatchDim
from gradsign_fast.engines.batch_tracker import BatchTracker

N = 6
W = torch.randn(3, 4, 3, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)


def _conv(x):
    return F.conv2d(x, W, padding=1)


MIXING = {
    "cumsum_along_batch": lambda x: torch.cumsum(_conv(x), 0),
    "batch_mean": lambda x: _conv(x) - _conv(x).mean(0, keepdim=True),
    "zero_valued_batch_sum": lambda x: _conv(x) + 0 * _conv(x).sum(0),
    "gradient_only_mixing": lambda x: _conv(x) + (_conv(x) - _conv(x).detach()).sum(0),
    "flip": lambda x: _conv(x).flip(0) * _conv(x),
    "roll": lambda x: torch.roll(_conv(x), 1, 0),
    "middle_rows": lambda x: (lambda h: torch.cat([h[:1], h[1:-1] + h[2:], h[-1:]]))(_conv(x)),
    "gram_matrix": lambda x: (lambda h: h.flatten(1) @ h.flatten(1).T)(_conv(x)),
    "permutation": lambda x: _conv(x)[torch.tensor([1, 0, 2, 3, 4, 5])],
    "softmax_over_batch": lambda x: _conv(x).softmax(0),
    "batchnorm_batch_stats": lambda x: F.batch_norm(_conv(x), None, None, training=True),
    "item_of_one_sample": lambda x: _conv(x) * _conv(x)[0].max().item(),
    "sort_over_batch": lambda x: _conv(x).sort(0).values,
    "view_splitting_the_batch": lambda x: _conv(x).reshape(2, N // 2, -1).sum(1),
    "stale_view": lambda x: (lambda b, v: (b.copy_(_conv(x)), v.sum(0))[1])(
        *(lambda b: (b, b[:, :2]))(torch.zeros(N, 3, 5, 5))),
    "gather_by_sample_index": lambda x: _conv(x).flatten(1).gather(0, torch.zeros(N, 75, dtype=torch.long)),
    "attention_across_batch": lambda x: F.scaled_dot_product_attention(*(_conv(x).flatten(1)[None, None],) * 3),
    "equal_reads_values_into_python": lambda x: _conv(x) * float(torch.equal(_conv(x)[0], _conv(x)[1])),
}

PER_SAMPLE = {
    "batchnorm_running_stats": lambda x: F.batch_norm(_conv(x), torch.zeros(3), torch.ones(3), training=False),
    "instance_norm": lambda x: F.instance_norm(_conv(x)),
    "group_norm": lambda x: F.group_norm(_conv(x), 3),
    "layer_norm": lambda x: F.layer_norm(_conv(x), (3, 5, 5)),
    "flatten_linear": lambda x: F.linear(_conv(x).flatten(1), torch.randn(7, 75)),
    "sequence_first_linear": lambda x: F.linear(_conv(x).flatten(2).permute(2, 0, 1), torch.randn(7, 3)),
    "circular_pad": lambda x: F.pad(_conv(x), (1, 1, 1, 1), mode="circular"),
    "reflect_pad": lambda x: F.pad(_conv(x), (1, 2, 0, 1), mode="reflect"),
    "softmax_over_channels": lambda x: _conv(x).softmax(1),
    "pool_and_upsample": lambda x: F.interpolate(F.max_pool2d(_conv(x), 2), scale_factor=2),
    "attention_per_sample": lambda x: F.scaled_dot_product_attention(*(_conv(x).flatten(2).transpose(1, 2),) * 3),
    "batch_merged_with_channels": lambda x: _conv(x).reshape(1, N * 3, 5, 5).relu().reshape(N, 3, 5, 5),
    "cat_and_stack_on_features": lambda x: torch.stack([torch.cat([_conv(x), x], 1), torch.cat([x, _conv(x)], 1)], 2),
    "constant_expanded_to_batch": lambda x: torch.cat([torch.zeros(1, 3, 5, 5).expand(N, -1, -1, -1), _conv(x)], 1),
    "embedding_of_sample_ids": lambda x: F.embedding(_conv(x).flatten(1).argmax(1), torch.randn(75, 4)),
    "dropout": lambda x: F.dropout(_conv(x), 0.5, training=True),
    "in_place_activation": lambda x: _conv(x).relu_().mul_(2),
    "index_features": lambda x: _conv(x)[:, torch.tensor([2, 0])],
    "gradient_mixing_free_topk": lambda x: _conv(x).flatten(1).topk(3, dim=1).values,
}


def _run(fn):
    x = torch.randn(N, 4, 5, 5, generator=torch.Generator().manual_seed(1))
    tracker = BatchTracker((x,), N)
    with torch.enable_grad(), tracker:
        out = fn(x)
    return tracker, out


@pytest.mark.parametrize("name", sorted(MIXING))
def test_mixing_is_found(name):
    tracker, _ = _run(MIXING[name])
    assert tracker.violation is not None


@pytest.mark.parametrize("name", sorted(PER_SAMPLE))
def test_per_sample_ops_pass(name):
    tracker, out = _run(PER_SAMPLE[name])
    assert tracker.violation is None, tracker.violation
    assert tracker.tag_of(out) is not None


def _sample_of(shape, tag: BatchDim, n):
    """The sample index of every element of a tensor of `shape` tagged `tag`."""
    index = torch.arange(shape[tag.dim]).div(tag.inner, rounding_mode="floor").remainder(n)
    view = [1] * len(shape)
    view[tag.dim] = shape[tag.dim]
    return index.view(view).expand(shape)


def _random_shape_op(rng, t):
    """One random view / permute / reshape of t."""
    kind = rng.choice(["permute", "flatten", "unflatten", "transpose", "unsqueeze"])
    if kind == "permute":
        perm = list(range(t.dim()))
        rng.shuffle(perm)
        return t.permute(perm)
    if kind == "flatten" and t.dim() >= 2:
        start = rng.randrange(t.dim() - 1)
        return t.flatten(start, start + 1)
    if kind == "unflatten":
        dims = [d for d in range(t.dim()) if t.shape[d] % 2 == 0]
        if dims:
            d = rng.choice(dims)
            return t.unflatten(d, (2, t.shape[d] // 2))
    if kind == "transpose" and t.dim() >= 2:
        return t.transpose(*rng.sample(range(t.dim()), 2))
    return t.unsqueeze(rng.randrange(t.dim() + 1))


@pytest.mark.parametrize("seed", range(40))
def test_tags_name_the_sample_of_every_element(seed):
    """Random chains of shape ops on a tensor whose elements hold their sample index: wherever the tracker
    still follows the samples, its tag gives exactly that index; where it gives up it says so."""
    rng = random.Random(seed)
    n = 4
    x = torch.arange(n, dtype=torch.float64).view(n, 1, 1).expand(n, 6, 2).contiguous()
    tracker = BatchTracker((x,), n)
    t = x
    for _ in range(6):
        with tracker:
            t = _random_shape_op(rng, t) + 0.0  # the add makes each step a new tensor
        if tracker.violation is not None:
            return  # gave up (e.g. the batch merged into a dim with others): sound, never wrong
        tag = tracker.tag_of(t)
        assert tag is not None
        assert torch.equal(t.to(torch.int64), _sample_of(t.shape, tag, n)), (tag, t.shape)
