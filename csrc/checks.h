// checks.h: boundary checks of the gradsign_fast ops, shared by the CPU and CUDA implementations.
// Bad input raises a Python error (ValueError / TypeError / RuntimeError), never reaches a kernel.
#pragma once

#include <ATen/ATen.h>

#include "sign_core.h"

namespace gradsign {

// The element type code of g (sign_core.h's DType); TypeError for anything but fp16/bf16/fp32/fp64.
inline int dtype_code(const at::Tensor& g) {
  switch (g.scalar_type()) {
    case at::kHalf: return kF16;
    case at::kBFloat16: return kBF16;
    case at::kFloat: return kF32;
    case at::kDouble: return kF64;
    default:
      TORCH_CHECK_TYPE(false, "gradsign_fast: g must be float16, bfloat16, float32 or float64, got ",
                       g.scalar_type());
  }
  return -1;
}

// g: (n, m) dense floating tensor on a device of type `device`.
inline void check_matrix(const at::Tensor& g, c10::DeviceType device) {
  TORCH_CHECK_VALUE(g.defined(), "gradsign_fast: g is an undefined tensor");
  TORCH_CHECK_VALUE(g.dim() == 2, "gradsign_fast: g must be 2-D (n samples, m weights), got shape ",
                    g.sizes(), "; flatten per-sample gradients with g.reshape(n, -1)");
  TORCH_CHECK_TYPE(g.layout() == at::kStrided, "gradsign_fast: g must be a dense (strided) tensor, got ",
                   g.layout());
  dtype_code(g);
  TORCH_CHECK(g.device().type() == device, "gradsign_fast: this implementation reduces ",
              c10::DeviceTypeName(device), " tensors, g is on ", g.device());
}

// counts: (m,) int64 contiguous and nan: (m,) bool contiguous, on g's device.
inline void check_accumulators(const at::Tensor& g, const at::Tensor& counts, const at::Tensor& nan) {
  const int64_t m = g.size(1);
  TORCH_CHECK_VALUE(counts.defined() && counts.dim() == 1 && counts.size(0) == m &&
                        counts.scalar_type() == at::kLong && counts.is_contiguous(),
                    "gradsign_fast: counts must be a contiguous (", m, ",) int64 tensor for g of shape ",
                    g.sizes(), ", got ", counts.sizes(), " ", counts.scalar_type());
  TORCH_CHECK_VALUE(nan.defined() && nan.dim() == 1 && nan.size(0) == m &&
                        nan.scalar_type() == at::kBool && nan.is_contiguous(),
                    "gradsign_fast: nan must be a contiguous (", m, ",) bool tensor for g of shape ",
                    g.sizes(), ", got ", nan.sizes(), " ", nan.scalar_type());
  TORCH_CHECK(counts.device() == g.device() && nan.device() == g.device(),
              "gradsign_fast: g, counts and nan must be on one device, got ", g.device(), ", ",
              counts.device(), " and ", nan.device());
}

}  // namespace gradsign
