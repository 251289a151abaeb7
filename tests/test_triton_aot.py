"""Every Triton kernel of the package compiled ahead of time for sm_90 and sm_80, on a machine without a GPU.

`triton.compile(ASTSource(fn, signature, constexprs), target=GPUTarget("cuda", cap, 32))` runs the whole
NVIDIA pipeline (ttir -> ttgir -> llir -> ptx -> cubin through ptxas) without a device, so a type error
(a dot of mismatched dtypes, an atomic on an unsupported type), a block shape the hardware cannot tile
or a tile that needs more shared memory than the GPU has surfaces here instead of on the first GPU run.
The signatures are the ones the launch code passes (dtypes, pointer types, constexpr block sizes from
the same helpers the launchers call): every config on sm_90, a cheaper subset on sm_80 (every kernel
and dtype, the largest tiles) to keep the test near half a minute of CPU time.
Kernels are found by reading the package's source for `triton.jit`: a new kernel without a case here
fails test_every_kernel_has_a_case. Skips (with the reason) where triton or its CUDA backend (ptxas)
cannot compile on this machine. The cache is a fresh temporary directory: nothing is reused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"sm_90": 90, "sm_80": 80}
SHARED_LIMIT = {90: 227 * 1024, 80: 163 * 1024}  # bytes of shared memory one block may use (H100, A100)
KERNELS = ("_sign_count_kernel", "_conv_sign_count_kernel", "_layer_signs_kernel")

pytestmark = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1",
                                reason="ahead-of-time compilation needs triton in compiled mode")


def _kernels_in_source() -> set[str]:
    """Names of the functions the package hands to triton.jit (decorated or called)."""
    names: set[str] = set()
    for path in (ROOT / "gradsign_fast").rglob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r"@triton\.jit(?:\([^)]*\))?\s*\ndef\s+(\w+)", text))
        names |= set(re.findall(r"triton\.jit\(\s*(\w+)\s*\)", text))
    return names


def test_every_kernel_has_a_case():
    assert _kernels_in_source() == set(KERNELS)


@pytest.fixture(scope="module")
def triton_aot(tmp_path_factory):
    """The triton module, with a fresh cache directory, once a trivial kernel compiles for sm_90 here."""
    triton = pytest.importorskip("triton")
    import triton.language as tl
    from triton.backends.compiler import GPUTarget

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRITON_CACHE_DIR", str(tmp_path_factory.mktemp("triton_cache")))

        def probe(x, n, BLOCK: tl.constexpr):
            i = tl.arange(0, BLOCK)
            tl.store(x + i, tl.load(x + i, mask=i < n) + 1, mask=i < n)

        try:
            src = triton.compiler.ASTSource(fn=triton.jit(probe), signature={"x": "*fp32", "n": "i32", "BLOCK": "constexpr"},
                                            constexprs={"BLOCK": 16})
            triton.compile(src, target=GPUTarget("cuda", 90, 32))
        except Exception as exc:  # no ptxas, another backend layout, another compile API
            pytest.skip(f"triton {triton.__version__} cannot compile for CUDA on this machine: {type(exc).__name__}: {exc}")
        yield triton


def _dtype_name(dtype) -> str:
    import torch

    return {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32", torch.float64: "fp64"}[dtype]


def _signature(fn, pointers: dict[str, str], constexprs: dict, ints: str = "i32") -> dict[str, str]:
    return {name: pointers.get(name, "constexpr" if name in constexprs else ints) for name in fn.arg_names}


def _sign_count_cases(cap: int):
    """The sign-reduction kernel as TritonSignReduce._launch calls it: every float dtype, accumulate
    (counts *i64, nan *u8) with int32 counters; on sm_90 also reduce (counts = nan = partial *i64),
    int64 counters (n >= 2**31) and the contiguous case (unit column stride, 16-byte aligned pointers)."""
    import torch
    import triton.language as tl

    from gradsign_fast.ops.triton_sign_reduce import _BITS, TritonSignReduce

    backend = TritonSignReduce(interpret=False)
    fn = backend._kernel
    dtypes = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
    for dtype in dtypes:
        bits, abs_mask, inf_bits = _BITS[dtype]
        for reduce in (False, True) if cap == 90 else (False,):
            for acc in (tl.int32, tl.int64) if cap == 90 and dtype == torch.float32 and reduce else (tl.int32,):
                constexprs = dict(BITS=bits, ABS_MASK=abs_mask, INF_BITS=inf_bits, ACC=acc, REDUCE=reduce,
                                  BLOCK_N=backend.BLOCK_N, BLOCK_M=backend.BLOCK_M)
                pointers = {"g_ptr": f"*{_dtype_name(dtype)}", "counts_ptr": "*i64",
                            "nan_ptr": "*i64" if reduce else "*u8", "partial_ptr": "*i64"}
                yield (f"{_dtype_name(dtype)}-{'reduce' if reduce else 'accumulate'}-{acc}", fn,
                       _signature(fn, pointers, constexprs), constexprs, {}, 4)
    if cap == 90:
        constexprs = dict(BITS=tl.int32, ABS_MASK=0x7FFFFFFF, INF_BITS=0x7F800000, ACC=tl.int32, REDUCE=False,
                          BLOCK_N=backend.BLOCK_N, BLOCK_M=backend.BLOCK_M, stride_m=1)
        signature = _signature(fn, {"g_ptr": "*fp32", "counts_ptr": "*i64", "nan_ptr": "*u8", "partial_ptr": "*i64"},
                               constexprs)
        aligned = {(fn.arg_names.index(p),): [["tt.divisibility", 16]] for p in ("g_ptr", "counts_ptr", "nan_ptr", "stride_n")}
        yield "fp32-accumulate-contiguous-aligned", fn, signature, constexprs, aligned, 4


def _conv_sign_count_cases(cap: int):
    """The per-sample GEMM + sign kernel as conv_sign_counts_ launches it (float32, int32 counters)."""
    from gradsign_fast.ops import triton_conv_signs as tcs

    fn = tcs._conv_sign_count_kernel
    blocks = sorted({tcs.gemm_blocks(o, k) for o in (1, 17) for k in (1, 17)})
    for block_o, block_k in blocks if cap == 90 else blocks[-1:]:
        constexprs = dict(BLOCK_O=block_o, BLOCK_K=block_k, BLOCK_L=32, SAMPLES=4)
        pointers = {"D": "*fp32", "U": "*fp32", "counts": "*i32", "nan": "*i32"}
        yield f"{block_o}x{block_k}", fn, _signature(fn, pointers, constexprs), constexprs, {}, 4


def _layer_signs_cases(cap: int):
    """The per-layer implicit-im2col kernel as conv_weight_signs_ launches it: every (dtype, block) config
    layer_blocks can choose (sm_90; the largest per dtype on sm_80), each weight used once (sign in the
    kernel) and, for the largest config on sm_90, the partial-sum mode of a weight used by several calls
    (load + add + store; the first / last calls' modes are each half of it)."""
    import triton.language as tl

    from gradsign_fast.ops import triton_conv_signs as tcs

    fn = tcs._layer_signs_kernel
    configs = tcs.aot_configs()
    largest = {dtype: max(c for c in configs if c[0] == dtype) for dtype, *_ in configs}
    for config in configs if cap == 90 else sorted(largest.values(), key=str):
        dtype, block_o, block_k, block_l, warps = config
        modes = [(False, False)] + ([(True, True)] if cap == 90 and config == largest[dtype] else [])
        for partial_in, partial_out in modes:
            name = _dtype_name(dtype)
            constexprs = dict(ACC=getattr(tl, {"fp32": "float32", "fp64": "float64"}[name]), PARTIAL_IN=partial_in,
                              PARTIAL_OUT=partial_out, BLOCK_O=block_o, BLOCK_K=block_k, BLOCK_L=block_l)
            pointers = {"X": f"*{name}", "D": f"*{name}", "P": f"*{name}", "counts": "*i64", "nan": "*u8"}
            yield (f"{name}-{block_o}x{block_k}x{block_l}-in{int(partial_in)}out{int(partial_out)}", fn,
                   _signature(fn, pointers, constexprs), constexprs, {}, warps)


CASES = {"_sign_count_kernel": _sign_count_cases, "_conv_sign_count_kernel": _conv_sign_count_cases,
         "_layer_signs_kernel": _layer_signs_cases}


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_compiles_for_the_target(triton_aot, kernel, target):
    from triton.backends.compiler import GPUTarget

    cap = TARGETS[target]
    cases = list(CASES[kernel](cap))
    assert cases
    for label, fn, signature, constexprs, attrs, warps in cases:
        src = triton_aot.compiler.ASTSource(fn=fn, signature=signature, constexprs=constexprs, attrs=attrs)
        try:
            out = triton_aot.compile(src, target=GPUTarget("cuda", cap, 32), options={"num_warps": warps})
        except Exception as exc:
            raise AssertionError(f"{kernel} [{label}] does not compile for {target}: {type(exc).__name__}: {exc}") from exc
        assert out.asm.get("ptx") and f".target {target}" in out.asm["ptx"], (kernel, label)
        assert len(out.asm.get("cubin", b"")) > 0, (kernel, label)
        assert out.metadata.name == kernel and out.metadata.num_warps == warps, (kernel, label)
        assert out.metadata.shared <= SHARED_LIMIT[cap], (kernel, label, out.metadata.shared)
