"""csrc/ compiles with plain nvcc (no torch): the CUDA kernels, and sign_core.h's __host__ __device__
per-element functions, which a small host program checks bit pattern by bit pattern (no GPU needed).
Skips when nvcc is absent. The same program is also built with the host C++ compiler.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parents[1] / "csrc"
NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found")
pytestmark = pytest.mark.skipif(not (CSRC / "sign_core.h").exists(), reason="csrc/ is not next to tests/")
ARCH = "-arch=sm_80"  # known to every nvcc from CUDA 11 to 13

# (dtype, bit pattern, sign, isnan): zeros, subnormals, normals, infinities, quiet/signalling NaN
CASES = [
    ("kF16", 0x0000, 0, 0), ("kF16", 0x8000, 0, 0), ("kF16", 0x0001, 1, 0), ("kF16", 0x8001, -1, 0),
    ("kF16", 0x3C00, 1, 0), ("kF16", 0xBC00, -1, 0), ("kF16", 0x7C00, 1, 0), ("kF16", 0xFC00, -1, 0),
    ("kF16", 0x7C01, 0, 1), ("kF16", 0xFE00, 0, 1), ("kF16", 0x7BFF, 1, 0),
    ("kBF16", 0x0000, 0, 0), ("kBF16", 0x8000, 0, 0), ("kBF16", 0x0001, 1, 0), ("kBF16", 0x807F, -1, 0),
    ("kBF16", 0x7F80, 1, 0), ("kBF16", 0xFF80, -1, 0), ("kBF16", 0x7F81, 0, 1), ("kBF16", 0xFFC0, 0, 1),
    ("kF32", 0x00000000, 0, 0), ("kF32", 0x80000000, 0, 0), ("kF32", 0x00000001, 1, 0),
    ("kF32", 0x80000001, -1, 0), ("kF32", 0x3F800000, 1, 0), ("kF32", 0xBF800000, -1, 0),
    ("kF32", 0x7F800000, 1, 0), ("kF32", 0xFF800000, -1, 0), ("kF32", 0x7F800001, 0, 1),
    ("kF32", 0xFFC00000, 0, 1), ("kF32", 0x7F7FFFFF, 1, 0),
    ("kF64", 0x0, 0, 0), ("kF64", 0x8000000000000000, 0, 0), ("kF64", 0x1, 1, 0),
    ("kF64", 0x8000000000000001, -1, 0), ("kF64", 0x7FF0000000000000, 1, 0),
    ("kF64", 0xFFF0000000000000, -1, 0), ("kF64", 0x7FF0000000000001, 0, 1),
    ("kF64", 0xFFF8000000000000, 0, 1), ("kF64", 0xC000000000000000, -1, 0),
]
WORD = {"kF16": "uint16_t", "kBF16": "uint16_t", "kF32": "uint32_t", "kF64": "uint64_t"}


def _program() -> str:
    checks = "\n".join(
        f"  {{ {WORD[d]} b = ({WORD[d]}){bits:#x}ull; const bool nan = {'true' if nan else 'false'};"
        f" CHECK(sign_of_bits<{d}>(b) == {sign}); CHECK(isnan_of_bits<{d}>(b) == nan);"
        f" CHECK(sign_of(&b, {d}) == {sign}); CHECK(isnan_of(&b, {d}) == nan); }}"
        for d, bits, sign, nan in CASES
    )
    return f"""#include <stdio.h>
#include "sign_core.h"
using namespace gradsign;
static int failures = 0;
#define CHECK(x) do {{ if (!(x)) {{ printf("FAILED line %d: %s\\n", __LINE__, #x); ++failures; }} }} while (0)
#ifdef __CUDACC__
__global__ void device_use(const float* g, int* out) {{  // the same functions compile for the device
  out[threadIdx.x] = sign_of_bits<kF32>(__float_as_uint(g[threadIdx.x]));
}}
#endif
int main() {{
{checks}
  printf("%d failures\\n", failures);
  return failures != 0;
}}
"""


def _build_and_run(compiler: list[str], tmp_path: Path, suffix: str) -> None:
    source = tmp_path / f"sign_core_test{suffix}"
    source.write_text(_program())
    exe = tmp_path / "sign_core_test"
    build = subprocess.run([*compiler, f"-I{CSRC}", str(source), "-o", str(exe)], capture_output=True, text=True,
                           timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "0 failures" in out.stdout, out.stdout[-3000:]


@needs_nvcc
def test_kernels_compile_without_torch(tmp_path):
    out = subprocess.run(
        [NVCC, "-c", "-std=c++17", ARCH, f"-I{CSRC}", str(CSRC / "cuda" / "sign_reduce_kernels.cu"),
         "-o", str(tmp_path / "kernels.o")],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]


@needs_nvcc
def test_sign_core_host_device_functions_under_nvcc(tmp_path):
    _build_and_run([NVCC, "-std=c++17", ARCH], tmp_path, ".cu")


@pytest.mark.skipif(shutil.which("c++") is None, reason="no host C++ compiler")
def test_sign_core_under_host_compiler(tmp_path):
    _build_and_run(["c++", "-std=c++17", "-O2", "-x", "c++"], tmp_path, ".cpp")
