// sign_reduce_avx512.cpp: AVX-512 (F+BW+VL+DQ) lane policies for kernels_impl.h; runs only where
// the dispatcher saw those instructions (sign_reduce_cpu.cpp), compiled via `#pragma GCC target`
// so one build serves every x86-64 CPU.
//
// Math per lane, on the bit pattern x (16-bit types sign-extended to 32 bits):
//   a = x & abs_mask;  acc += (0 < a <= bits(+inf)) ? (x >> sign_bit | 1) : 0;  nan |= a > bits(+inf).
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,avx512f,avx512bw,avx512vl,avx512dq")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // gcc 12 false positive in avx512fintrin.h

namespace gradsign {
namespace cpu {
namespace {

#include "kernels_impl.h"

#include "lanes_avx2.h"

// fp16 / bf16 / fp32: 16 lanes of int32 counts, NaN flags in a k-mask.
template <int D> struct Lanes32 {
  typedef typename Bits<D>::word word;
  static constexpr int W = 16;
  typedef __m512i acc_t;
  typedef __mmask16 mask_t;
  static inline acc_t zero_acc() { return _mm512_setzero_si512(); }
  static inline mask_t zero_mask() { return 0; }
  static inline __m512i load(const word* p) {
    if constexpr (sizeof(word) == 2) {
      return _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    } else {
      return _mm512_loadu_si512(p);
    }
  }
  static inline void step(const word* p, acc_t& acc, mask_t& nan) {
    const __m512i x = load(p);
    const __m512i a = _mm512_and_si512(x, _mm512_set1_epi32(static_cast<int>(Bits<D>::abs_mask)));
    const __m512i inf = _mm512_set1_epi32(static_cast<int>(Bits<D>::inf));
    const __mmask16 counted = _mm512_mask_cmple_epi32_mask(_mm512_test_epi32_mask(a, a), a, inf);
    const __m512i s = _mm512_or_si512(_mm512_srai_epi32(x, 31), _mm512_set1_epi32(1));
    acc = _mm512_mask_add_epi32(acc, counted, acc, s);
    nan |= _mm512_cmpgt_epi32_mask(a, inf);
  }
  static inline void flush(acc_t acc, mask_t nan, int64_t* counts, uint8_t* flags) {
    int64_t* c = counts;
    const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc));
    const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc, 1));
    _mm512_storeu_si512(c, _mm512_add_epi64(_mm512_loadu_si512(c), lo));
    _mm512_storeu_si512(c + 8, _mm512_add_epi64(_mm512_loadu_si512(c + 8), hi));
    if (nan) {
      const __m128i f = _mm_loadu_si128(reinterpret_cast<const __m128i*>(flags));
      const __m128i set = _mm_maskz_mov_epi8(nan, _mm_set1_epi8(1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(flags), _mm_or_si128(f, set));
    }
  }
  // The lanes hold at most max_rows <= 2^30 signs in all: an int32 sum is exact.
  static inline int64_t hsum(acc_t acc) { return _mm512_reduce_add_epi32(acc); }
  static inline bool any(mask_t nan) { return nan != 0; }
};

// fp64: 8 lanes of int64 counts.
struct Lanes64 {
  typedef uint64_t word;
  static constexpr int W = 8;
  typedef __m512i acc_t;
  typedef __mmask8 mask_t;
  static inline acc_t zero_acc() { return _mm512_setzero_si512(); }
  static inline mask_t zero_mask() { return 0; }
  static inline void step(const word* p, acc_t& acc, mask_t& nan) {
    const __m512i x = _mm512_loadu_si512(p);
    const __m512i a = _mm512_and_si512(x, _mm512_set1_epi64(static_cast<long long>(Bits<kF64>::abs_mask)));
    const __m512i inf = _mm512_set1_epi64(static_cast<long long>(Bits<kF64>::inf));
    const __mmask8 counted = _mm512_mask_cmple_epi64_mask(_mm512_test_epi64_mask(a, a), a, inf);
    const __m512i s = _mm512_or_si512(_mm512_srai_epi64(x, 63), _mm512_set1_epi64(1));
    acc = _mm512_mask_add_epi64(acc, counted, acc, s);
    nan |= _mm512_cmpgt_epi64_mask(a, inf);
  }
  static inline void flush(acc_t acc, mask_t nan, int64_t* counts, uint8_t* flags) {
    _mm512_storeu_si512(counts, _mm512_add_epi64(_mm512_loadu_si512(counts), acc));
    if (nan) {
      for (int j = 0; j < W; ++j) flags[j] |= static_cast<uint8_t>((nan >> j) & 1);
    }
  }
  static inline int64_t hsum(acc_t acc) { return _mm512_reduce_add_epi64(acc); }
  static inline bool any(mask_t nan) { return nan != 0; }
};

// Plain (non-template) entry points, so every instantiation is compiled under this target.
void rows_f16(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { rows_kernel<Lanes32<kF16>>(p, n, m, ld, r, c, f); }
void rows_bf16(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { rows_kernel<Lanes32<kBF16>>(p, n, m, ld, r, c, f); }
void rows_f32(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { rows_kernel<Lanes32<kF32>>(p, n, m, ld, r, c, f); }
void rows_f64(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { rows_kernel<Lanes64>(p, n, m, ld, r, c, f); }
// cols kernels: 256-bit lanes (lanes_avx2.h, EVEX-encoded here). A column of a transposed view is
// short (n samples) and each one ends in a horizontal sum: measured on (64, 4M) and (16, 16M) fp32,
// 512-bit lanes were no faster at n = 64 and 1.7x slower at n = 16.
void cols_f16(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { cols_kernel<Lanes32x8<kF16>>(p, n, m, ld, r, c, f); }
void cols_bf16(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { cols_kernel<Lanes32x8<kBF16>>(p, n, m, ld, r, c, f); }
void cols_f32(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { cols_kernel<Lanes32x8<kF32>>(p, n, m, ld, r, c, f); }
void cols_f64(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { cols_kernel<Lanes64x4>(p, n, m, ld, r, c, f); }

}  // namespace
}  // namespace cpu
}  // namespace gradsign

#pragma GCC diagnostic pop
#pragma GCC pop_options

namespace gradsign {
namespace cpu {
const KernelTable& avx512_kernels() {
  static const KernelTable table = {"avx512",
                                    {rows_f16, rows_bf16, rows_f32, rows_f64},
                                    {cols_f16, cols_bf16, cols_f32, cols_f64}};
  return table;
}
}  // namespace cpu
}  // namespace gradsign

#else  // not x86-64 with GCC/Clang: never selected (the dispatcher checks the CPU first)
namespace gradsign {
namespace cpu {
const KernelTable& avx512_kernels() { return scalar_kernels(); }
}  // namespace cpu
}  // namespace gradsign
#endif
