// ops.cpp: the gradsign_fast custom ops (schema + CPU kernels) and the gradsign_fast._C module.
//
//   gradsign_fast::sign_reduce(Tensor g, str isa) -> Tensor   0-d int64: sum_k [no NaN in k] |sum_i sign(g[i,k])|
//   gradsign_fast::sign_count_(Tensor g, Tensor(a!) counts, Tensor(b!) nan, str isa) -> ()
//                                                           counts[k] += sum_i sign(g[i,k]); nan[k] |= any_i isnan
//   gradsign_fast::masked_abs_sum(Tensor counts, Tensor nan) -> Tensor
//                                                           [sum_k [not nan[k]] |counts[k]|, #{k: not nan[k]}]
//   gradsign_fast::conv_weight_signs_(Tensor[] inputs, Tensor[] grads, int[] geometry, int groups,
//                                      Tensor(a!) counts, Tensor(b!) nan, str isa) -> ()
//                                                           the per-sample weight gradients of a Conv2d,
//                                                           reduced to column sign counts in one call (CPU)
// g: (n, m) fp16/bf16/fp32/fp64, any strides; counts: (m,) int64; nan: (m,) bool (both contiguous);
// isa: the CPU instruction set, "auto" | "scalar" | "avx2" | "avx512" (the CUDA kernels ignore it).
// The CUDA kernels register into the same schema from the gradsign_fast._C_cuda module.
#include <torch/extension.h>
#include <torch/library.h>

#include "cpu/sign_reduce_cpu.h"

TORCH_LIBRARY(gradsign_fast, m) {
  m.def("sign_reduce(Tensor g, str isa=\"auto\") -> Tensor");
  m.def("sign_count_(Tensor g, Tensor(a!) counts, Tensor(b!) nan, str isa=\"auto\") -> ()");
  m.def("masked_abs_sum(Tensor counts, Tensor nan) -> Tensor");
  m.def("conv_weight_signs_(Tensor[] inputs, Tensor[] grads, int[] geometry, int groups, Tensor(a!) counts, "
        "Tensor(b!) nan, str isa=\"auto\") -> ()");
}

TORCH_LIBRARY_IMPL(gradsign_fast, CPU, m) {
  m.impl("sign_reduce", &gradsign::cpu::sign_reduce_cpu);
  m.impl("sign_count_", &gradsign::cpu::sign_count_cpu);
  m.impl("conv_weight_signs_", &gradsign::cpu::conv_weight_signs_cpu);
  m.impl("masked_abs_sum", &gradsign::cpu::masked_abs_sum_cpu);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "gradsign_fast CPU sign-reduction kernels (ops under torch.ops.gradsign_fast)";
  m.def("active_isa", &gradsign::cpu::active_isa, pybind11::arg("isa") = "auto",
        "Instruction set a CPU call with `isa` runs: 'auto' -> the best this CPU has");
  m.def("supported_isas", &gradsign::cpu::supported_isas, "Instruction sets this CPU runs");
  m.def("_set_max_rows_per_flush", &gradsign::cpu::set_max_rows_per_flush,
        "Test hook: rows summed in int32 before a flush to int64; returns the previous value");
  m.def("_set_channels_last_min", &gradsign::cpu::set_channels_last_min,
        "Test hook: input channels per group from which conv_weight_signs_ uses the channels-last path");
}
