// sign_reduce_cpu.h: the CPU implementations registered by csrc/ops.cpp, and their introspection.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace gradsign {
namespace cpu {

// counts: (m,) int64 += column sign sums of g: (n, m); nan: (m,) bool |= column holds a NaN.
void sign_count_cpu(const at::Tensor& g, const at::Tensor& counts, const at::Tensor& nan);

// 0-d int64 tensor: sum_k [not nan[k]] |sum_i sign(g[i, k])| for g: (n, m).
at::Tensor sign_reduce_cpu(const at::Tensor& g);

// The instruction set the next call runs (reads GRADSIGN_CPU_ISA; raises if it names one the CPU lacks).
std::string active_isa();

// The instruction sets this CPU runs, among "scalar", "avx2", "avx512".
std::vector<std::string> supported_isas();

// Test hook: rows summed in int32 before a flush into int64 (default 2^30); returns the old value.
int64_t set_max_rows_per_flush(int64_t rows);

}  // namespace cpu
}  // namespace gradsign
