// conv_signs_cpu.cpp: gradsign_fast::conv_weight_signs_ on the CPU: one call per layer, the per-sample
// weight gradients of a Conv2d (or a Linear on sequences, as a 1x1 conv) reduced to sign counts without
// ever being written to memory.
//
// Math, weight (Cout, Cin/g, kh, kw) of a layer used by calls c (a reused module or a tied weight sums
// them), sample s, group j, output channel o of group j, column k = (ci, p, q):
//   U_s[(c, y, x), k] = xpad_c[s, j*Cin/g + ci, y*sh_c + p*dh_c, x*sw_c + q*dw_c]    implicit im2col
//   G_s[o, k]         = sum over calls c and positions (y, x) of D_c[s, o, y, x] * U_s[(c, y, x), k]
//   counts[o*K + k]  += sum_s sign(G_s[o, k]);  nan[o*K + k] |= any_s isnan(G_s[o, k])
// xpad reads 0 outside the input (zero padding: pad_top / pad_left given, bottom / right implied by the
// output size); other padding modes arrive pre-padded.
// Work: tiles (group, block of output channels, block of columns) over at::parallel_for, one parallel
// region per layer (plus one for a channels-last copy of the input); per tile and chunk of samples the
// gemm_signs.h micro-kernel keeps G and the counts in registers. D is read in place; U is either rows
// of that copy at each tap's shifted positions (no im2col) or, for few input channels, a packed im2col
// block in a thread-local buffer.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../checks.h"
#include "gemm_signs.h"
#include "sign_reduce_cpu.h"

namespace gradsign {
namespace cpu {
namespace {

constexpr int64_t kGeometry = 8;          // kh, kw, sh, sw, dh, dw, pad_top, pad_left per call
constexpr int64_t kColumns = 64;          // columns per tile (then padded to the kernel's step)
constexpr int64_t kPackBytes = 512 << 10;  // D + U of one chunk of samples, per thread

struct Call {
  const char* x;
  int64_t xs[4], H, W;
  const char* d;
  int64_t ds[4], Ho, Wo;
  int64_t kh, kw, sh, sw, dh, dw, pt, pl;
  int64_t L() const { return Ho * Wo; }
};

struct Layer {
  std::vector<Call> calls;
  int64_t n, Cout_g, Cin_g, groups, K, L, elem;
};

const GemmSignsTable& gemm_table(const std::string& isa) {
  if (isa == "avx512") return avx512_gemm_signs();
  if (isa == "avx2") return avx2_gemm_signs();
  return scalar_gemm_signs();
}

Layer check_layer(at::TensorList inputs, at::TensorList grads, at::IntArrayRef geometry, int64_t groups,
                  const at::Tensor& counts, const at::Tensor& nan) {
  const int64_t ncalls = static_cast<int64_t>(inputs.size());
  TORCH_CHECK_VALUE(ncalls >= 1 && static_cast<int64_t>(grads.size()) == ncalls,
                    "gradsign_fast: conv_weight_signs_ needs as many inputs as grads (at least one), got ",
                    ncalls, " and ", grads.size());
  TORCH_CHECK_VALUE(static_cast<int64_t>(geometry.size()) == kGeometry * ncalls, "gradsign_fast: geometry needs ",
                    kGeometry, " ints per call (kh, kw, sh, sw, dh, dw, pad_top, pad_left), got ", geometry.size());
  TORCH_CHECK_VALUE(groups >= 1, "gradsign_fast: groups must be >= 1, got ", groups);
  const at::ScalarType dtype = inputs[0].scalar_type();
  TORCH_CHECK_TYPE(dtype == at::kFloat || dtype == at::kDouble,
                   "gradsign_fast: conv_weight_signs_ takes float32 or float64, got ", dtype);
  Layer layer{{}, inputs[0].dim() == 4 ? inputs[0].size(0) : -1, 0, 0, groups, 0, 0,
              static_cast<int64_t>(inputs[0].element_size())};
  for (int64_t c = 0; c < ncalls; ++c) {
    const at::Tensor& x = inputs[c];
    const at::Tensor& d = grads[c];
    for (const at::Tensor* t : {&x, &d}) {
      TORCH_CHECK_VALUE(t->defined() && t->dim() == 4 && t->layout() == at::kStrided,
                        "gradsign_fast: inputs and grads must be dense 4-D (n, C, H, W) tensors, got ",
                        t->defined() ? t->sizes() : at::IntArrayRef{});
      TORCH_CHECK(t->device().is_cpu(), "gradsign_fast: conv_weight_signs_ runs on CPU tensors, got ", t->device());
      TORCH_CHECK_TYPE(t->scalar_type() == dtype, "gradsign_fast: every input and grad must be ", dtype, ", got ",
                       t->scalar_type());
    }
    TORCH_CHECK_VALUE(x.size(0) == layer.n && d.size(0) == layer.n,
                      "gradsign_fast: every input and grad must hold the same samples, got ", x.sizes(), " and ",
                      d.sizes());
    const int64_t* g = geometry.data() + kGeometry * c;
    Call call{static_cast<const char*>(x.data_ptr()), {x.stride(0), x.stride(1), x.stride(2), x.stride(3)},
              x.size(2), x.size(3), static_cast<const char*>(d.data_ptr()),
              {d.stride(0), d.stride(1), d.stride(2), d.stride(3)}, d.size(2), d.size(3),
              g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]};
    TORCH_CHECK_VALUE(call.kh >= 1 && call.kw >= 1 && call.sh >= 1 && call.sw >= 1 && call.dh >= 1 &&
                          call.dw >= 1 && call.pt >= 0 && call.pl >= 0,
                      "gradsign_fast: kernel, stride and dilation must be >= 1 and padding >= 0, got ", geometry);
    if (c == 0) {
      TORCH_CHECK_VALUE(x.size(1) % groups == 0 && d.size(1) % groups == 0, "gradsign_fast: ", groups,
                        " groups do not divide ", x.size(1), " input and ", d.size(1), " output channels");
      layer.Cin_g = x.size(1) / groups;
      layer.Cout_g = d.size(1) / groups;
      layer.K = layer.Cin_g * call.kh * call.kw;
    }
    TORCH_CHECK_VALUE(x.size(1) == layer.Cin_g * groups && d.size(1) == layer.Cout_g * groups,
                      "gradsign_fast: every call of one weight needs the same channels");
    TORCH_CHECK_VALUE(c == 0 || (call.kh == layer.calls[0].kh && call.kw == layer.calls[0].kw),
                      "gradsign_fast: every call of one weight needs the same kernel size");
    layer.L += call.L();
    layer.calls.push_back(call);
  }
  const int64_t m = layer.Cout_g * groups * layer.K;
  for (const at::Tensor* t : {&counts, &nan}) {
    TORCH_CHECK_VALUE(t->defined() && t->dim() == 1 && t->size(0) == m && t->is_contiguous() && t->device().is_cpu(),
                      "gradsign_fast: counts and nan must be contiguous (", m, ",) CPU tensors for this weight");
  }
  TORCH_CHECK_VALUE(counts.scalar_type() == at::kLong && nan.scalar_type() == at::kBool,
                    "gradsign_fast: counts must be int64 and nan bool");
  return layer;
}

// D_s[o, l] for samples s0.. and channels o_first..: in place when one call's gradient is contiguous over
// its positions, else packed: Dp[(s * rows + o) * L + l], the calls' positions one after another.
template <class T>
const T* d_operand(const Layer& layer, int64_t s0, int64_t cs, int64_t o_first, int64_t rows, std::vector<T>& Dp,
                   int64_t& ds, int64_t& dr) {
  const Call& first = layer.calls[0];
  if (layer.calls.size() == 1 && first.ds[3] == 1 && first.ds[2] == first.Wo) {
    ds = first.ds[0];
    dr = first.ds[1];
    return reinterpret_cast<const T*>(first.d) + s0 * first.ds[0] + o_first * first.ds[1];
  }
  ds = rows * layer.L;
  dr = layer.L;
  T* out = Dp.data();
  for (int64_t s = 0; s < cs; ++s) {
    for (int64_t o = 0; o < rows; ++o) {
      for (const Call& c : layer.calls) {
        const T* d = reinterpret_cast<const T*>(c.d) + (s0 + s) * c.ds[0] + (o_first + o) * c.ds[1];
        for (int64_t y = 0; y < c.Ho; ++y) {
          for (int64_t x = 0; x < c.Wo; ++x) *out++ = d[y * c.ds[2] + x * c.ds[3]];
        }
      }
    }
  }
  return Dp.data();
}

// How U is read. im2col: per tile and chunk, U_s[l, k0 .. k0 + cols) is packed (implicit im2col, 0
// outside the input) into rows of bkp values; the layers with few input channels per group (small K).
// channels_last: the input is copied once per layer to (n, groups, H, W, cpad); the columns of a tile
// are (one tap p, q) x (a block of input channels), and U's row for position (y, x) is the copy at
// (y*sh - pt + p*dh, x*sw - pl + q*dw) or a row of zeros: no im2col at all.
struct Plan {
  bool channels_last;
  int64_t cols, bkp, col_blocks, ci_blocks, cpad, rows, row_blocks;
  int64_t tiles(int64_t groups) const { return groups * row_blocks * col_blocks; }
};

// Input channels per group from which the channels-last copy beats im2col (a test hook can move it).
std::atomic<int64_t> g_channels_last_min{32};

Plan make_plan(const Layer& layer, int64_t step) {
  Plan plan{};
  const int64_t taps = layer.K / layer.Cin_g;
  plan.channels_last = layer.Cin_g >= g_channels_last_min.load();
  if (plan.channels_last) {
    plan.cols = std::min(layer.Cin_g, kColumns);
    plan.ci_blocks = (layer.Cin_g + plan.cols - 1) / plan.cols;
    plan.bkp = (plan.cols + step - 1) / step * step;
    plan.cpad = plan.ci_blocks * plan.bkp;
    plan.col_blocks = taps * plan.ci_blocks;
  } else {
    plan.cols = std::min(layer.K, kColumns);
    plan.bkp = (plan.cols + step - 1) / step * step;
    plan.col_blocks = (layer.K + plan.cols - 1) / plan.cols;
  }
  const int64_t base = layer.groups * plan.col_blocks, want = 2 * at::get_num_threads();
  plan.row_blocks = base >= want ? 1 : std::min((want + base - 1) / base, (layer.Cout_g + 5) / 6);
  plan.rows = (layer.Cout_g + plan.row_blocks - 1) / plan.row_blocks;
  plan.row_blocks = (layer.Cout_g + plan.rows - 1) / plan.rows;
  return plan;
}

// (n, groups, H, W, cpad) copies of every call's input, channels last, zero-padded channels.
template <class T>
std::vector<std::vector<T>> channels_last_copies(const Layer& layer, const Plan& plan) {
  std::vector<std::vector<T>> out;
  for (const Call& c : layer.calls) {
    out.emplace_back(static_cast<size_t>(layer.n * layer.groups * c.H * c.W * plan.cpad), T(0));
    T* base = out.back().data();
    at::parallel_for(0, layer.n * layer.groups, 1, [&](int64_t b, int64_t e) {
      for (int64_t sg = b; sg < e; ++sg) {
        const int64_t s = sg / layer.groups, j = sg % layer.groups;
        const T* x = reinterpret_cast<const T*>(c.x) + s * c.xs[0] + j * layer.Cin_g * c.xs[1];
        T* dst = base + sg * c.H * c.W * plan.cpad;
        for (int64_t ci = 0; ci < layer.Cin_g; ++ci) {
          for (int64_t y = 0; y < c.H; ++y) {
            for (int64_t xx = 0; xx < c.W; ++xx) dst[(y * c.W + xx) * plan.cpad + ci] = x[ci * c.xs[1] + y * c.xs[2] + xx * c.xs[3]];
          }
        }
      }
    });
  }
  return out;
}

// Row pointers of U for samples s0 .. s0 + cs - 1 at tap t, channels ci0 ..: into the copies or zeros.
template <class T>
void tap_rows(const Layer& layer, const Plan& plan, const std::vector<std::vector<T>>& copies, int64_t s0,
              int64_t cs, int64_t j, int64_t t, int64_t ci0, const T* zeros, const T** rows) {
  for (int64_t s = 0; s < cs; ++s) {
    for (size_t k = 0; k < layer.calls.size(); ++k) {
      const Call& c = layer.calls[k];
      const int64_t p = t / c.kw, q = t % c.kw;
      const T* base = copies[k].data() + ((s0 + s) * layer.groups + j) * c.H * c.W * plan.cpad + ci0;
      for (int64_t y = 0; y < c.Ho; ++y) {
        const int64_t iy = y * c.sh - c.pt + p * c.dh;
        for (int64_t x = 0; x < c.Wo; ++x) {
          const int64_t ix = x * c.sw - c.pl + q * c.dw;
          *rows++ = (iy >= 0 && iy < c.H && ix >= 0 && ix < c.W) ? base + (iy * c.W + ix) * plan.cpad : zeros;
        }
      }
    }
  }
}

// Packed im2col rows U_s[l, k0 .. k0 + cols) for samples s0 .., bkp values each (0 past cols), and
// their row pointers. Per column: the input channel's offset and the tap's shift (precomputed).
template <class T>
void im2col_rows(const Layer& layer, const Plan& plan, int64_t s0, int64_t cs, int64_t ci_first, int64_t k0,
                 int64_t cols, T* Up, const T** rows) {
  const int64_t taps = layer.K / layer.Cin_g;
  std::vector<int64_t> offset(cols), dy(cols), dx(cols);
  for (int64_t s = 0; s < cs; ++s) {
    for (const Call& c : layer.calls) {
      for (int64_t k = 0; k < cols; ++k) {
        const int64_t col = k0 + k, p = (col / c.kw) % c.kh, q = col % c.kw;
        offset[k] = (ci_first + col / taps) * c.xs[1];
        dy[k] = p * c.dh - c.pt;
        dx[k] = q * c.dw - c.pl;
      }
      const T* x = reinterpret_cast<const T*>(c.x) + (s0 + s) * c.xs[0];
      for (int64_t y = 0; y < c.Ho; ++y) {
        for (int64_t xo = 0; xo < c.Wo; ++xo, Up += plan.bkp) {
          const int64_t y0 = y * c.sh, x0 = xo * c.sw;
          for (int64_t k = 0; k < cols; ++k) {
            const int64_t iy = y0 + dy[k], ix = x0 + dx[k];
            const bool inside = static_cast<uint64_t>(iy) < static_cast<uint64_t>(c.H) &&
                                static_cast<uint64_t>(ix) < static_cast<uint64_t>(c.W);
            Up[k] = inside ? x[offset[k] + iy * c.xs[2] + ix * c.xs[3]] : T(0);
          }
          std::fill(Up + cols, Up + plan.bkp, T(0));
          *rows++ = Up;
        }
      }
    }
  }
}

// max |t| over a 4-D strided tensor, and whether it holds a NaN or an infinity (one parallel pass).
// Works on bit patterns: |t| is the pattern with the sign bit cleared, and for IEEE floats the order of
// those patterns is the order of the magnitudes, with every NaN and infinity at or above the exponent
// mask — so one integer max (which the compiler vectorizes, no float compares) answers both questions.
template <class T>
std::pair<double, bool> magnitude(const char* data, const int64_t* sizes, const int64_t* strides) {
  using U = typename std::conditional<sizeof(T) == 8, uint64_t, uint32_t>::type;
  constexpr U kAbs = static_cast<U>(~U(0)) >> 1;
  constexpr U kExp = sizeof(T) == 8 ? U(0x7ff0000000000000ULL) : U(0x7f800000U);
  const U top = at::parallel_reduce(
      0, sizes[0], 1, U(0),
      [&](int64_t b, int64_t e, U acc) {
        for (int64_t i = b; i < e; ++i) {
          for (int64_t c = 0; c < sizes[1]; ++c) {
            for (int64_t y = 0; y < sizes[2]; ++y) {
              const U* row = reinterpret_cast<const U*>(data) + i * strides[0] + c * strides[1] + y * strides[2];
              U m = 0;
              if (strides[3] == 1) {
                for (int64_t x = 0; x < sizes[3]; ++x) m = std::max<U>(m, row[x] & kAbs);
              } else {
                for (int64_t x = 0; x < sizes[3]; ++x) m = std::max<U>(m, row[x * strides[3]] & kAbs);
              }
              acc = std::max(acc, m);
            }
          }
        }
        return acc;
      },
      [](U a, U b) { return std::max(a, b); });
  if (top >= kExp) return {0.0, true};
  T value;
  std::memcpy(&value, &top, sizeof(T));
  return {static_cast<double>(value), false};
}

// Whether every G_s of the layer is surely finite: every input and gradient finite, and the largest
// possible |sum| (L * max|D| * max|x|, over the calls) far below the type's largest value.
template <class T>
bool surely_finite(const Layer& layer) {
  double bound = 0;
  for (const Call& c : layer.calls) {
    const int64_t xs[4] = {layer.n, layer.Cin_g * layer.groups, c.H, c.W}, ds[4] = {layer.n, layer.Cout_g * layer.groups, c.Ho, c.Wo};
    const auto x = magnitude<T>(c.x, xs, c.xs), d = magnitude<T>(c.d, ds, c.ds);
    if (x.second || d.second) return false;
    bound += static_cast<double>(c.L()) * x.first * d.first;
  }
  return bound < 0.25 * static_cast<double>(std::numeric_limits<T>::max());
}

template <class T>
void run_tiles(const Layer& layer, GemmSignsKernel kernel, const Plan& plan, int64_t* counts, bool* nan) {
  const int64_t taps = layer.K / layer.Cin_g;
  const std::vector<std::vector<T>> copies = plan.channels_last ? channels_last_copies<T>(layer, plan)
                                                                : std::vector<std::vector<T>>{};
  const std::vector<T> zeros(static_cast<size_t>(std::max(plan.bkp, plan.cpad)), T(0));
  const int64_t per_sample = layer.L * (static_cast<int64_t>(sizeof(void*)) + (plan.channels_last ? 0 : plan.bkp *
                             layer.elem) + plan.rows * layer.elem);
  const int64_t chunk = std::max<int64_t>(1, std::min(layer.n, kPackBytes / std::max<int64_t>(1, per_sample)));
  at::parallel_for(0, plan.tiles(layer.groups), 1, [&](int64_t begin, int64_t end) {
    std::vector<T> Dp(static_cast<size_t>(chunk * plan.rows * layer.L));
    std::vector<T> Up(plan.channels_last ? 0 : static_cast<size_t>(chunk * layer.L * plan.bkp));
    std::vector<const T*> rows(static_cast<size_t>(chunk * layer.L));
    std::vector<int32_t> cnt(plan.rows * plan.bkp);
    std::vector<uint8_t> bad(plan.rows * plan.bkp);
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t j = tile / (plan.row_blocks * plan.col_blocks);
      const int64_t o0 = (tile / plan.col_blocks) % plan.row_blocks * plan.rows;
      const int64_t b = tile % plan.col_blocks;
      const int64_t t = plan.channels_last ? b / plan.ci_blocks : 0;
      const int64_t k0 = (plan.channels_last ? b % plan.ci_blocks : b) * plan.cols;
      const int64_t nrows = std::min(plan.rows, layer.Cout_g - o0);
      const int64_t cols = std::min(plan.cols, (plan.channels_last ? layer.Cin_g : layer.K) - k0);
      std::fill(cnt.begin(), cnt.end(), 0);
      std::fill(bad.begin(), bad.end(), 0);
      for (int64_t s0 = 0; s0 < layer.n; s0 += chunk) {
        const int64_t cs = std::min(chunk, layer.n - s0);
        int64_t ds = 0, dr = 0;
        const T* D = d_operand<T>(layer, s0, cs, j * layer.Cout_g + o0, nrows, Dp, ds, dr);
        if (plan.channels_last) {
          tap_rows<T>(layer, plan, copies, s0, cs, j, t, k0, zeros.data(), rows.data());
        } else {
          im2col_rows<T>(layer, plan, s0, cs, j * layer.Cin_g, k0, cols, Up.data(), rows.data());
        }
        kernel(D, ds, dr, reinterpret_cast<const void* const*>(rows.data()), cs, nrows, layer.L, plan.bkp,
               cnt.data(), bad.data());
      }
      for (int64_t o = 0; o < nrows; ++o) {
        const int64_t row = (j * layer.Cout_g + o0 + o) * layer.K;
        for (int64_t k = 0; k < cols; ++k) {
          const int64_t at = row + (plan.channels_last ? (k0 + k) * taps + t : k0 + k);
          counts[at] += cnt[o * plan.bkp + k];
          nan[at] = nan[at] || bad[o * plan.bkp + k];
        }
      }
    }
  });
}

}  // namespace

int64_t set_channels_last_min(int64_t channels) {
  TORCH_CHECK_VALUE(channels >= 1, "channels must be >= 1");
  return g_channels_last_min.exchange(channels);
}

void conv_weight_signs_cpu(at::TensorList inputs, at::TensorList grads, at::IntArrayRef geometry, int64_t groups,
                           const at::Tensor& counts, const at::Tensor& nan, c10::string_view isa) {
  const Layer layer = check_layer(inputs, grads, geometry, groups, counts, nan);
  if (layer.n == 0 || layer.L == 0 || layer.K == 0 || layer.Cout_g == 0) return;
  const int dtype = layer.elem == 8 ? kF64 : kF32;
  const GemmSignsTable& table = gemm_table(active_isa(std::string(isa)));
  const Plan plan = make_plan(layer, table.step[dtype]);
  int64_t* c = counts.data_ptr<int64_t>();
  bool* f = nan.data_ptr<bool>();
  if (dtype == kF64) {
    run_tiles<double>(layer, surely_finite<double>(layer) ? table.finite[dtype] : table.kernel[dtype], plan, c, f);
  } else {
    run_tiles<float>(layer, surely_finite<float>(layer) ? table.finite[dtype] : table.kernel[dtype], plan, c, f);
  }
}

}  // namespace cpu
}  // namespace gradsign
