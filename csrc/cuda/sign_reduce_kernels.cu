// sign_reduce_kernels.cu: torch-free CUDA kernels of gradsign_fast (compiled alone by the nvcc test).
//
// Math: counts[k] += sum_i sign(g[i, k]); nan[k] |= any_i isnan(g[i, k]); total = sum_k [!nan[k]] |counts[k]|,
// with sign/isnan from sign_core.h (integer tests on the bit pattern, shared with the CPU kernels).
//   rows layout (unit column stride): one thread per column, coalesced across a warp; blockIdx.y
//     splits the rows when there are too few columns to fill the GPU (int64 atomics then).
//   cols layout (unit row stride): one warp per column, shuffles reduce the lanes.
#include "../sign_core.h"
#include "sign_reduce_kernels.h"

namespace gradsign {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxRowsPerThread = int64_t(1) << 30;  // int32 partial sums stay exact

template <int D>
__global__ void count_rows_kernel(const typename Bits<D>::word* __restrict__ p, int64_t n, int64_t m,
                                  int64_t ld, int64_t rows_per_split, int64_t* counts, bool* nan) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= m) return;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * rows_per_split;
  const int64_t r1 = r0 + rows_per_split < n ? r0 + rows_per_split : n;
  int c = 0;
  bool bad = false;
  for (int64_t i = r0; i < r1; ++i) {
    const typename Bits<D>::word w = p[i * ld + k];
    c += sign_of_bits<D>(w);
    bad |= isnan_of_bits<D>(w);
  }
  if (gridDim.y == 1) {
    counts[k] += c;
  } else if (c != 0) {
    atomicAdd(reinterpret_cast<unsigned long long*>(counts + k),
              static_cast<unsigned long long>(static_cast<long long>(c)));
  }
  if (bad) nan[k] = true;  // every writer writes true: a benign race
}

template <int D>
__global__ void count_cols_kernel(const typename Bits<D>::word* __restrict__ p, int64_t n, int64_t m,
                                  int64_t ld, int64_t* counts, bool* nan) {
  const int lane = threadIdx.x & 31;
  const int64_t k = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  if (k >= m) return;  // uniform across the warp
  const typename Bits<D>::word* col = p + k * ld;
  long long c = 0;
  bool bad = false;
  for (int64_t i = lane; i < n; i += 32) {
    const typename Bits<D>::word w = col[i];
    c += sign_of_bits<D>(w);
    bad |= isnan_of_bits<D>(w);
  }
  for (int offset = 16; offset > 0; offset >>= 1) c += __shfl_down_sync(0xffffffffu, c, offset);
  const bool any_bad = __any_sync(0xffffffffu, bad);
  if (lane == 0) {
    counts[k] += c;
    if (any_bad) nan[k] = true;
  }
}

__global__ void masked_abs_total_kernel(const int64_t* counts, const bool* nan, int64_t m, int64_t* out) {
  long long s = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < m; k += stride) {
    if (!nan[k]) s += counts[k] < 0 ? -counts[k] : counts[k];
  }
  for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_down_sync(0xffffffffu, s, offset);
  if ((threadIdx.x & 31) == 0 && s != 0) {
    atomicAdd(reinterpret_cast<unsigned long long*>(out), static_cast<unsigned long long>(s));
  }
}

template <int D>
void launch_typed(const void* pv, int64_t n, int64_t m, int64_t ld, bool cols, int sm_count,
                  int64_t* counts, bool* nan, cudaStream_t stream) {
  const typename Bits<D>::word* p = static_cast<const typename Bits<D>::word*>(pv);
  if (cols) {
    const int64_t blocks = (m * 32 + kThreads - 1) / kThreads;
    count_cols_kernel<D><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p, n, m, ld, counts, nan);
    return;
  }
  const int64_t blocks_x = (m + kThreads - 1) / kThreads;
  const int64_t target = 8 * static_cast<int64_t>(sm_count > 0 ? sm_count : 1);  // blocks to fill the GPU
  int64_t splits = blocks_x >= target ? 1 : (target + blocks_x - 1) / blocks_x;
  const int64_t max_splits = (n + 63) / 64;  // at least 64 rows per split
  splits = splits < max_splits ? splits : max_splits;
  const int64_t min_splits = (n + kMaxRowsPerThread - 1) / kMaxRowsPerThread;
  splits = splits > min_splits ? splits : min_splits;
  splits = splits < 1 ? 1 : (splits > 65535 ? 65535 : splits);
  const int64_t rows_per_split = (n + splits - 1) / splits;
  splits = (n + rows_per_split - 1) / rows_per_split;
  const dim3 grid(static_cast<unsigned>(blocks_x), static_cast<unsigned>(splits));
  count_rows_kernel<D><<<grid, kThreads, 0, stream>>>(p, n, m, ld, rows_per_split, counts, nan);
}

}  // namespace

cudaError_t launch_sign_count(const void* p, int dtype, int64_t n, int64_t m, int64_t ld, bool cols,
                              int sm_count, int64_t* counts, bool* nan, cudaStream_t stream) {
  if (n <= 0 || m <= 0) return cudaSuccess;
  switch (dtype) {
    case kF16: launch_typed<kF16>(p, n, m, ld, cols, sm_count, counts, nan, stream); break;
    case kBF16: launch_typed<kBF16>(p, n, m, ld, cols, sm_count, counts, nan, stream); break;
    case kF32: launch_typed<kF32>(p, n, m, ld, cols, sm_count, counts, nan, stream); break;
    case kF64: launch_typed<kF64>(p, n, m, ld, cols, sm_count, counts, nan, stream); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_masked_abs_total(const int64_t* counts, const bool* nan, int64_t m, int64_t* out,
                                    cudaStream_t stream) {
  if (m <= 0) return cudaSuccess;
  int64_t blocks = (m + kThreads - 1) / kThreads;
  blocks = blocks < 1024 ? blocks : 1024;
  masked_abs_total_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(counts, nan, m, out);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace gradsign
