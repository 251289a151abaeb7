// sign_reduce_cuda.cpp: the CUDA implementation of gradsign_fast::sign_count_ / sign_reduce (host side:
// checks, layout, allocation, stream) and the gradsign_fast._C_cuda module. The op schema is defined
// by gradsign_fast._C (csrc/ops.cpp), which gradsign_fast/ops/cuda.py imports first.
//
// Math: counts[k] += sum_i sign(g[i, k]); nan[k] |= any_i isnan(g[i, k]);
//       sign_reduce(g) = sum_k [not nan[k]] |counts[k]| (a second kernel, int64 atomics).
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/extension.h>
#include <torch/library.h>

#include "../checks.h"
#include "../layout.h"
#include "sign_reduce_kernels.h"

namespace gradsign {
namespace cuda {
namespace {

void check_launch(cudaError_t err) {
  TORCH_CHECK(err == cudaSuccess, "gradsign_fast CUDA kernel launch failed: ", cudaGetErrorString(err));
}

// Only c10/cuda and the CUDA runtime API: ATen/cuda/CUDAContext.h would also need the cuBLAS /
// cuSPARSE / cuSOLVER headers, which a minimal toolkit install lacks.
int sm_count(c10::DeviceIndex device) {
  int count = 0;
  check_launch(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}

// The layout of ../layout.h: rows / cols kernel in place, or one contiguous copy.
void count_into(const at::Tensor& g, int64_t* counts, bool* nan) {
  const int64_t n = g.size(0), m = g.size(1);
  const Layout layout = plan_layout(n, m, g.stride(0), g.stride(1));
  const at::Tensor src = layout.copy ? g.contiguous() : g;
  check_launch(launch_sign_count(src.data_ptr(), dtype_code(g), n, m, layout.ld, layout.cols,
                                 sm_count(g.device().index()), counts, nan,
                                 c10::cuda::getCurrentCUDAStream(g.device().index()).stream()));
}

// isa: the CPU instruction set of the shared schema; nothing to choose on a GPU.
void sign_count_cuda(const at::Tensor& g, const at::Tensor& counts, const at::Tensor& nan, c10::string_view /*isa*/) {
  check_matrix(g, c10::DeviceType::CUDA);
  check_accumulators(g, counts, nan);
  const c10::cuda::CUDAGuard guard(g.device());
  count_into(g, counts.data_ptr<int64_t>(), nan.data_ptr<bool>());
}

at::Tensor sign_reduce_cuda(const at::Tensor& g, c10::string_view /*isa*/) {
  check_matrix(g, c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(g.device());
  const int64_t m = g.size(1);
  at::Tensor counts = at::zeros({m}, g.options().dtype(at::kLong));
  at::Tensor nan = at::zeros({m}, g.options().dtype(at::kBool));
  at::Tensor out = at::zeros({}, g.options().dtype(at::kLong));
  count_into(g, counts.data_ptr<int64_t>(), nan.data_ptr<bool>());
  check_launch(launch_masked_abs_total(counts.data_ptr<int64_t>(), nan.data_ptr<bool>(), m,
                                       out.data_ptr<int64_t>(),
                                       c10::cuda::getCurrentCUDAStream(g.device().index()).stream()));
  return out;
}

}  // namespace
}  // namespace cuda
}  // namespace gradsign

TORCH_LIBRARY_IMPL(gradsign_fast, CUDA, m) {
  m.impl("sign_reduce", &gradsign::cuda::sign_reduce_cuda);
  m.impl("sign_count_", &gradsign::cuda::sign_count_cuda);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "gradsign_fast CUDA sign-reduction kernels (ops under torch.ops.gradsign_fast)";
}
