// Skinny GEMM (part of gemm_impl.h): M <= 4 (decode GEMV) and tall-skinny N <= 4.
//
// These shapes are bound by reading the big operand once, and packing it would read and write it
// once more for no reuse, so these kernels read the operands in place:
//  - axpy (M <= 4, B [K,N]): a task owns GN output columns and walks B's rows in k order, adding
//    a(i,k) * B(k, cols) into GN-wide accumulator rows in L1; each B row piece is GN contiguous
//    floats, so memory is read in long sequential runs.
//  - dot (M <= 4 with B transposed [N,K], or N <= 4 with A [M,K]): both operands are contiguous
//    along k; a 4 x 4 block of dot products keeps 16 partial sums per output (lane l sums the k
//    that are l mod 16, in k order) and reduces them in a fixed tree.
// Tasks are fixed column (or row) chunks, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace kp::cpu::KP_ISA {
namespace {

constexpr int64_t GN = 3072;  // most output columns per axpy task (see axpy_width)
constexpr int64_t GK = 256;   // k values per block of converted A values (axpy)
constexpr int64_t GM = 64;    // output rows per tall-skinny task
constexpr int64_t DN = 64;    // output columns per dot task (M <= 4, B transposed)
constexpr int DL = 16;        // partial sums per dot product

// Returning a 64-byte vector by value is an ABI note on units without AVX-512; these functions
// are internal and inlined, so the note is noise.
#pragma GCC diagnostic ignored "-Wpsabi"
// 16 floats as one value: a zmm on AVX-512, two ymm on AVX2, four xmm/q registers elsewhere
// (GCC vector extension), so the 4 x 4 block keeps its 16 partial-sum vectors in registers.
typedef float V16 __attribute__((vector_size(DL * sizeof(float))));
inline V16 load16(const float* p) {
  V16 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

// Values k..k+15 of a line in its own dtype, as f32: 16-bit lines are converted in registers (cvt_row
// on 16 values: F16C / shifts), so the decode GEMV reads a 16-bit weight once, in place, as it does an
// f32 one, instead of converting whole lines through a buffer that falls out of L1 (half the bytes
// then ran no faster than f32). The conversion is exact: results are the same bits as converting first.
template <kp_dtype DT>
inline V16 load16_as_f32(const void* line, int64_t k) {
  if constexpr (DT == KP_F32) {
    return load16(static_cast<const float*>(line) + k);
  } else {
    float t[DL];
    cvt_row(static_cast<const uint16_t*>(line) + k, DT, DL, t);
    return load16(t);
  }
}

// acc[i][0, nb) += a[i][p] * b_p[0, nb) for the rows p of [p0, kb) taken R at a time (in k order); returns the
// first row not taken. R: 4, or 8 for 16-bit rows where the registers hold them (AVX-512: 32 of them); a step
// of 8 has as many bytes of B in flight as f32's 4, and each accumulator load and store serves as many bytes
// (with 4 alone, the bf16 GEMV read ~65 % of the bandwidth the f32 one did). The loads and FMAs are written
// out, not looped over an array: that made gcc's f32 code 5-7 % slower.
template <kp_dtype BDT, int R>
int64_t axpy_steps(int m, int64_t p0, int64_t kb, const float* av, const void* const* brow, int64_t nb, float* acc) {
  static_assert(R == 4 || R == 8, "4 or 8 rows a step");
  int64_t p = p0;
  for (; p + R <= kb; p += R) {
    int64_t j = 0;
    for (; j + DL <= nb; j += DL) {
      const V16 b0 = load16_as_f32<BDT>(brow[p], j), b1 = load16_as_f32<BDT>(brow[p + 1], j),
                b2 = load16_as_f32<BDT>(brow[p + 2], j), b3 = load16_as_f32<BDT>(brow[p + 3], j);
      V16 b4{}, b5{}, b6{}, b7{};
      if constexpr (R == 8)
        b4 = load16_as_f32<BDT>(brow[p + 4], j), b5 = load16_as_f32<BDT>(brow[p + 5], j),
        b6 = load16_as_f32<BDT>(brow[p + 6], j), b7 = load16_as_f32<BDT>(brow[p + 7], j);
      for (int i = 0; i < m; ++i) {
        const float* a = av + i * GK + p;
        V16 c = load16(acc + i * GN + j);
        c = a[0] * b0 + c, c = a[1] * b1 + c, c = a[2] * b2 + c, c = a[3] * b3 + c;
        if constexpr (R == 8) c = a[4] * b4 + c, c = a[5] * b5 + c, c = a[6] * b6 + c, c = a[7] * b7 + c;
        __builtin_memcpy(acc + i * GN + j, &c, sizeof c);
      }
    }
    for (; j < nb; ++j)
      for (int i = 0; i < m; ++i) {
        const float* a = av + i * GK + p;
        float& c = acc[i * GN + j];
        for (int q = 0; q < R; ++q) c = vm::madd(a[q], load_f32(brow[p + q], BDT, j), c);
      }
  }
  return p;
}

// acc[i][0, nb) += sum over the k block of a[i][p] * b_p[0, nb), in k order, for i < m; the b rows in
// dtype BDT, read in place and (16-bit) converted in registers, each converted once for all m rows.
// Per element the same FMA chain as a scalar loop: the bits do not depend on the vector width.
template <kp_dtype BDT>
void axpy_block(int m, int64_t kb, const float* av, const void* const* brow, int64_t nb, float* acc) {
  int64_t p = 0;
#if defined(__AVX512F__)
  if constexpr (BDT != KP_F32) p = axpy_steps<BDT, 8>(m, p, kb, av, brow, nb, acc);
#endif
  p = axpy_steps<BDT, 4>(m, p, kb, av, brow, nb, acc);
  for (; p < kb; ++p)
    for (int i = 0; i < m; ++i) {
      const float a = av[i * GK + p];
      float* c = acc + i * GN;
      for (int64_t j = 0; j < nb; ++j) c[j] = vm::madd(a, load_f32(brow[p], BDT, j), c[j]);
    }
}

struct SkinnyCtx {
  const Op* op;
  int64_t chunks;  // per batch entry
  int64_t width;   // columns (axpy) per task
};

// Columns per axpy task: runs of about 4 KiB of each B row (1024 f32 or 2048 16-bit columns), in
// equal chunks. Long runs of each B row matter: a task reads one run per row of B and rows are N
// elements apart, so short runs mean a new DRAM page (and TLB entry) every few cache lines; measured
// on Zen 4, 2 threads, 1x4096x4096 f32: runs of 1 KiB 20 GB/s, 2 KiB 27 GB/s, 4 and 8 KiB 34-36 GB/s.
// But at least one task per thread (down to 64 columns a task), and a multiple of the threads where
// there are more tasks: 4 KiB runs alone made 2 tasks of a 4096-wide bf16 row, so a decode step's GEMV
// ran on 2 cores of a 64-core node (and 5 tasks of an 11008-wide one left a thread of 2 idle a third
// of the time). Columns are independent sums, so the chunking never changes a bit.
inline int64_t axpy_width(int64_t n, int64_t esz, int threads) {
  const int64_t target = 4096 / esz, t = threads > 1 ? threads : 1;
  const int64_t most = n / 64 > 1 ? n / 64 : 1;
  int64_t chunks = (n + target / 2) / target > 0 ? (n + target / 2) / target : 1;
  chunks = chunks < t ? t : round_up(chunks, t);
  if (chunks > most) chunks = most;
  return round_up((n + chunks - 1) / chunks, 64);
}

// M <= 4, B [K,N]: columns [n0, n0 + nb) of one batch entry.
void axpy_task(const void* ctx_v, int64_t t) {
  const SkinnyCtx& x = *static_cast<const SkinnyCtx*>(ctx_v);
  const Op& g = *x.op;
  const kp_matmul_desc& d = *g.d;
  const Entry e = entry_of(g, t / x.chunks);
  const int64_t n0 = t % x.chunks * x.width, nb = min64(x.width, d.n - n0);
  const int m = static_cast<int>(d.m);
  float* acc = task_ws(4 * GN + 4 * GK + GN + 2 * GN + GK);
  float* av = acc + 4 * GN;
  float* bias = av + 4 * GK;
  float* work = bias + GN;
  float* tmp = work + 2 * GN;
  const void* brow[GK];
  for (int64_t j = 0; j < 4 * GN; ++j) acc[j] = 0.0f;
  const char* A = static_cast<const char*>(g.args->a);
  const char* B = static_cast<const char*>(g.args->b);
  for (int64_t k0 = 0; k0 < d.k; k0 += GK) {
    const int64_t kb = min64(GK, d.k - k0);
    for (int i = 0; i < m; ++i) {
      const int64_t base = e.a_off + i * g.a_rs + k0 * g.a_cs;
      if (g.a_cs == 1) {
        cvt_row(A + base * g.esz, d.dtype, kb, av + i * GK);
      } else {
        for (int64_t p = 0; p < kb; ++p) tmp[p] = load_f32(A, d.dtype, base + p * g.a_cs);
        for (int64_t p = 0; p < kb; ++p) av[i * GK + p] = tmp[p];
      }
    }
    for (int64_t p = 0; p < kb; ++p) brow[p] = B + (e.b_off + (k0 + p) * g.b_rs + n0) * g.esz;
    if (d.dtype == KP_F16) axpy_block<KP_F16>(m, kb, av, brow, nb, acc);
    else if (d.dtype == KP_BF16) axpy_block<KP_BF16>(m, kb, av, brow, nb, acc);
    else axpy_block<KP_F32>(m, kb, av, brow, nb, acc);
  }
  if (d.has_bias) load_row_f32(static_cast<const char*>(g.args->bias) + n0 * dtype_size(d.bias_dtype), d.bias_dtype, nb, bias);
  for (int i = 0; i < m; ++i)
    epilogue_row(d, *g.args, e.bt, e.r_off, i, n0, nb, acc + i * GN, d.has_bias ? bias : nullptr, work);
}

// part[i][j][l] += a_i[k] * b_j[k] over k in [0, len) with k = l mod DL, for an MA x 4 block (MA = 1 for
// the single-row decode GEMV: a quarter of the FMAs of 4 x 4); the b lines in dtype BDT. a * b + acc is
// contracted to one FMA where the unit has FMA, as vm::madd does for the tail.
template <kp_dtype BDT, int MA>
void dot4x4(const float* const* a, const void* const* b, int64_t len, float* part) {
  V16 acc[MA * 4];
  for (int q = 0; q < MA * 4; ++q) acc[q] = load16(part + q * DL);
  int64_t k = 0;
  for (; k + DL <= len; k += DL) {
    const V16 b0 = load16_as_f32<BDT>(b[0], k), b1 = load16_as_f32<BDT>(b[1], k), b2 = load16_as_f32<BDT>(b[2], k),
              b3 = load16_as_f32<BDT>(b[3], k);
#pragma GCC unroll 4
    for (int i = 0; i < MA; ++i) {
      const V16 ai = load16(a[i] + k);
      acc[4 * i] = ai * b0 + acc[4 * i], acc[4 * i + 1] = ai * b1 + acc[4 * i + 1];
      acc[4 * i + 2] = ai * b2 + acc[4 * i + 2], acc[4 * i + 3] = ai * b3 + acc[4 * i + 3];
    }
  }
  for (int q = 0; q < MA * 4; ++q) __builtin_memcpy(part + q * DL, &acc[q], sizeof(V16));
  for (int i = 0; i < MA; ++i)
    for (int j = 0; j < 4; ++j)
      for (int64_t l = 0; k + l < len; ++l)
        part[(i * 4 + j) * DL + l] = vm::madd(a[i][k + l], load_f32(b[j], BDT, k + l), part[(i * 4 + j) * DL + l]);
}

#if defined(__AVX512F__)
// M = 1 with 16-bit B lines, where the registers hold 8 of them (AVX-512): 8 lines a step, as many bytes
// in flight as f32's 4 (with 4, the bf16 nn.Linear GEMV read ~75 % of the bandwidth the f32 one did).
// Each line's dot product is dot4x4's sequence exactly: the same bits.
template <kp_dtype BDT>
void dot1x8(const float* a, const void* const* b, int64_t len, float* part) {
  V16 acc[8];
  for (int q = 0; q < 8; ++q) acc[q] = load16(part + q * DL);
  int64_t k = 0;
  for (; k + DL <= len; k += DL) {
    const V16 ak = load16(a + k);
    const V16 b0 = load16_as_f32<BDT>(b[0], k), b1 = load16_as_f32<BDT>(b[1], k), b2 = load16_as_f32<BDT>(b[2], k),
              b3 = load16_as_f32<BDT>(b[3], k), b4 = load16_as_f32<BDT>(b[4], k), b5 = load16_as_f32<BDT>(b[5], k),
              b6 = load16_as_f32<BDT>(b[6], k), b7 = load16_as_f32<BDT>(b[7], k);
    acc[0] = ak * b0 + acc[0], acc[1] = ak * b1 + acc[1], acc[2] = ak * b2 + acc[2], acc[3] = ak * b3 + acc[3];
    acc[4] = ak * b4 + acc[4], acc[5] = ak * b5 + acc[5], acc[6] = ak * b6 + acc[6], acc[7] = ak * b7 + acc[7];
  }
  for (int q = 0; q < 8; ++q) __builtin_memcpy(part + q * DL, &acc[q], sizeof(V16));
  for (int j = 0; j < 8; ++j)
    for (int64_t l = 0; k + l < len; ++l) part[j * DL + l] = vm::madd(a[k + l], load_f32(b[j], BDT, k + l), part[j * DL + l]);
}
#endif

// dot4x4 for the b lines' dtype, known at run time.
template <int MA>
void dot4x4_of(kp_dtype bdt, const float* const* a, const void* const* b, int64_t len, float* part) {
  if (bdt == KP_F16) dot4x4<KP_F16, MA>(a, b, len, part);
  else if (bdt == KP_BF16) dot4x4<KP_BF16, MA>(a, b, len, part);
  else dot4x4<KP_F32, MA>(a, b, len, part);
}

inline float reduce_lanes(float* s) {
  for (int w = DL / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) s[l] = s[l] + s[l + w];
  return s[0];
}

// out(i, j) = dot(arows[i], blines[j]) for i < ma, j < nb (<= 4 each), lines contiguous along k; the
// f32 a rows are the few reused ones, the b lines (dtype bdt) the streamed ones. Missing lines repeat
// line 0 (computed and dropped), so the kernel is 1 x 4 or 4 x 4.
void dot_block(const float* const* arows, int ma, const void* const* blines, kp_dtype bdt, int nb, int64_t k,
               float out[4][4], float* part) {
  const float* a[4];
  const void* b[4];
  for (int i = 0; i < 4; ++i) {
    a[i] = arows[i < ma ? i : 0];
    b[i] = blines[i < nb ? i : 0];
  }
  for (int q = 0; q < 16 * DL; ++q) part[q] = 0.0f;
  ma == 1 ? dot4x4_of<1>(bdt, a, b, k, part) : dot4x4_of<4>(bdt, a, b, k, part);
  for (int i = 0; i < (ma == 1 ? 1 : 4); ++i)
    for (int j = 0; j < 4; ++j) out[i][j] = reduce_lanes(part + (i * 4 + j) * DL);
}

// Line (row of A or of transposed B) as contiguous f32: in place for f32, else converted into buf.
inline const float* line_f32(const char* base, kp_dtype dt, int64_t stride, int64_t k, float* buf) {
  if (dt == KP_F32 && stride == 1) return reinterpret_cast<const float*>(base);
  if (stride == 1) cvt_row(base, dt, k, buf);
  else
    for (int64_t p = 0; p < k; ++p) buf[p] = load_f32(base, dt, p * stride);
  return buf;
}

// M <= 4, B transposed ([N,K]): columns [n0, n0 + nb) of one batch entry.
void dot_m_task(const void* ctx_v, int64_t t) {
  const SkinnyCtx& x = *static_cast<const SkinnyCtx*>(ctx_v);
  const Op& g = *x.op;
  const kp_matmul_desc& d = *g.d;
  const Entry e = entry_of(g, t / x.chunks);
  const int64_t n0 = t % x.chunks * DN, nb = min64(DN, d.n - n0);
  const int m = static_cast<int>(d.m);
  const int64_t K = d.k;
  float* acc = task_ws(4 * DN + 16 * DL + DN + 2 * DN + 4 * K);
  float* part = acc + 4 * DN;
  float* bias = part + 16 * DL;
  float* work = bias + DN;
  float* abuf = work + 2 * DN;
  const char* A = static_cast<const char*>(g.args->a);
  const char* B = static_cast<const char*>(g.args->b);
  const float* arows[4];
  for (int i = 0; i < m; ++i)
    arows[i] = line_f32(A + (e.a_off + i * g.a_rs) * g.esz, d.dtype, g.a_cs, K, abuf + i * K);
  int64_t j0 = 0;
#if defined(__AVX512F__)
  if (m == 1 && d.dtype != KP_F32)
    for (; j0 + 8 <= nb; j0 += 8) {
      const void* blines[8];
      for (int j = 0; j < 8; ++j) blines[j] = B + (e.b_off + (n0 + j0 + j) * g.b_cs) * g.esz;
      for (int q = 0; q < 8 * DL; ++q) part[q] = 0.0f;
      if (d.dtype == KP_BF16) dot1x8<KP_BF16>(arows[0], blines, K, part);
      else dot1x8<KP_F16>(arows[0], blines, K, part);
      for (int j = 0; j < 8; ++j) acc[j0 + j] = reduce_lanes(part + j * DL);
    }
#endif
  for (; j0 < nb; j0 += 4) {
    const int nj = static_cast<int>(min64(4, nb - j0));
    const void* blines[4];  // B transposed: each line contiguous along k (b_rs == 1), read in place
    for (int j = 0; j < nj; ++j) blines[j] = B + (e.b_off + (n0 + j0 + j) * g.b_cs) * g.esz;
    float out[4][4];
    dot_block(arows, m, blines, d.dtype, nj, K, out, part);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < nj; ++j) acc[i * DN + j0 + j] = out[i][j];
  }
  if (d.has_bias) load_row_f32(static_cast<const char*>(g.args->bias) + n0 * dtype_size(d.bias_dtype), d.bias_dtype, nb, bias);
  for (int i = 0; i < m; ++i)
    epilogue_row(d, *g.args, e.bt, e.r_off, i, n0, nb, acc + i * DN, d.has_bias ? bias : nullptr, work);
}

// N <= 4, A [M,K]: rows [m0, m0 + mb) of one batch entry.
void dot_n_task(const void* ctx_v, int64_t t) {
  const SkinnyCtx& x = *static_cast<const SkinnyCtx*>(ctx_v);
  const Op& g = *x.op;
  const kp_matmul_desc& d = *g.d;
  const Entry e = entry_of(g, t / x.chunks);
  const int64_t m0 = t % x.chunks * GM, mb = min64(GM, d.m - m0);
  const int n = static_cast<int>(d.n);
  const int64_t K = d.k;
  float* part = task_ws(16 * DL + 4 + 8 + 4 * K);
  float* bias = part + 16 * DL;
  float* work = bias + 4;
  float* bbuf = work + 8;
  const char* A = static_cast<const char*>(g.args->a);
  const char* B = static_cast<const char*>(g.args->b);
  const float* brows[4];
  for (int j = 0; j < n; ++j)
    brows[j] = line_f32(B + (e.b_off + j * g.b_cs) * g.esz, d.dtype, g.b_rs, K, bbuf + j * K);
  if (d.has_bias) load_row_f32(g.args->bias, d.bias_dtype, n, bias);
  for (int64_t i0 = 0; i0 < mb; i0 += 4) {
    const int ni = static_cast<int>(min64(4, mb - i0));
    const void* alines[4];  // A rows, contiguous along k (a_cs == 1): the streamed side, read in place
    for (int i = 0; i < ni; ++i) alines[i] = A + (e.a_off + (m0 + i0 + i) * g.a_rs) * g.esz;
    // dot(a_i, b_j) = dot(b_j, a_i) to the bit (products and FMAs commute): B's converted rows take
    // the reused side of the block.
    float out_t[4][4];
    dot_block(brows, n, alines, d.dtype, ni, K, out_t, part);
    for (int i = 0; i < ni; ++i) {
      float row[4];
      for (int j = 0; j < n; ++j) row[j] = out_t[j][i];
      epilogue_row(d, *g.args, e.bt, e.r_off, m0 + i0 + i, 0, n, row, d.has_bias ? bias : nullptr, work);
    }
  }
}

// Runs the op on a skinny path if it has one; false: use the blocked GEMM.
bool run_skinny(const Op& g, const Parallel& par) {
  const kp_matmul_desc& d = *g.d;
  SkinnyCtx x{&g, 0, 0};
  void (*task)(const void*, int64_t) = nullptr;
  if (d.m <= 4 && g.b_cs == 1) {
    x.width = axpy_width(d.n, g.esz, par.threads);
    x.chunks = (d.n + x.width - 1) / x.width;
    task = &axpy_task;
  } else if (d.m <= 4 && g.b_rs == 1) {
    x.chunks = (d.n + DN - 1) / DN;
    task = &dot_m_task;
  } else if (d.n <= 4 && g.a_cs == 1) {
    x.chunks = (d.m + GM - 1) / GM;
    task = &dot_n_task;
  } else {
    return false;
  }
  par.run(par.pool, g.batch * x.chunks, task, &x);
  return true;
}

}  // namespace
}  // namespace kp::cpu::KP_ISA
