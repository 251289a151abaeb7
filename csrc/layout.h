// layout.h: how a kernel reads g: (n, m) in place, one rule for the CPU and the CUDA implementations.
//
//   rows:  g[i, k] = p[i * ld + k]   unit column stride (row-major, row-strided views)
//   cols:  g[i, k] = p[k * ld + i]   unit row stride (transposed / column-major views)
//   copy:  neither stride is 1: the caller makes one contiguous copy and reads it as rows (ld = m)
// A dimension of size <= 1 has no meaningful stride: ld 0 then.
#pragma once

#include <stdint.h>

namespace gradsign {

struct Layout {
  bool cols;   // the cols kernel (else rows)
  int64_t ld;  // leading dimension in elements
  bool copy;   // read a contiguous copy of g instead of g
};

inline Layout plan_layout(int64_t n, int64_t m, int64_t stride0, int64_t stride1) {
  const bool unit_col = m <= 1 || stride1 == 1;
  const bool unit_row = n <= 1 || stride0 == 1;
  if (unit_col && (m > 1 || !unit_row)) return {false, n <= 1 ? 0 : stride0, false};
  if (unit_row) return {true, m <= 1 ? 0 : stride1, false};
  return {false, m, true};
}

}  // namespace gradsign
