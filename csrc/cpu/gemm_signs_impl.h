// gemm_signs_impl.h: the per-sample GEMM + sign-count loops of gemm_signs.h, written once over a lane
// policy P. Included by gemm_signs_{scalar,avx2,avx512}.cpp INSIDE their target region and an
// anonymous namespace, so each instruction set gets its own private copy.
//
// A policy P supplies, for W lanes of type T (float or double):
//   T, W, R (rows per register block), vec, ivec (integer counters, one per lane)
//   zero(), load(p), bcast(p), fma(a, b, c) = a * b + c
//   izero(); count(g, cnt, bad)          cnt += sign(g) per lane (bit tests); bad |= any lane isnan(g)
//   count_finite(g, cnt)                 cnt += (g > 0) - (g < 0) per lane: two compares, for G known to
//                                        be finite (the driver checked the inputs: no NaN / inf can arise)
//   add_store(int32_t* dst, cnt)         dst[0..W) += cnt
//   nan_lanes(g, uint8_t* flags)         flags[w] |= isnan(g[w])   (only after `bad`: NaN is rare)
// A register block is R output channels x 2W columns: 2R accumulators hold G_s while the positions go
// by; its signs are then added to the int32 counts of the tile.

template <class P, int R, bool Checked>
inline void gemm_signs_block(const typename P::T* D, int64_t ds, int64_t dr, const typename P::T* const* U, int64_t s,
                             int64_t L, int64_t bkp, int64_t o0, int64_t k0, int32_t* cnt, uint8_t* nan) {
  typedef typename P::T T;
  const T* d = D + s * ds + o0 * dr;
  const T* const* u = U + s * L;
  typename P::vec acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = P::zero();
  for (int64_t l = 0; l < L; ++l) {
    const T* row = u[l] + k0;
    const typename P::vec u0 = P::load(row);
    const typename P::vec u1 = P::load(row + P::W);
    for (int r = 0; r < R; ++r) {
      const typename P::vec b = P::bcast(d + r * dr + l);
      acc[r][0] = P::fma(b, u0, acc[r][0]);
      acc[r][1] = P::fma(b, u1, acc[r][1]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int h = 0; h < 2; ++h) {
      int32_t* at = cnt + (o0 + r) * bkp + k0 + h * P::W;
      typename P::ivec ct = P::izero();
      if constexpr (Checked) {
        bool bad = false;
        P::count(acc[r][h], ct, bad);
        if (bad) P::nan_lanes(acc[r][h], nan + (o0 + r) * bkp + k0 + h * P::W);
      } else {
        P::count_finite(acc[r][h], ct);
      }
      P::add_store(at, ct);
    }
  }
}

// The remaining rows (fewer than R) of a column block, one register block size at a time.
template <class P, int Rows, bool Checked>
inline void gemm_signs_rest(const typename P::T* D, int64_t ds, int64_t dr, const typename P::T* const* U, int64_t s,
                            int64_t bo, int64_t L, int64_t bkp, int64_t o0, int64_t k0, int32_t* cnt, uint8_t* nan) {
  if constexpr (Rows > 0) {
    if (bo - o0 == Rows) {
      gemm_signs_block<P, Rows, Checked>(D, ds, dr, U, s, L, bkp, o0, k0, cnt, nan);
    } else {
      gemm_signs_rest<P, Rows - 1, Checked>(D, ds, dr, U, s, bo, L, bkp, o0, k0, cnt, nan);
    }
  }
}

// The whole tile, one sample at a time (its U rows stay in L1 while every block of the tile uses them),
// in register blocks of R rows x 2W columns; the counts go through memory once per sample and block.
template <class P, bool Checked>
void gemm_signs(const void* D_, int64_t ds, int64_t dr, const void* const* U_, int64_t c, int64_t bo, int64_t L,
                int64_t bkp, int32_t* cnt, uint8_t* nan) {
  const typename P::T* D = static_cast<const typename P::T*>(D_);
  const typename P::T* const* U = reinterpret_cast<const typename P::T* const*>(U_);
  for (int64_t s = 0; s < c; ++s) {
    for (int64_t k0 = 0; k0 < bkp; k0 += 2 * P::W) {
      int64_t o0 = 0;
      for (; o0 + P::R <= bo; o0 += P::R) gemm_signs_block<P, P::R, Checked>(D, ds, dr, U, s, L, bkp, o0, k0, cnt, nan);
      gemm_signs_rest<P, P::R - 1, Checked>(D, ds, dr, U, s, bo, L, bkp, o0, k0, cnt, nan);
    }
  }
}

// One instruction set's table from its float32 and float64 lane types: kernels for the two float
// dtypes (fp16 / bf16 keep the tile path), column steps of two vectors.
template <class P32, class P64>
GemmSignsTable make_gemm_signs_table(const char* isa) {
  return {isa, {0, 0, 2 * P32::W, 2 * P64::W},
          {nullptr, nullptr, gemm_signs<P32, true>, gemm_signs<P64, true>},
          {nullptr, nullptr, gemm_signs<P32, false>, gemm_signs<P64, false>}};
}
