// gemm_signs.h: the torch-free micro-kernels behind the fused per-sample GEMM + sign count (conv_signs_cpu.cpp).
//
// Math, for one tile of a layer's weight (bo output channels x bkp columns) and c samples s:
//   G_s[o, k]  = sum_l D_s[o, l] * U_s[l, k]           (the per-sample weight gradient, in registers only)
//   cnt[o, k] += sum_s sign(G_s[o, k]);  nan[o, k] |= any_s isnan(G_s[o, k])
// with sign / isnan as sign_core.h defines them (integer tests on the bit pattern: sign(+-0) =
// sign(NaN) = 0, subnormals and +-inf count; no flush-to-zero can change a count). The sum over l runs
// in order l = 0 .. L-1 with fused multiply-adds. `finite` kernels are for inputs the driver has checked
// (every D and U finite, L * max|D| * max|U| far from overflow): G is then finite, so sign(G) is
// (G > 0) - (G < 0) by two float compares and nothing is NaN.
// Operands (T = float or double):
//   D: D_s[o, l] = D[s * ds + o * dr + l]      in place (a contiguous gradient) or packed by the driver
//   U: U_s[l, k] = urows[s * L + l][k]         one row pointer per sample and position: into a packed
//                                              im2col block, into a channels-last copy of the input at
//                                              the tap's shifted position, or to a row of zeros (padding)
//   cnt: bo x bkp int32, nan: bo x bkp bytes (row o at o * bkp). Every U row holds bkp readable values,
//   bkp a multiple of the table's `step`; columns past the real ones hold zeros, so they count nothing.
#pragma once

#include <stdint.h>

#include "../sign_core.h"

namespace gradsign {
namespace cpu {

typedef void (*GemmSignsKernel)(const void* D, int64_t ds, int64_t dr, const void* const* urows, int64_t c,
                                int64_t bo, int64_t L, int64_t bkp, int32_t* cnt, uint8_t* nan);

struct GemmSignsTable {
  const char* isa;
  int64_t step[kNumDTypes];             // bkp must be a multiple of this (0: dtype not supported)
  GemmSignsKernel kernel[kNumDTypes];   // float32 and float64 only; nullptr for fp16 / bf16
  GemmSignsKernel finite[kNumDTypes];   // the same for G known to be finite: no NaN checks, float compares
};

const GemmSignsTable& scalar_gemm_signs();
const GemmSignsTable& avx2_gemm_signs();
const GemmSignsTable& avx512_gemm_signs();

}  // namespace cpu
}  // namespace gradsign
