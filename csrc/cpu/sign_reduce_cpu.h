// sign_reduce_cpu.h: the CPU implementations registered by csrc/ops.cpp, and their introspection.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace gradsign {
namespace cpu {

// counts: (m,) int64 += column sign sums of g: (n, m); nan: (m,) bool |= column holds a NaN.
// isa: "auto" (the best this CPU has), "scalar", "avx2" or "avx512".
void sign_count_cpu(const at::Tensor& g, const at::Tensor& counts, const at::Tensor& nan, c10::string_view isa);

// 0-d int64 tensor: sum_k [not nan[k]] |sum_i sign(g[i, k])| for g: (n, m).
at::Tensor sign_reduce_cpu(const at::Tensor& g, c10::string_view isa);

// counts / nan of a weight (Cout, Cin/groups, kh, kw) += the column sign sums / NaN marks of its
// per-sample gradients, from its calls' inputs (n, Cin, H, W) and output gradients (n, Cout, Ho, Wo)
// (any strides, float32 / float64) and 8 ints per call: kh, kw, sh, sw, dh, dw, pad_top, pad_left.
void conv_weight_signs_cpu(at::TensorList inputs, at::TensorList grads, at::IntArrayRef geometry, int64_t groups,
                           const at::Tensor& counts, const at::Tensor& nan, c10::string_view isa);

// [total, finite] int64: total = sum_k [not nan[k]] |counts[k]|, finite = #{k: not nan[k]}, for counts:
// (m,) int64 and nan: (m,) bool (a SignSums entry's final reduction, one pass).
at::Tensor masked_abs_sum_cpu(const at::Tensor& counts, const at::Tensor& nan);

// Test hook: input channels per group from which conv_weight_signs_ reads a channels-last copy of the
// input instead of packing im2col blocks (default 32); returns the previous value.
int64_t set_channels_last_min(int64_t channels);

// The instruction set a call with `isa` runs ("auto" -> the best available; raises if the CPU lacks it).
std::string active_isa(const std::string& isa);

// The instruction sets this CPU runs, among "scalar", "avx2", "avx512".
std::vector<std::string> supported_isas();

// Test hook: rows summed in int32 before a flush into int64 (default 2^30); returns the old value.
int64_t set_max_rows_per_flush(int64_t rows);

}  // namespace cpu
}  // namespace gradsign
