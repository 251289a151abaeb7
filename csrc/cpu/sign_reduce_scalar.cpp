// sign_reduce_scalar.cpp: the portable kernels (any CPU; baseline ISA of the build, no intrinsics).
//
// Math: rows: counts[k] += sum_i sign(p[i*ld + k]); cols: counts[k] += sum_i sign(p[k*ld + i]);
//       nan[k] |= any_i isnan(...), with sign/isnan from sign_core.h (integer tests on the bits).
#include "kernels.h"

namespace gradsign {
namespace cpu {
namespace {

constexpr int64_t kScalarTile = 1024;  // columns whose int32 sums stay in L1 while rows stream by

template <int D>
void rows_kernel(const void* pv, int64_t n, int64_t m, int64_t ld, int64_t max_rows,
                 int64_t* counts, uint8_t* nan) {
  typedef typename Bits<D>::word word;
  const word* p = static_cast<const word*>(pv);
  int32_t acc[kScalarTile];
  uint8_t bad[kScalarTile];
  for (int64_t r0 = 0; r0 < n; r0 += max_rows) {
    const int64_t r1 = n - r0 > max_rows ? r0 + max_rows : n;
    for (int64_t c0 = 0; c0 < m; c0 += kScalarTile) {
      const int64_t width = m - c0 < kScalarTile ? m - c0 : kScalarTile;
      for (int64_t k = 0; k < width; ++k) {
        acc[k] = 0;
        bad[k] = 0;
      }
      for (int64_t i = r0; i < r1; ++i) {
        const word* row = p + i * ld + c0;
        for (int64_t k = 0; k < width; ++k) {
          acc[k] += sign_of_bits<D>(row[k]);
          bad[k] |= static_cast<uint8_t>(isnan_of_bits<D>(row[k]));
        }
      }
      for (int64_t k = 0; k < width; ++k) {
        counts[c0 + k] += acc[k];
        nan[c0 + k] |= bad[k];
      }
    }
  }
}

template <int D>
void cols_kernel(const void* pv, int64_t n, int64_t m, int64_t ld, int64_t /*max_rows*/,
                 int64_t* counts, uint8_t* nan) {
  typedef typename Bits<D>::word word;
  const word* p = static_cast<const word*>(pv);
  for (int64_t k = 0; k < m; ++k) {
    const word* col = p + k * ld;
    int64_t total = 0;  // int64 throughout: no flush needed
    uint8_t bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      total += sign_of_bits<D>(col[i]);
      bad |= static_cast<uint8_t>(isnan_of_bits<D>(col[i]));
    }
    counts[k] += total;
    nan[k] |= bad;
  }
}

}  // namespace

const KernelTable& scalar_kernels() {
  static const KernelTable table = {
      "scalar",
      {rows_kernel<kF16>, rows_kernel<kBF16>, rows_kernel<kF32>, rows_kernel<kF64>},
      {cols_kernel<kF16>, cols_kernel<kBF16>, cols_kernel<kF32>, cols_kernel<kF64>}};
  return table;
}

}  // namespace cpu
}  // namespace gradsign
