// kernels_impl.h: the block loops shared by the SIMD instruction sets, written once over a lane
// policy V. Included by sign_reduce_avx2.cpp / sign_reduce_avx512.cpp INSIDE their
// `#pragma GCC target` region and an anonymous namespace, so each gets its own private copy.
//
// A policy V supplies, for W consecutive elements of one dtype:
//   word; W; acc_t (W integer lanes); mask_t (W NaN flags);
//   zero_acc(), zero_mask(); step(const word* p, acc_t&, mask_t&)   acc += sign(p[0..W)), mask |= isnan
//   flush(acc_t, mask_t, int64_t* counts, uint8_t* nan)              counts[0..W) += acc; nan |= mask
//   hsum(acc_t) -> int64_t; any(mask_t) -> bool
//
// Math: rows kernel: counts[k] += sum_i sign(p[i*ld + k]); cols kernel: counts[k] += sum_i sign(p[k*ld + i]).

// Tuning (measured on a 2-core AVX-512 VM, (64, 4M) fp32): accumulator bytes per cache tile of the
// rows kernel (2048 int32 / 1024 int64 columns stay in L1 while the tile's rows stream by), and how
// far ahead each stream is software-prefetched (the hardware prefetchers alone reached ~half the
// bandwidth there). Overridable with -D for experiments.
#ifndef GS_TILE_ACC_BYTES
#define GS_TILE_ACC_BYTES 8192
#endif
#ifndef GS_PREFETCH_BYTES
#define GS_PREFETCH_BYTES 4096
#endif
constexpr int64_t kTileAccBytes = GS_TILE_ACC_BYTES;
template <class V> constexpr int64_t tile_columns() {
  return kTileAccBytes / static_cast<int64_t>(sizeof(typename V::acc_t) / V::W);
}

inline void prefetch_ahead(const void* p) {
  __builtin_prefetch(static_cast<const char*>(p) + GS_PREFETCH_BYTES);
}

// Every 64-byte line of the Bytes bytes at p, GS_PREFETCH_BYTES ahead (one call per loop step).
template <int Bytes> inline void prefetch_lines_ahead(const void* p) {
  for (int b = 0; b < Bytes; b += 64) prefetch_ahead(static_cast<const char*>(p) + b);
}

// step() on a partial vector: the `count` < W valid elements are copied into zero padding (sign 0).
template <class V>
inline void step_partial(const typename V::word* p, int64_t count, typename V::acc_t& acc,
                         typename V::mask_t& nan) {
  typename V::word buf[V::W] = {};
  memcpy(buf, p, static_cast<size_t>(count) * sizeof(typename V::word));
  V::step(buf, acc, nan);
}

// rows kernel over columns [c0, c0 + nv * W) of rows [r0, r1): nv <= tile_columns<V>() / W vectors.
template <class V>
inline void rows_tile(const typename V::word* p, int64_t r0, int64_t r1, int64_t ld, int64_t c0,
                      int64_t nv, int64_t* counts, uint8_t* nan) {
  typename V::acc_t acc[tile_columns<V>() / V::W];
  typename V::mask_t nm[tile_columns<V>() / V::W];
  for (int64_t v = 0; v < nv; ++v) {
    acc[v] = V::zero_acc();
    nm[v] = V::zero_mask();
  }
  int64_t i = r0;
  for (; i + 4 <= r1; i += 4) {  // four rows per accumulator pass: four streams in flight
    const typename V::word* q = p + i * ld + c0;
    for (int64_t v = 0; v < nv; ++v) {
      typename V::acc_t a = acc[v];
      typename V::mask_t m = nm[v];
      prefetch_ahead(q + v * V::W);
      prefetch_ahead(q + ld + v * V::W);
      prefetch_ahead(q + 2 * ld + v * V::W);
      prefetch_ahead(q + 3 * ld + v * V::W);
      V::step(q + v * V::W, a, m);
      V::step(q + ld + v * V::W, a, m);
      V::step(q + 2 * ld + v * V::W, a, m);
      V::step(q + 3 * ld + v * V::W, a, m);
      acc[v] = a;
      nm[v] = m;
    }
  }
  for (; i < r1; ++i) {
    const typename V::word* q = p + i * ld + c0;
    for (int64_t v = 0; v < nv; ++v) V::step(q + v * V::W, acc[v], nm[v]);
  }
  for (int64_t v = 0; v < nv; ++v) V::flush(acc[v], nm[v], counts + c0 + v * V::W, nan + c0 + v * V::W);
}

// The last m % W columns of rows [r0, r1), starting at column c0.
template <class V>
inline void rows_tail(const typename V::word* p, int64_t r0, int64_t r1, int64_t ld, int64_t c0,
                      int64_t width, int64_t* counts, uint8_t* nan) {
  typename V::acc_t acc = V::zero_acc();
  typename V::mask_t nm = V::zero_mask();
  for (int64_t i = r0; i < r1; ++i) step_partial<V>(p + i * ld + c0, width, acc, nm);
  int64_t c[V::W] = {};
  uint8_t f[V::W] = {};
  V::flush(acc, nm, c, f);
  for (int64_t k = 0; k < width; ++k) {
    counts[c0 + k] += c[k];
    nan[c0 + k] |= f[k];
  }
}

template <class V>
void rows_kernel(const void* pv, int64_t n, int64_t m, int64_t ld, int64_t max_rows,
                 int64_t* counts, uint8_t* nan) {
  const typename V::word* p = static_cast<const typename V::word*>(pv);
  const int64_t mv = m / V::W * V::W;
  for (int64_t r0 = 0; r0 < n; r0 += max_rows) {
    const int64_t r1 = n - r0 > max_rows ? r0 + max_rows : n;
    for (int64_t c0 = 0; c0 < mv; c0 += tile_columns<V>()) {
      const int64_t width = mv - c0 < tile_columns<V>() ? mv - c0 : tile_columns<V>();
      rows_tile<V>(p, r0, r1, ld, c0, width / V::W, counts, nan);
    }
    if (mv < m) rows_tail<V>(p, r0, r1, ld, mv, m - mv, counts, nan);
  }
}

template <class V>
void cols_kernel(const void* pv, int64_t n, int64_t m, int64_t ld, int64_t max_rows,
                 int64_t* counts, uint8_t* nan) {
  const typename V::word* p = static_cast<const typename V::word*>(pv);
  for (int64_t k = 0; k < m; ++k) {
    const typename V::word* col = p + k * ld;
    int64_t total = 0;
    bool bad = false;
    for (int64_t r0 = 0; r0 < n; r0 += max_rows) {
      const int64_t r1 = n - r0 > max_rows ? r0 + max_rows : n;
      typename V::acc_t a = V::zero_acc();
      typename V::mask_t f = V::zero_mask();
      int64_t i = r0;
      for (; i + 2 * V::W <= r1; i += 2 * V::W) {
        prefetch_lines_ahead<2 * V::W * sizeof(typename V::word)>(col + i);
        V::step(col + i, a, f);
        V::step(col + i + V::W, a, f);
      }
      for (; i + V::W <= r1; i += V::W) V::step(col + i, a, f);
      if (i < r1) step_partial<V>(col + i, r1 - i, a, f);
      total += V::hsum(a);
      bad = bad || V::any(f);
    }
    counts[k] += total;
    nan[k] |= static_cast<uint8_t>(bad);
  }
}
