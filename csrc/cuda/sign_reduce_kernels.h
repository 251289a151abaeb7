// sign_reduce_kernels.h: torch-free launchers of the CUDA sign-reduction kernels (sign_reduce_kernels.cu).
//
// counts[k] += sum_i sign(g[i, k]);  nan[k] |= any_i isnan(g[i, k])  for g: (n, m) of dtype `dtype`
// (sign_core.h's DType) read as g[i,k] = p[i*ld + k] (cols == false) or p[k*ld + i] (cols == true).
// total = sum_k [not nan[k]] |counts[k]|, written to *out (device pointer, zeroed by the caller).
#pragma once

#include <cuda_runtime.h>
#include <stdint.h>

namespace gradsign {
namespace cuda {

cudaError_t launch_sign_count(const void* p, int dtype, int64_t n, int64_t m, int64_t ld, bool cols,
                              int sm_count, int64_t* counts, bool* nan, cudaStream_t stream);

cudaError_t launch_masked_abs_total(const int64_t* counts, const bool* nan, int64_t m, int64_t* out,
                                    cudaStream_t stream);

}  // namespace cuda
}  // namespace gradsign
