// sign_reduce_avx2.cpp: AVX2 lane policies for kernels_impl.h; runs only where the dispatcher saw
// AVX2 (sign_reduce_cpu.cpp), compiled via `#pragma GCC target` so one build serves every x86-64 CPU.
// The lane math lives in lanes_avx2.h.
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2")

namespace gradsign {
namespace cpu {
namespace {

#include "kernels_impl.h"

#include "lanes_avx2.h"

// Plain (non-template) entry points, so every instantiation is compiled under this target.
void rows_f16(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { rows_kernel<Lanes32x8<kF16>>(p, n, m, ld, r, c, f); }
void rows_bf16(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { rows_kernel<Lanes32x8<kBF16>>(p, n, m, ld, r, c, f); }
void rows_f32(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { rows_kernel<Lanes32x8<kF32>>(p, n, m, ld, r, c, f); }
void rows_f64(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { rows_kernel<Lanes64x4>(p, n, m, ld, r, c, f); }
void cols_f16(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { cols_kernel<Lanes32x8<kF16>>(p, n, m, ld, r, c, f); }
void cols_bf16(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { cols_kernel<Lanes32x8<kBF16>>(p, n, m, ld, r, c, f); }
void cols_f32(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { cols_kernel<Lanes32x8<kF32>>(p, n, m, ld, r, c, f); }
void cols_f64(const void* p, int64_t n, int64_t m, int64_t ld, int64_t r, int64_t* c, uint8_t* f) { cols_kernel<Lanes64x4>(p, n, m, ld, r, c, f); }

}  // namespace
}  // namespace cpu
}  // namespace gradsign

#pragma GCC pop_options

namespace gradsign {
namespace cpu {
const KernelTable& avx2_kernels() {
  static const KernelTable table = {"avx2",
                                    {rows_f16, rows_bf16, rows_f32, rows_f64},
                                    {cols_f16, cols_bf16, cols_f32, cols_f64}};
  return table;
}
}  // namespace cpu
}  // namespace gradsign

#else  // not x86-64 with GCC/Clang: never selected (the dispatcher checks the CPU first)
namespace gradsign {
namespace cpu {
const KernelTable& avx2_kernels() { return scalar_kernels(); }
}  // namespace cpu
}  // namespace gradsign
#endif
