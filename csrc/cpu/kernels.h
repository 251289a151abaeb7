// kernels.h: the torch-free interface between the CPU dispatcher and one instruction set's kernels.
//
// Each instruction set (scalar, avx2, avx512) supplies, for every element type, two serial kernels
// that ADD sign sums into int64 counts and OR NaN marks into byte flags, for an n x m block of g:
//   rows kernel: g[i, k] = p[i * ld + k]   (unit column stride: row-major, row-strided views)
//   cols kernel: g[i, k] = p[k * ld + i]   (unit row stride: transposed / column-major views)
// counts[k] += sum_i sign(g[i, k]);  nan[k] |= any_i isnan(g[i, k]),  for k in [0, m)
// (sign and isnan as in sign_core.h: sign(+-0) = sign(NaN) = 0, subnormals and +-inf count).
// Kernels never allocate; at most `max_rows` rows are summed in int32 before a flush to int64.
#pragma once

#include <stdint.h>

#include "../sign_core.h"

namespace gradsign {
namespace cpu {

typedef void (*BlockKernel)(const void* p, int64_t n, int64_t m, int64_t ld, int64_t max_rows,
                            int64_t* counts, uint8_t* nan);

struct KernelTable {
  const char* isa;                 // "scalar", "avx2" or "avx512"
  BlockKernel rows[kNumDTypes];    // indexed by gradsign::DType
  BlockKernel cols[kNumDTypes];
};

// Each returns its table; the avx2 / avx512 ones only run where the CPU has those instructions.
const KernelTable& scalar_kernels();
const KernelTable& avx2_kernels();
const KernelTable& avx512_kernels();

// Rows per int32 accumulation before a flush into int64 counts (int32 holds +-2^31 - 1).
constexpr int64_t kMaxRowsPerFlush = int64_t(1) << 30;

}  // namespace cpu
}  // namespace gradsign
