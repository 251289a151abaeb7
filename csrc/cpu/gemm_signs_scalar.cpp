// gemm_signs_scalar.cpp: the portable per-sample GEMM + sign-count micro-kernels (any CPU), over one
// lane at a time. std::fma rounds once, like the SIMD fused multiply-adds: every instruction set gives
// the same G_s, hence the same counts.
#include <string.h>

#include <cmath>

#include "gemm_signs.h"

namespace gradsign {
namespace cpu {
namespace {

#include "gemm_signs_impl.h"

template <class Tv, int D> struct ScalarLanes {
  using T = Tv;
  static constexpr int W = 1, R = 4;
  typedef Tv vec;
  typedef int32_t ivec;
  static inline vec zero() { return 0; }
  static inline vec load(const T* p) { return *p; }
  static inline vec bcast(const T* p) { return *p; }
  static inline vec fma(vec a, vec b, vec c) { return std::fma(a, b, c); }
  static inline ivec izero() { return 0; }
  static inline typename Bits<D>::word bits(vec g) {
    typename Bits<D>::word b;
    memcpy(&b, &g, sizeof b);
    return b;
  }
  static inline void count(vec g, ivec& cnt, bool& bad) {
    const typename Bits<D>::word b = bits(g);
    cnt += sign_of_bits<D>(b);
    bad |= isnan_of_bits<D>(b);
  }
  static inline void count_finite(vec g, ivec& cnt) { cnt += (g > 0) - (g < 0); }
  static inline void add_store(int32_t* dst, ivec cnt) { *dst += cnt; }
  static inline void nan_lanes(vec g, uint8_t* flags) {
    if (isnan_of_bits<D>(bits(g))) *flags = 1;
  }
};

}  // namespace

const GemmSignsTable& scalar_gemm_signs() {
  static const GemmSignsTable table =
      make_gemm_signs_table<ScalarLanes<float, kF32>, ScalarLanes<double, kF64>>("scalar");
  return table;
}

}  // namespace cpu
}  // namespace gradsign
