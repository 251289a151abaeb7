"""The fused Triton per-sample GEMM + sign-count kernel (ops/triton_conv_signs.py), run on the CPU by
Triton's interpreter (TRITON_INTERPRET=1 must be set before triton is imported: a subprocess), against
the CPU path (per-sample gradients reduced by ColumnSignCounts)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("triton")
ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import torch
    from torch import nn
    from gradsign_fast.ops import triton_conv_signs as tcs
    from gradsign_fast.engines.capture import CallRecorder
    from gradsign_fast.engines.conv_rule import per_sample_weight_grads

    def reference(d, u):
        g = torch.einsum("igol,igkl->igok", d.double(), u.double()).float()  # rounded like a float32 GEMM
        return torch.sign(g).sum(0).reshape(-1).long(), torch.isnan(g).any(0).reshape(-1)

    torch.manual_seed(0)
    for n, g, o, k, L in [(3, 1, 5, 7, 20), (5, 2, 17, 3, 33), (2, 4, 1, 9, 40), (4, 1, 33, 70, 5)]:
        d = torch.randn(n, g, o, L)
        u = torch.randn(n, g, L, k).transpose(2, 3)  # strided, like the Linear factors
        if n == 5:
            d[1, 0, 2, 4] = float("nan")
        counts = torch.zeros(g * o * k, dtype=torch.int32)
        nan = torch.zeros(g * o * k, dtype=torch.int32)
        tcs.conv_sign_counts_(d, u, counts, nan, samples_per_program=2)
        want_counts, want_nan = reference(d, u)
        ok = ~want_nan
        assert torch.equal(nan.bool(), want_nan), (n, g, o, k, L)
        agree = (counts.long()[ok] == want_counts[ok]).float().mean().item()
        assert agree > 0.999, agree  # float32 summation order may flip a sign near zero

    # the conv rule with the 'triton' backend on real captured calls (a reused grouped conv and a Linear on
    # sequences): it takes the backend's fused per_sample_gemm_signs_ path
    from gradsign_fast.ops import ColumnSignCounts
    from gradsign_fast.engines.conv_rule import accumulate_weight_signs
    conv = nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=1, groups=2, padding_mode="reflect")
    lin = nn.Linear(5, 3)
    x = torch.randn(3, 4, 6, 7)
    seq = torch.randn(3, 4, 5)
    with CallRecorder([conv, lin]) as rec:
        z1 = conv(x)
        z2 = conv(torch.randn(3, 4, 6, 7))
        z3 = lin(seq)
    for module, shapes in ((conv, (z1, z2)), (lin, (z3,))):
        calls = rec.calls[id(module)]
        grads = [torch.randn_like(z) for z in shapes]
        sums = ColumnSignCounts(module.weight.numel(), backend="triton")
        assert hasattr(sums.backend, "per_sample_gemm_signs_")
        accumulate_weight_signs(calls, grads, sums, None, 1 << 30, False)
        counts, nan = sums.counts, sums.nan
        with torch.no_grad():
            G = per_sample_weight_grads(calls, grads, 0, 3)
        want = torch.sign(G).sum(0).long()
        assert (counts == want).float().mean().item() > 0.99, (counts, want)
        assert not nan.any()

    # the batched engine with the 'triton' backend (fused kernel) against the authors' loop
    import gradsign_fast
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, groups=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, stride=2, groups=2), nn.Flatten(), nn.Linear(36, 3))
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 1])
    got = gradsign_fast.score(model, x, y, engine="batched", backend="triton")
    expected = gradsign_fast.reference.score(model, x, y)
    assert abs(got - expected) <= 1e-3 * expected, (got, expected)
    print("OK")
    """
)


def test_fused_kernel_matches_cpu_path_in_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
