"""Property tests: the integer reductions agree with numpy's nansum/nanmean of |sum_i np.sign(G)|
on matrices full of zeros, -0.0, NaN, +-inf and denormals, in one shot or in chunks."""

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradsign_fast import ops, reference

SPECIAL = [0.0, -0.0, math.nan, math.inf, -math.inf, 1e-45, -1e-45, 1e-40, -3e-39, 1.0, -2.5]
elements = st.one_of(st.sampled_from(SPECIAL), st.floats(width=32, allow_nan=True, allow_infinity=True))
matrices = hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9), elements=elements)


@settings(max_examples=200, deadline=None)
@given(matrices)
def test_sign_reduce_is_numpys_nansum(g):
    assert ops.sign_reduce(torch.from_numpy(g), backend="torch") == reference.score_of_matrix(g, "sum")


@settings(max_examples=200, deadline=None)
@given(matrices, st.integers(1, 4))
def test_chunked_accumulation_is_one_shot(g, chunk):
    acc = ops.ColumnSignCounts(g.shape[1], backend="torch")
    for start in range(0, g.shape[0], chunk):
        acc.add(torch.from_numpy(g[start : start + chunk]))
    assert acc.result("sum") == reference.score_of_matrix(g, "sum")
    mean, expected = acc.result("mean"), reference.score_of_matrix(g, "mean")
    assert (math.isnan(mean) and math.isnan(expected)) or mean == expected


@settings(max_examples=100, deadline=None)
@given(matrices, st.sampled_from([torch.float16, torch.bfloat16, torch.float64]))
def test_other_dtypes_follow_the_sign_of_their_own_values(g, dtype):
    t = torch.from_numpy(g).to(dtype)
    as_numpy = t.double().numpy()  # exact: every fp16/bf16 value is a float64 value
    assert ops.sign_reduce(t, backend="torch") == reference.score_of_matrix(as_numpy, "sum")


def test_all_nan_columns_mean_is_nan_and_sum_is_zero():
    g = torch.full((3, 4), float("nan"))
    acc = ops.ColumnSignCounts(4, backend="torch")
    acc.add(g)
    assert acc.result("sum") == 0 and math.isnan(acc.result("mean"))
