// sign_core.h: the per-element math of every compiled sign-reduction kernel, host and device.
//
// Math: sign(x) = 0 if |x| == 0 (+0, -0) or x is NaN (like torch.sign), else -1 if the sign bit is
// set, else +1 (subnormals and +-inf included); isnan(x) = |bits| > bits(+inf). Everything is an
// integer test on the bit pattern, so neither DAZ/FTZ in MXCSR nor -ffast-math can change a result. Torch-free: compiled by gcc (CPU kernels), nvcc (CUDA kernels) and the
// host test program in tests/test_ops_nvcc.py alike.
#pragma once

#include <stdint.h>

#if defined(__CUDACC__)
#define GS_HD __host__ __device__ __forceinline__
#else
#define GS_HD inline
#endif

namespace gradsign {

// Element types by their bit pattern; the numbering is shared by the CPU and CUDA dispatchers.
enum DType : int { kF16 = 0, kBF16 = 1, kF32 = 2, kF64 = 3, kNumDTypes = 4 };

// Bit-pattern traits of one floating type: the unsigned word, |x| mask and the bits of +inf.
template <int D> struct Bits;
template <> struct Bits<kF16> {
  typedef uint16_t word;
  static constexpr uint16_t abs_mask = 0x7fffu, inf = 0x7c00u;
  static constexpr int sign_shift = 15;
};
template <> struct Bits<kBF16> {
  typedef uint16_t word;
  static constexpr uint16_t abs_mask = 0x7fffu, inf = 0x7f80u;
  static constexpr int sign_shift = 15;
};
template <> struct Bits<kF32> {
  typedef uint32_t word;
  static constexpr uint32_t abs_mask = 0x7fffffffu, inf = 0x7f800000u;
  static constexpr int sign_shift = 31;
};
template <> struct Bits<kF64> {
  typedef uint64_t word;
  static constexpr uint64_t abs_mask = 0x7fffffffffffffffull, inf = 0x7ff0000000000000ull;
  static constexpr int sign_shift = 63;
};

// sign(x) in {-1, 0, +1} from the bit pattern b of x: counted iff 0 < |b| <= bits(+inf).
template <int D> GS_HD int sign_of_bits(typename Bits<D>::word b) {
  const typename Bits<D>::word a = b & Bits<D>::abs_mask;
  const int counted = (a != 0) & (a <= Bits<D>::inf);
  const int negative = static_cast<int>(b >> Bits<D>::sign_shift);
  return counted * (1 - 2 * negative);
}

// isnan(x) from the bit pattern b of x: exponent all ones and a nonzero mantissa.
template <int D> GS_HD bool isnan_of_bits(typename Bits<D>::word b) {
  return (b & Bits<D>::abs_mask) > Bits<D>::inf;
}

// Runtime-dtype forms, for scalar tails and tests: `p` points at one element of type `d`.
GS_HD int sign_of(const void* p, int d) {
  switch (d) {
    case kF16: return sign_of_bits<kF16>(*static_cast<const uint16_t*>(p));
    case kBF16: return sign_of_bits<kBF16>(*static_cast<const uint16_t*>(p));
    case kF32: return sign_of_bits<kF32>(*static_cast<const uint32_t*>(p));
    default: return sign_of_bits<kF64>(*static_cast<const uint64_t*>(p));
  }
}

GS_HD bool isnan_of(const void* p, int d) {
  switch (d) {
    case kF16: return isnan_of_bits<kF16>(*static_cast<const uint16_t*>(p));
    case kBF16: return isnan_of_bits<kBF16>(*static_cast<const uint16_t*>(p));
    case kF32: return isnan_of_bits<kF32>(*static_cast<const uint32_t*>(p));
    default: return isnan_of_bits<kF64>(*static_cast<const uint64_t*>(p));
  }
}

GS_HD int element_size(int d) { return d == kF64 ? 8 : (d == kF32 ? 4 : 2); }

}  // namespace gradsign
