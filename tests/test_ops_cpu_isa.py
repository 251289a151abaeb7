"""The 'cpp' backend's instruction-set choice: GRADSIGN_CPU_ISA forces each path, all paths agree,
the int32 -> int64 flush is exact, and the thread split (columns or rows) does not change a result.
"""

from __future__ import annotations

import pytest
import torch

from gradsign_fast.ops import registry
from test_ops_cases import DTYPES, LAYOUTS, reference, run, special_matrix, with_layout

ISAS = ("scalar", "avx2", "avx512")


@pytest.fixture
def cpp():
    backend = registry.load("cpp")
    if backend is None:
        pytest.skip(f"cpp extension not available: {registry.reasons().get('cpp')}")
    return backend


def test_auto_picks_the_widest_supported(cpp, monkeypatch):
    monkeypatch.delenv("GRADSIGN_CPU_ISA", raising=False)
    supported = cpp.supported_isas()
    assert supported[0] == "scalar" and set(supported) <= set(ISAS)
    assert cpp.active_isa() == supported[-1]
    monkeypatch.setenv("GRADSIGN_CPU_ISA", "auto")
    assert cpp.active_isa() == supported[-1]


@pytest.mark.parametrize("isa", ISAS)
def test_forcing_an_isa(cpp, isa, monkeypatch):
    monkeypatch.setenv("GRADSIGN_CPU_ISA", isa)
    g = special_matrix(20, 50, torch.float32)
    if isa in cpp.supported_isas():
        assert cpp.active_isa() == isa
        assert cpp.sign_reduce(g) == reference(g)[2]
    else:
        with pytest.raises(RuntimeError, match=f"GRADSIGN_CPU_ISA={isa} but this CPU lacks"):
            cpp.sign_reduce(g)


def test_unknown_isa_is_a_value_error(cpp, monkeypatch):
    monkeypatch.setenv("GRADSIGN_CPU_ISA", "sse9")
    with pytest.raises(ValueError, match="GRADSIGN_CPU_ISA must be"):
        cpp.sign_reduce(torch.ones(2, 2))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("layout", ("contiguous", "transposed"))
def test_int32_flush_every_few_rows(cpp, isa, layout, monkeypatch):
    """With at most 7 rows per int32 pass, every partial flush into int64 must add up exactly."""
    if isa not in cpp.supported_isas():
        pytest.skip(f"this CPU lacks {isa}")
    monkeypatch.setenv("GRADSIGN_CPU_ISA", isa)
    from gradsign_fast import _C

    old = _C._set_max_rows_per_flush(7)
    try:
        for dtype in DTYPES:
            for n, m in ((100, 37), (7, 19), (8, 3000), (50, 1)):
                g = with_layout(special_matrix(n, m, dtype, seed=n), layout)
                got, want = run(cpp, g), reference(g)
                assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1]) and got[2] == want[2]
    finally:
        _C._set_max_rows_per_flush(old)


@pytest.mark.parametrize("threads", (1, 2, 3))
@pytest.mark.parametrize("shape", ((300_000, 3), (3, 300_000), (2000, 700)), ids=str)
def test_thread_splits_agree(cpp, threads, shape, monkeypatch):
    """Row-split (few columns) and column-split paths, with 1..3 threads, give the same integers."""
    monkeypatch.delenv("GRADSIGN_CPU_ISA", raising=False)
    before = torch.get_num_threads()
    g = special_matrix(*shape, torch.float32, seed=1)
    want = reference(g)
    torch.set_num_threads(threads)
    try:
        for layout in LAYOUTS[:2]:
            got = run(cpp, with_layout(g, layout))
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1]) and got[2] == want[2]
    finally:
        torch.set_num_threads(before)


def test_info_reports_the_isa(cpp, monkeypatch):
    import gradsign_fast

    monkeypatch.setenv("GRADSIGN_CPU_ISA", "scalar")
    report = gradsign_fast.info()["cpu_isa"]
    assert report["active"] == "scalar" and report["forced"] == "scalar"
    assert report["supported"] == cpp.supported_isas()
