// gemm_signs_avx512.cpp: AVX-512 (F+BW+VL+DQ) lane policies of the per-sample GEMM + sign-count
// micro-kernels (gemm_signs_impl.h); run only where the dispatcher saw those instructions, compiled
// via `#pragma GCC target` so one build serves every x86-64 CPU.
//
// Math per lane, on the bit pattern x of G:  a = x & abs_mask;
//   cnt += (0 < a <= bits(+inf)) ? (x >> sign_bit | 1) : 0;  bad |= a > bits(+inf)      (sign_core.h)
#include <string.h>

#include "gemm_signs.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq")

namespace gradsign {
namespace cpu {
namespace {

#include "gemm_signs_impl.h"

// float32: 16 lanes; counters are 16 int32 lanes.
struct F32 {
  using T = float;
  static constexpr int W = 16, R = 6;
  typedef __m512 vec;
  typedef __m512i ivec;
  static inline vec zero() { return _mm512_setzero_ps(); }
  static inline vec load(const T* p) { return _mm512_loadu_ps(p); }
  static inline vec bcast(const T* p) { return _mm512_set1_ps(*p); }
  static inline vec fma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
  static inline ivec izero() { return _mm512_setzero_si512(); }
  static inline __m512i abs_bits(vec g) {
    return _mm512_and_si512(_mm512_castps_si512(g), _mm512_set1_epi32(0x7fffffff));
  }
  static inline void count(vec g, ivec& cnt, bool& bad) {
    const __m512i x = _mm512_castps_si512(g);
    const __m512i a = abs_bits(g);
    const __m512i inf = _mm512_set1_epi32(0x7f800000);
    const __mmask16 counted = _mm512_mask_cmple_epi32_mask(_mm512_test_epi32_mask(a, a), a, inf);
    const __m512i s = _mm512_or_si512(_mm512_srai_epi32(x, 31), _mm512_set1_epi32(1));
    cnt = _mm512_mask_add_epi32(cnt, counted, cnt, s);
    bad |= _mm512_cmpgt_epi32_mask(a, inf) != 0;
  }
  static inline void count_finite(vec g, ivec& cnt) {
    const __m512i one = _mm512_set1_epi32(1);
    cnt = _mm512_mask_add_epi32(cnt, _mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_GT_OQ), cnt, one);
    cnt = _mm512_mask_sub_epi32(cnt, _mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_LT_OQ), cnt, one);
  }
  static inline void add_store(int32_t* dst, ivec cnt) {
    _mm512_storeu_si512(dst, _mm512_add_epi32(_mm512_loadu_si512(dst), cnt));
  }
  static inline void nan_lanes(vec g, uint8_t* flags) {
    const __mmask16 m = _mm512_cmpgt_epi32_mask(abs_bits(g), _mm512_set1_epi32(0x7f800000));
    const __m128i f = _mm_loadu_si128(reinterpret_cast<const __m128i*>(flags));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(flags), _mm_or_si128(f, _mm_maskz_mov_epi8(m, _mm_set1_epi8(1))));
  }
};

// float64: 8 lanes; counters are 8 int64 lanes, narrowed to int32 when stored.
struct F64 {
  using T = double;
  static constexpr int W = 8, R = 6;
  typedef __m512d vec;
  typedef __m512i ivec;
  static inline vec zero() { return _mm512_setzero_pd(); }
  static inline vec load(const T* p) { return _mm512_loadu_pd(p); }
  static inline vec bcast(const T* p) { return _mm512_set1_pd(*p); }
  static inline vec fma(vec a, vec b, vec c) { return _mm512_fmadd_pd(a, b, c); }
  static inline ivec izero() { return _mm512_setzero_si512(); }
  static inline __m512i abs_bits(vec g) {
    return _mm512_and_si512(_mm512_castpd_si512(g), _mm512_set1_epi64(0x7fffffffffffffffLL));
  }
  static inline void count(vec g, ivec& cnt, bool& bad) {
    const __m512i x = _mm512_castpd_si512(g);
    const __m512i a = abs_bits(g);
    const __m512i inf = _mm512_set1_epi64(0x7ff0000000000000LL);
    const __mmask8 counted = _mm512_mask_cmple_epi64_mask(_mm512_test_epi64_mask(a, a), a, inf);
    const __m512i s = _mm512_or_si512(_mm512_srai_epi64(x, 63), _mm512_set1_epi64(1));
    cnt = _mm512_mask_add_epi64(cnt, counted, cnt, s);
    bad |= _mm512_cmpgt_epi64_mask(a, inf) != 0;
  }
  static inline void count_finite(vec g, ivec& cnt) {
    const __m512i one = _mm512_set1_epi64(1);
    cnt = _mm512_mask_add_epi64(cnt, _mm512_cmp_pd_mask(g, _mm512_setzero_pd(), _CMP_GT_OQ), cnt, one);
    cnt = _mm512_mask_sub_epi64(cnt, _mm512_cmp_pd_mask(g, _mm512_setzero_pd(), _CMP_LT_OQ), cnt, one);
  }
  static inline void add_store(int32_t* dst, ivec cnt) {
    const __m256i c32 = _mm512_cvtepi64_epi32(cnt);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                        _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst)), c32));
  }
  static inline void nan_lanes(vec g, uint8_t* flags) {
    const __mmask8 m = _mm512_cmpgt_epi64_mask(abs_bits(g), _mm512_set1_epi64(0x7ff0000000000000LL));
    const __m128i f = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(flags));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(flags), _mm_or_si128(f, _mm_maskz_mov_epi8(m, _mm_set1_epi8(1))));
  }
};

}  // namespace

const GemmSignsTable& avx512_gemm_signs() {
  static const GemmSignsTable table = make_gemm_signs_table<F32, F64>("avx512");
  return table;
}

}  // namespace cpu
}  // namespace gradsign

#pragma GCC pop_options

#else  // not x86-64 with GCC/Clang: the dispatcher never picks avx512 there

namespace gradsign {
namespace cpu {
const GemmSignsTable& avx512_gemm_signs() { return scalar_gemm_signs(); }
}  // namespace cpu
}  // namespace gradsign

#endif
