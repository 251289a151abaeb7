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

// The instruction set a call with `isa` runs ("auto" -> the best available; raises if the CPU lacks it).
std::string active_isa(const std::string& isa);

// The instruction sets this CPU runs, among "scalar", "avx2", "avx512".
std::vector<std::string> supported_isas();

// Test hook: rows summed in int32 before a flush into int64 (default 2^30); returns the old value.
int64_t set_max_rows_per_flush(int64_t rows);

}  // namespace cpu
}  // namespace gradsign
