// gemm_signs_avx2.cpp: AVX2 + FMA lane policies of the per-sample GEMM + sign-count micro-kernels
// (gemm_signs_impl.h); run only where the dispatcher saw AVX2, compiled via `#pragma GCC target`.
//
// Math per lane, on the bit pattern x of G:  a = x & abs_mask;
//   cnt += (0 < a <= bits(+inf)) ? (x < 0 ? -1 : +1) : 0;  bad |= a > bits(+inf)          (sign_core.h)
#include <string.h>

#include "gemm_signs.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace gradsign {
namespace cpu {
namespace {

#include "gemm_signs_impl.h"

// float32: 8 lanes; counters are 8 int32 lanes.
struct F32 {
  using T = float;
  static constexpr int W = 8, R = 2;
  typedef __m256 vec;
  typedef __m256i ivec;
  static inline vec zero() { return _mm256_setzero_ps(); }
  static inline vec load(const T* p) { return _mm256_loadu_ps(p); }
  static inline vec bcast(const T* p) { return _mm256_broadcast_ss(p); }
  static inline vec fma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
  static inline ivec izero() { return _mm256_setzero_si256(); }
  static inline __m256i nan_mask(__m256i a) { return _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x7f800000)); }
  static inline void count(vec g, ivec& cnt, bool& bad) {
    const __m256i x = _mm256_castps_si256(g);
    const __m256i a = _mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff));
    const __m256i nan = nan_mask(a);
    const __m256i skip = _mm256_or_si256(_mm256_cmpeq_epi32(a, _mm256_setzero_si256()), nan);
    const __m256i s = _mm256_or_si256(_mm256_srai_epi32(x, 31), _mm256_set1_epi32(1));
    cnt = _mm256_add_epi32(cnt, _mm256_andnot_si256(skip, s));
    bad |= !_mm256_testz_si256(nan, nan);
  }
  static inline void count_finite(vec g, ivec& cnt) {  // compare masks are all-ones (-1) lanes
    const __m256 z = _mm256_setzero_ps();
    cnt = _mm256_sub_epi32(cnt, _mm256_castps_si256(_mm256_cmp_ps(g, z, _CMP_GT_OQ)));
    cnt = _mm256_add_epi32(cnt, _mm256_castps_si256(_mm256_cmp_ps(g, z, _CMP_LT_OQ)));
  }
  static inline void add_store(int32_t* dst, ivec cnt) {
    __m256i* p = reinterpret_cast<__m256i*>(dst);
    _mm256_storeu_si256(p, _mm256_add_epi32(_mm256_loadu_si256(p), cnt));
  }
  static inline void nan_lanes(vec g, uint8_t* flags) {
    const __m256i a = _mm256_and_si256(_mm256_castps_si256(g), _mm256_set1_epi32(0x7fffffff));
    const int m = _mm256_movemask_ps(_mm256_castsi256_ps(nan_mask(a)));
    for (int w = 0; w < W; ++w) flags[w] |= static_cast<uint8_t>((m >> w) & 1);
  }
};

// float64: 4 lanes; counters are 4 int64 lanes, narrowed to int32 when stored.
struct F64 {
  using T = double;
  static constexpr int W = 4, R = 2;
  typedef __m256d vec;
  typedef __m256i ivec;
  static inline vec zero() { return _mm256_setzero_pd(); }
  static inline vec load(const T* p) { return _mm256_loadu_pd(p); }
  static inline vec bcast(const T* p) { return _mm256_broadcast_sd(p); }
  static inline vec fma(vec a, vec b, vec c) { return _mm256_fmadd_pd(a, b, c); }
  static inline ivec izero() { return _mm256_setzero_si256(); }
  static inline __m256i nan_mask(__m256i a) {
    return _mm256_cmpgt_epi64(a, _mm256_set1_epi64x(0x7ff0000000000000LL));
  }
  static inline void count(vec g, ivec& cnt, bool& bad) {
    const __m256i x = _mm256_castpd_si256(g);
    const __m256i a = _mm256_and_si256(x, _mm256_set1_epi64x(0x7fffffffffffffffLL));
    const __m256i nan = nan_mask(a);
    const __m256i skip = _mm256_or_si256(_mm256_cmpeq_epi64(a, _mm256_setzero_si256()), nan);
    const __m256i s = _mm256_or_si256(_mm256_cmpgt_epi64(_mm256_setzero_si256(), x), _mm256_set1_epi64x(1));
    cnt = _mm256_add_epi64(cnt, _mm256_andnot_si256(skip, s));
    bad |= !_mm256_testz_si256(nan, nan);
  }
  static inline void count_finite(vec g, ivec& cnt) {
    const __m256d z = _mm256_setzero_pd();
    cnt = _mm256_sub_epi64(cnt, _mm256_castpd_si256(_mm256_cmp_pd(g, z, _CMP_GT_OQ)));
    cnt = _mm256_add_epi64(cnt, _mm256_castpd_si256(_mm256_cmp_pd(g, z, _CMP_LT_OQ)));
  }
  static inline void add_store(int32_t* dst, ivec cnt) {
    const __m256i low = _mm256_permutevar8x32_epi32(cnt, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
    __m128i* p = reinterpret_cast<__m128i*>(dst);
    _mm_storeu_si128(p, _mm_add_epi32(_mm_loadu_si128(p), _mm256_castsi256_si128(low)));
  }
  static inline void nan_lanes(vec g, uint8_t* flags) {
    const __m256i a = _mm256_and_si256(_mm256_castpd_si256(g), _mm256_set1_epi64x(0x7fffffffffffffffLL));
    const int m = _mm256_movemask_pd(_mm256_castsi256_pd(nan_mask(a)));
    for (int w = 0; w < W; ++w) flags[w] |= static_cast<uint8_t>((m >> w) & 1);
  }
};

}  // namespace

const GemmSignsTable& avx2_gemm_signs() {
  static const GemmSignsTable table = make_gemm_signs_table<F32, F64>("avx2");
  return table;
}

}  // namespace cpu
}  // namespace gradsign

#pragma GCC pop_options

#else  // not x86-64 with GCC/Clang: the dispatcher never picks avx2 there

namespace gradsign {
namespace cpu {
const GemmSignsTable& avx2_gemm_signs() { return scalar_gemm_signs(); }
}  // namespace cpu
}  // namespace gradsign

#endif
