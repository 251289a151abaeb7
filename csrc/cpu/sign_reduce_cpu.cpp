// sign_reduce_cpu.cpp: the CPU implementation of gradsign_fast::sign_count_ / sign_reduce.
//
// Math: counts[k] += sum_i sign(g[i, k]);  nan[k] |= any_i isnan(g[i, k]);
//       sign_reduce(g) = sum_k [not nan[k]] |sum_i sign(g[i, k])|.
// The instruction set is an argument of every call (auto|scalar|avx2|avx512: gradsign_fast's Options
// read GRADSIGN_CPU_ISA once, in Python); the layout comes from ../layout.h (rows kernel for unit
// column stride, cols kernel for unit row stride, else one copy to contiguous); the work is split over
// at::get_num_threads() threads (by column groups, or by row chunks with private partial sums when
// there are too few columns).
#include "sign_reduce_cpu.h"

#include <ATen/Parallel.h>
#include <c10/util/StringUtil.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "../checks.h"
#include "../layout.h"
#include "kernels.h"

namespace gradsign {
namespace cpu {
namespace {

std::atomic<int64_t> g_max_rows{kMaxRowsPerFlush};
constexpr int64_t kMinWork = int64_t(1) << 16;  // elements below which a task is not worth a thread
constexpr int64_t kGroup = 64;                  // column group: task boundaries stay vector-aligned
constexpr int64_t kReduceTile = 16384;          // columns per local counts buffer in sign_reduce

bool cpu_has(const std::string& isa) {
  if (isa == "scalar") return true;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (isa == "avx2") return __builtin_cpu_supports("avx2");
  if (isa == "avx512") {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  }
#endif
  return false;
}

const KernelTable& table_for(const std::string& isa) {
  if (isa == "avx512") return avx512_kernels();
  if (isa == "avx2") return avx2_kernels();
  return scalar_kernels();
}

// How g is read: rows kernel g[i,k] = p[i*ld + k], or cols kernel g[i,k] = p[k*ld + i].
struct Plan {
  at::Tensor keep;  // owns a contiguous copy when g had neither unit stride
  const char* data;
  bool cols;
  int64_t ld;
};

Plan plan_for(const at::Tensor& g) {
  const Layout layout = plan_layout(g.size(0), g.size(1), g.stride(0), g.stride(1));
  if (!layout.copy) return {at::Tensor(), static_cast<const char*>(g.data_ptr()), layout.cols, layout.ld};
  at::Tensor c = g.contiguous();
  return {c, static_cast<const char*>(c.data_ptr()), layout.cols, layout.ld};
}

// Pointer to g[r0, c0] under `plan`.
const char* at_element(const Plan& plan, int64_t r0, int64_t c0, int64_t elem) {
  return plan.cols ? plan.data + (c0 * plan.ld + r0) * elem : plan.data + (r0 * plan.ld + c0) * elem;
}

struct Job {
  Plan plan;
  BlockKernel kernel;
  int64_t n, m, elem, max_rows;
  void run(int64_t r0, int64_t r1, int64_t c0, int64_t c1, int64_t* counts, uint8_t* nan) const {
    kernel(at_element(plan, r0, c0, elem), r1 - r0, c1 - c0, plan.ld, max_rows, counts, nan);
  }
  // Few columns, many rows: split rows over threads (private partials), else columns.
  bool split_rows() const {
    const int64_t threads = at::get_num_threads();
    const int64_t groups = (m + kGroup - 1) / kGroup;
    return threads > 1 && groups < threads && n * m >= 2 * kMinWork && n >= 2 * threads;
  }
  int64_t group_grain() const { return std::max<int64_t>(1, kMinWork / std::max<int64_t>(1, n * kGroup)); }
};

Job make_job(const at::Tensor& g, c10::string_view isa) {
  const int d = dtype_code(g);
  const KernelTable& t = table_for(active_isa(std::string(isa)));
  Plan plan = plan_for(g);
  return {plan, plan.cols ? t.cols[d] : t.rows[d], g.size(0), g.size(1), element_size(d),
          g_max_rows.load()};
}

void accumulate(const Job& job, int64_t* counts, uint8_t* nan) {
  if (job.n == 0 || job.m == 0) return;
  if (!job.split_rows()) {
    const int64_t groups = (job.m + kGroup - 1) / kGroup;
    at::parallel_for(0, groups, job.group_grain(), [&](int64_t gb, int64_t ge) {
      const int64_t c0 = gb * kGroup, c1 = std::min(job.m, ge * kGroup);
      job.run(0, job.n, c0, c1, counts + c0, nan + c0);
    });
    return;
  }
  const int64_t chunks = at::get_num_threads();
  std::vector<int64_t> part_counts(chunks * job.m, 0);
  std::vector<uint8_t> part_nan(chunks * job.m, 0);
  at::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      job.run(job.n * r / chunks, job.n * (r + 1) / chunks, 0, job.m, &part_counts[r * job.m],
              &part_nan[r * job.m]);
    }
  });
  for (int64_t r = 0; r < chunks; ++r) {
    for (int64_t k = 0; k < job.m; ++k) {
      counts[k] += part_counts[r * job.m + k];
      nan[k] |= part_nan[r * job.m + k];
    }
  }
}

}  // namespace

std::string active_isa(const std::string& want) {
  if (want.empty() || want == "auto") {
    for (const char* isa : {"avx512", "avx2"}) {
      if (cpu_has(isa)) return isa;
    }
    return "scalar";
  }
  TORCH_CHECK_VALUE(want == "scalar" || want == "avx2" || want == "avx512",
                    "GRADSIGN_CPU_ISA must be auto, scalar, avx2 or avx512, got '", want, "'");
  TORCH_CHECK(cpu_has(want), "GRADSIGN_CPU_ISA=", want, " but this CPU lacks ", want,
              " (it supports: ", c10::Join(", ", supported_isas()), ")");
  return want;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> out;
  for (const char* isa : {"scalar", "avx2", "avx512"}) {
    if (cpu_has(isa)) out.push_back(isa);
  }
  return out;
}

int64_t set_max_rows_per_flush(int64_t rows) {
  TORCH_CHECK_VALUE(rows >= 1 && rows <= kMaxRowsPerFlush, "max rows per flush must be in [1, 2^30]");
  return g_max_rows.exchange(rows);
}

void sign_count_cpu(const at::Tensor& g, const at::Tensor& counts, const at::Tensor& nan, c10::string_view isa) {
  check_matrix(g, c10::DeviceType::CPU);
  check_accumulators(g, counts, nan);
  const Job job = make_job(g, isa);
  accumulate(job, counts.data_ptr<int64_t>(), reinterpret_cast<uint8_t*>(nan.data_ptr<bool>()));
}

at::Tensor sign_reduce_cpu(const at::Tensor& g, c10::string_view isa) {
  check_matrix(g, c10::DeviceType::CPU);
  const Job job = make_job(g, isa);
  int64_t total = 0;
  if (job.n == 0 || job.m == 0) {
    total = 0;
  } else if (job.split_rows()) {  // few columns: m-length buffers are small
    std::vector<int64_t> counts(job.m, 0);
    std::vector<uint8_t> nan(job.m, 0);
    accumulate(job, counts.data(), nan.data());
    for (int64_t k = 0; k < job.m; ++k) total += nan[k] ? 0 : std::abs(counts[k]);
  } else {  // fused: each task reduces its own column tiles, no m-length temporaries
    const int64_t groups = (job.m + kGroup - 1) / kGroup;
    total = at::parallel_reduce(
        0, groups, job.group_grain(), int64_t(0),
        [&](int64_t gb, int64_t ge, int64_t acc) {
          std::vector<int64_t> counts(kReduceTile);
          std::vector<uint8_t> nan(kReduceTile);
          const int64_t c_end = std::min(job.m, ge * kGroup);
          for (int64_t c0 = gb * kGroup; c0 < c_end; c0 += kReduceTile) {
            const int64_t c1 = std::min(c_end, c0 + kReduceTile);
            std::fill(counts.begin(), counts.begin() + (c1 - c0), 0);
            std::fill(nan.begin(), nan.begin() + (c1 - c0), 0);
            job.run(0, job.n, c0, c1, counts.data(), nan.data());
            for (int64_t k = 0; k < c1 - c0; ++k) acc += nan[k] ? 0 : std::abs(counts[k]);
          }
          return acc;
        },
        [](int64_t a, int64_t b) { return a + b; });
  }
  return at::scalar_tensor(total, at::TensorOptions().dtype(at::kLong));
}

}  // namespace cpu
}  // namespace gradsign

namespace gradsign {
namespace cpu {

// [total, finite]: total = sum_k [not nan[k]] |counts[k]|, finite = #{k: not nan[k]}; one pass.
at::Tensor masked_abs_sum_cpu(const at::Tensor& counts, const at::Tensor& nan) {
  TORCH_CHECK_VALUE(counts.defined() && counts.dim() == 1 && counts.scalar_type() == at::kLong &&
                        counts.is_contiguous() && counts.device().is_cpu(),
                    "gradsign_fast: counts must be a contiguous 1-D int64 CPU tensor, got ", counts.sizes(), " ",
                    counts.scalar_type());
  TORCH_CHECK_VALUE(nan.defined() && nan.dim() == 1 && nan.scalar_type() == at::kBool && nan.is_contiguous() &&
                        nan.device().is_cpu() && nan.size(0) == counts.size(0),
                    "gradsign_fast: nan must be a contiguous 1-D bool CPU tensor like counts, got ", nan.sizes(),
                    " ", nan.scalar_type());
  const int64_t* c = counts.data_ptr<int64_t>();
  const bool* f = nan.data_ptr<bool>();
  const int64_t m = counts.size(0);
  std::pair<int64_t, int64_t> zero{0, 0};
  const auto sums = at::parallel_reduce(
      0, m, kMinWork, zero,
      [&](int64_t b, int64_t e, std::pair<int64_t, int64_t> acc) {
        int64_t total = 0, finite = 0;
        for (int64_t k = b; k < e; ++k) {
          const int64_t keep = f[k] ? 0 : 1;
          total += keep * (c[k] < 0 ? -c[k] : c[k]);
          finite += keep;
        }
        return std::pair<int64_t, int64_t>{acc.first + total, acc.second + finite};
      },
      [](std::pair<int64_t, int64_t> a, std::pair<int64_t, int64_t> b) {
        return std::pair<int64_t, int64_t>{a.first + b.first, a.second + b.second};
      });
  at::Tensor out = at::empty({2}, counts.options());
  out.data_ptr<int64_t>()[0] = sums.first;
  out.data_ptr<int64_t>()[1] = sums.second;
  return out;
}

}  // namespace cpu
}  // namespace gradsign
