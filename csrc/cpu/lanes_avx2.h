// lanes_avx2.h: AVX2 lane policies (see kernels_impl.h for the policy interface). Included inside a
// `#pragma GCC target` region that enables at least AVX2: by sign_reduce_avx2.cpp for every kernel,
// and by sign_reduce_avx512.cpp for its cols kernels (256-bit lanes reduce a short column cheaper).
//
// Math per lane, on the bit pattern x (16-bit types sign-extended to 32 bits):
//   a = x & abs_mask;  nan = a > bits(+inf);  acc += (a == 0 || nan) ? 0 : (x < 0 ? -1 : 1);  flags |= nan.

// fp16 / bf16 / fp32: 8 lanes of int32 counts, NaN flags as all-ones lanes.
template <int D> struct Lanes32x8 {
  typedef typename Bits<D>::word word;
  static constexpr int W = 8;
  typedef __m256i acc_t;
  typedef __m256i mask_t;
  static inline acc_t zero_acc() { return _mm256_setzero_si256(); }
  static inline mask_t zero_mask() { return _mm256_setzero_si256(); }
  static inline __m256i load(const word* p) {
    if constexpr (sizeof(word) == 2) {
      return _mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    } else {
      return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    }
  }
  static inline void step(const word* p, acc_t& acc, mask_t& nan) {
    const __m256i x = load(p);
    const __m256i a = _mm256_and_si256(x, _mm256_set1_epi32(static_cast<int>(Bits<D>::abs_mask)));
    const __m256i zero = _mm256_cmpeq_epi32(a, _mm256_setzero_si256());
    const __m256i isnan = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(static_cast<int>(Bits<D>::inf)));
    const __m256i s = _mm256_or_si256(_mm256_srai_epi32(x, 31), _mm256_set1_epi32(1));
    acc = _mm256_add_epi32(acc, _mm256_andnot_si256(_mm256_or_si256(zero, isnan), s));
    nan = _mm256_or_si256(nan, isnan);
  }
  static inline void flush(acc_t acc, mask_t nan, int64_t* counts, uint8_t* flags) {
    __m256i* c = reinterpret_cast<__m256i*>(counts);
    const __m256i lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(acc));
    const __m256i hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(acc, 1));
    _mm256_storeu_si256(c, _mm256_add_epi64(_mm256_loadu_si256(c), lo));
    _mm256_storeu_si256(c + 1, _mm256_add_epi64(_mm256_loadu_si256(c + 1), hi));
    const int bits = _mm256_movemask_ps(_mm256_castsi256_ps(nan));
    if (bits) {
      for (int j = 0; j < W; ++j) flags[j] |= static_cast<uint8_t>((bits >> j) & 1);
    }
  }
  // The lanes hold at most max_rows <= 2^30 signs in all: an int32 sum is exact.
  static inline int64_t hsum(acc_t acc) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
  }
  static inline bool any(mask_t nan) { return !_mm256_testz_si256(nan, nan); }
};

// fp64: 4 lanes of int64 counts.
struct Lanes64x4 {
  typedef uint64_t word;
  static constexpr int W = 4;
  typedef __m256i acc_t;
  typedef __m256i mask_t;
  static inline acc_t zero_acc() { return _mm256_setzero_si256(); }
  static inline mask_t zero_mask() { return _mm256_setzero_si256(); }
  static inline void step(const word* p, acc_t& acc, mask_t& nan) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i a = _mm256_and_si256(x, _mm256_set1_epi64x(static_cast<long long>(Bits<kF64>::abs_mask)));
    const __m256i zero = _mm256_cmpeq_epi64(a, _mm256_setzero_si256());
    const __m256i negative = _mm256_cmpgt_epi64(_mm256_setzero_si256(), x);
    const __m256i isnan = _mm256_cmpgt_epi64(a, _mm256_set1_epi64x(static_cast<long long>(Bits<kF64>::inf)));
    const __m256i s = _mm256_or_si256(negative, _mm256_set1_epi64x(1));
    acc = _mm256_add_epi64(acc, _mm256_andnot_si256(_mm256_or_si256(zero, isnan), s));
    nan = _mm256_or_si256(nan, isnan);
  }
  static inline void flush(acc_t acc, mask_t nan, int64_t* counts, uint8_t* flags) {
    __m256i* c = reinterpret_cast<__m256i*>(counts);
    _mm256_storeu_si256(c, _mm256_add_epi64(_mm256_loadu_si256(c), acc));
    const int bits = _mm256_movemask_pd(_mm256_castsi256_pd(nan));
    if (bits) {
      for (int j = 0; j < W; ++j) flags[j] |= static_cast<uint8_t>((bits >> j) & 1);
    }
  }
  static inline int64_t hsum(acc_t acc) {
    const __m128i pair = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    return _mm_cvtsi128_si64(pair) + _mm_extract_epi64(pair, 1);
  }
  static inline bool any(mask_t nan) { return !_mm256_testz_si256(nan, nan); }
};

