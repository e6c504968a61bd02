// Blocked, packed GEMM with the epilogue fused into the microkernel's store, instantiated once per
// ISA (BLIS-style: this generic loop nest + the ISA's tiny microkernel).
//
// Include from exactly one translation unit per ISA after defining KP_ISA (the namespace and the
// variant's name), including that ISA's ukernel_*.h (MR, NR, ukernel, cvt_row), and defining the
// blocks KP_GEMM_KC (k block), KP_GEMM_MT x KP_GEMM_NT (output tile per task; MT % MR == 0,
// NT % NR == 0).
//
// Paths, chosen from the descriptor and the tile shape (tile_shape):
//  - skinny (gemm_skinny.h): M <= 4, or N <= 4 with A not transposed; no packing.
//  - shared packing: A and B are packed once per op (in bands of at most kRegionBytes each, over
//    all of K) by one parallel phase, then every output tile is a task that runs all of K over the
//    shared panels with its accumulators in a private L2 tile. Packing thus costs one pass over
//    each operand instead of one per tile (B used to be repacked for every M tile).
//  - private packing: small ops (under 4 tiles per batch entry) or huge K: each tile task packs
//    its own A rows and B columns one k block at a time.
//
// Determinism: every output element is one f32 accumulator updated by FMA in k order, in k blocks
// of KC (stored as f32 between blocks, which is exact), followed by the same epilogue, whichever
// tile holds it and whichever thread runs that tile: results are bitwise identical for any thread
// count and any tile shape. So the tile shape may follow the thread count (tile_shape: small ops are
// cut into tiles that fill every thread evenly).
#pragma once
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#if defined(__unix__) || defined(__APPLE__)
#include <sched.h>
#endif

#include "convert.h"
#include "epilogue.h"
#include "isa_kernels.h"
#include "scratch.h"

#if !defined(KP_ISA) || !defined(KP_GEMM_KC) || !defined(KP_GEMM_MT) || !defined(KP_GEMM_NT)
#error "gemm_impl.h needs KP_ISA, the ISA's ukernel header and KP_GEMM_KC/MT/NT first"
#endif

#define KP_STR2(x) #x
#define KP_STR(x) KP_STR2(x)

#include "gemm_pack.h"

namespace kp::cpu::KP_ISA {
namespace {

constexpr int64_t KC = KP_GEMM_KC;
constexpr int64_t MT = KP_GEMM_MT;
constexpr int64_t NT = KP_GEMM_NT;
static_assert(MT % MR == 0 && NT % NR == 0, "tiles must hold whole microtiles");
// Most bytes of packed A (and again of packed B) held at once. Bigger operands are packed in bands
// (of whole tiles), and the other operand is reused across them — but when both need bands, A is
// repacked once per band of B. At 32 MiB an LLM down-projection (1024x11008 @ 11008x4096) repacked
// its 45 MB A six times (78% of peak); at 64 MiB A fits one band (88%), for up to 128 MiB of scratch.
constexpr int64_t kRegionBytes = int64_t{64} << 20;
// KERNELPORT_GEMM_REGION_BYTES (a testing knob) shrinks it so that small problems take the band
// paths; read once per process.
inline int64_t region_bytes() {
  static const int64_t v = [] {
    const char* s = std::getenv("KERNELPORT_GEMM_REGION_BYTES");
    char* end = nullptr;
    const long long x = s && *s ? std::strtoll(s, &end, 10) : 0;
    return x >= 4096 && end && *end == '\0' ? static_cast<int64_t>(x) : kRegionBytes;
  }();
  return v;
}

// Op-wide constants. A(i, k) is element i * a_rs + k * a_cs of the batch entry's A; B(k, j) is
// k * b_rs + j * b_cs (A is [M,K] or, transposed, [K,M]; B is [K,N] or [N,K]).
struct Op {
  const kp_matmul_desc* d;
  const MatmulArgs* args;
  int64_t esz, a_rs, a_cs, b_rs, b_cs, batch;
  int64_t mt, nt;  // output tile (tile_shape): at most MT x NT, multiples of MR x NR
};

struct Entry {
  int64_t bt, a_off, b_off, r_off;
};

Op make_op(const kp_matmul_desc& d, const MatmulArgs& args) {
  Op g{&d, &args, dtype_size(d.dtype), d.trans_a ? 1 : d.k, d.trans_a ? d.m : 1, d.trans_b ? 1 : d.n,
       d.trans_b ? d.k : 1, 1, MT, NT};
  for (int i = 0; i < d.batch_rank; ++i) g.batch *= d.batch_shape[i];
  return g;
}

// Operand offsets of batch entry bt (row-major over batch_shape; stride 0 broadcasts).
Entry entry_of(const Op& g, int64_t bt) {
  const kp_matmul_desc& d = *g.d;
  Entry e{bt, 0, 0, 0};
  for (int64_t rem = bt, i = d.batch_rank - 1; i >= 0; --i) {
    const int64_t idx = rem % d.batch_shape[i];
    rem /= d.batch_shape[i];
    e.a_off += idx * d.a_batch_stride[i];
    e.b_off += idx * d.b_batch_stride[i];
    if (d.has_residual) e.r_off += idx * d.r_batch_stride[i];
  }
  return e;
}

// Per-thread scratch of a task (pool threads persist, so it is allocated once).
float* task_ws(size_t floats) {
  static thread_local Scratch s;
  return s.get(floats);
}

}  // namespace
}  // namespace kp::cpu::KP_ISA

#include "gemm_skinny.h"

namespace kp::cpu::KP_ISA {
namespace {

struct TileWs {
  float *ctile, *tmp, *bias, *work, *apack, *bpack, *cvt;
};

TileWs tile_ws(const Op& g, int64_t n0, int64_t nb) {
  const size_t c = scratch_round(MT * NT), t = scratch_round(MR * NR), b = scratch_round(NT), w = scratch_round(2 * NR),
               ap = scratch_round(MT * KC), bp = scratch_round(KC * NT), cv = scratch_round(KC);
  TileWs ws;
  ws.ctile = task_ws(c + t + b + w + ap + bp + cv);
  ws.tmp = ws.ctile + c;
  ws.bias = ws.tmp + t;
  ws.work = ws.bias + b;
  ws.apack = ws.work + w;
  ws.bpack = ws.apack + ap;
  ws.cvt = ws.bpack + bp;
  const kp_matmul_desc& d = *g.d;
  if (d.has_bias)
    load_row_f32(static_cast<const char*>(g.args->bias) + n0 * dtype_size(d.bias_dtype), d.bias_dtype, nb, ws.bias);
  return ws;
}

// One k block of the tile at rows [m0, m0 + mb) x columns [n0, n0 + nb) of entry e. ap: the
// tile's A panels at this block (row panel ir at ap + ir * kc), bp: its B panels (jr at bp + jr * kc).
// Row panel outermost: its A micro-panel (MR x kc) stays in L1 while the B panels stream from L2.
// Between k blocks the accumulators live in the f32 tile ws.ctile; the last block's store goes
// through the epilogue straight to the output.
void tile_block(const Op& g, const Entry& e, int64_t kc, const float* ap, const float* bp, int64_t m0, int64_t mb,
                int64_t n0, int64_t nb, bool first, bool last, const TileWs& ws) {
  const kp_matmul_desc& d = *g.d;
  for (int64_t ir = 0; ir < mb; ir += MR) {
    const int64_t r = min64(MR, mb - ir);
    const float* a = ap + ir * kc;
    for (int64_t jr = 0; jr < nb; jr += NR) {
      const float* b = bp + jr * kc;
      float* c = ws.ctile + ir * NT + jr;
      if (!last) {
        ukernel(kc, a, b, first ? nullptr : c, NT, c, NT);
        continue;
      }
      ukernel(kc, a, b, first ? nullptr : c, NT, ws.tmp, NR);
      const int64_t nr = min64(NR, nb - jr);
      for (int64_t i = 0; i < r; ++i)
        epilogue_row(d, *g.args, e.bt, e.r_off, m0 + ir + i, n0 + jr, nr, ws.tmp + i * NR,
                     d.has_bias ? ws.bias + jr : nullptr, ws.work);
    }
  }
}

// ---- private packing: one task per (batch entry, tile) ---------------------------------------

struct PrivateCtx {
  const Op* op;
  int64_t mtiles, ntiles;
};

void private_task(const void* ctx_v, int64_t t) {
  const PrivateCtx& x = *static_cast<const PrivateCtx*>(ctx_v);
  const Op& g = *x.op;
  const kp_matmul_desc& d = *g.d;
  const int64_t tiles = x.mtiles * x.ntiles;
  const Entry e = entry_of(g, t / tiles);
  const int64_t mt = t % tiles / x.ntiles, nt = t % x.ntiles;
  const int64_t m0 = mt * g.mt, mb = min64(g.mt, d.m - m0);
  const int64_t n0 = nt * g.nt, nb = min64(g.nt, d.n - n0);
  const TileWs ws = tile_ws(g, n0, nb);
  const char* A = static_cast<const char*>(g.args->a) + (e.a_off + m0 * g.a_rs) * g.esz;
  const char* B = static_cast<const char*>(g.args->b) + (e.b_off + n0 * g.b_cs) * g.esz;
  // K = 0 still runs one (empty) block so the tile is zeroed and gets its epilogue.
  for (int64_t pc = 0; pc == 0 || pc < d.k; pc += KC) {
    const int64_t kc = min64(KC, d.k - pc);
    for (int64_t ir = 0; ir < mb; ir += MR)
      pack_panel<MR>(A + (ir * g.a_rs + pc * g.a_cs) * g.esz, d.dtype, g.a_rs, g.a_cs, min64(MR, mb - ir), kc,
                     ws.apack + ir * kc, ws.cvt);
    for (int64_t jr = 0; jr < nb; jr += NR)
      pack_panel<NR>(B + (jr * g.b_cs + pc * g.b_rs) * g.esz, d.dtype, g.b_cs, g.b_rs, min64(NR, nb - jr), kc,
                     ws.bpack + jr * kc, ws.cvt);
    tile_block(g, e, kc, ws.apack, ws.bpack, m0, mb, n0, nb, pc == 0, pc + KC >= d.k, ws);
  }
}

// ---- shared packing: per batch entry, bands of A and B packed once over all of K -------------
//
// No separate pack phase: the first task that needs a tile's A rows (or an NT-column chunk of B)
// packs them into the shared band and marks them done; a task that finds them being packed by
// another thread waits (the packer is already running: the pool hands out tasks in index order
// and runs each at once). So packing B overlaps other threads' compute instead of being a
// memory-bound phase with every core idle but one (that cost 8% at 512x4096x4096). Packing is
// deterministic, so who packs changes nothing.

enum : int { kUnpacked = 0, kPacking = 1, kPacked = 2, kPackFailed = 3 };

struct SharedCtx {
  const Op* op;
  Entry e;
  int64_t m_lo, ms, n_lo, ns;  // the current bands: rows [m_lo, m_lo + ms), columns [n_lo, n_lo + ns)
  int64_t ms_cap, ns_cap;      // band widths of the packed layout (multiples of MT, NT)
  int64_t mtl;                 // tiles down the row band
  float *apack, *bpack;
  int *a_state, *b_state;      // per tile row / tile column of the bands: kUnpacked ... kPackFailed
};

inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline void yield_thread() {
#if defined(__unix__) || defined(__APPLE__)
  sched_yield();
#else
  spin_pause();
#endif
}

// Runs pack() once for this state word; every caller returns only when it is done.
template <class F>
void pack_once(int* state, F&& pack) {
  int expected = kUnpacked;
  if (__atomic_compare_exchange_n(state, &expected, kPacking, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    try {
      pack();
    } catch (...) {
      __atomic_store_n(state, kPackFailed, __ATOMIC_RELEASE);
      throw;
    }
    __atomic_store_n(state, kPacked, __ATOMIC_RELEASE);
    return;
  }
  int s;
  // Spin briefly (a pack takes microseconds to a few ms), then yield: on an oversubscribed
  // machine the packer may be descheduled, and spinning would only take its time slice.
  for (int spins = 0; (s = __atomic_load_n(state, __ATOMIC_ACQUIRE)) == kPacking; ++spins) {
    if (spins < 256) spin_pause();
    else yield_thread();
  }
  if (s == kPackFailed) throw std::runtime_error("matmul: packing an operand failed on another thread");
}

// Tasks go down a column of tiles (n chunk outer), so the chunk's packed B (NT x K) is reused from
// L2/L3 by consecutive tasks while A's band is read once per chunk.
void shared_tile_task(const void* ctx_v, int64_t t) {
  const SharedCtx& x = *static_cast<const SharedCtx*>(ctx_v);
  const Op& g = *x.op;
  const kp_matmul_desc& d = *g.d;
  const int64_t mt = t % x.mtl, nt = t / x.mtl;
  const int64_t m0 = mt * g.mt, mb = min64(g.mt, x.ms - m0);
  const int64_t n0 = nt * g.nt, nb = min64(g.nt, x.ns - n0);
  const TileWs ws = tile_ws(g, x.n_lo + n0, nb);
  pack_once(&x.b_state[nt], [&] {
    const char* B = static_cast<const char*>(g.args->b) + (x.e.b_off + x.n_lo * g.b_cs) * g.esz;
    pack_band<NR>(B, d.dtype, g.b_cs, g.b_rs, n0, g.nt, x.ns, d.k, KC, x.ns_cap, x.bpack, ws.cvt);
  });
  pack_once(&x.a_state[mt], [&] {
    const char* A = static_cast<const char*>(g.args->a) + (x.e.a_off + x.m_lo * g.a_rs) * g.esz;
    pack_band<MR>(A, d.dtype, g.a_rs, g.a_cs, m0, g.mt, x.ms, d.k, KC, x.ms_cap, x.apack, ws.cvt);
  });
  for (int64_t pc = 0; pc < d.k; pc += KC) {
    const int64_t kc = min64(KC, d.k - pc);
    tile_block(g, x.e, kc, x.apack + pc * x.ms_cap + m0 * kc, x.bpack + pc * x.ns_cap + n0 * kc, x.m_lo + m0, mb,
               x.n_lo + n0, nb, pc == 0, pc + KC >= d.k, ws);
  }
}

// Band width: the whole extent if its packed copy fits kRegionBytes, else equal bands of whole tiles.
int64_t band_width(int64_t extent, int64_t k, int64_t tile) {
  const int64_t per_line = k * static_cast<int64_t>(sizeof(float));
  const int64_t region = region_bytes();
  const int64_t bands = (extent * per_line + region - 1) / region;
  return round_up((extent + bands - 1) / bands, tile);
}

void run_shared(const Op& g, const Entry& e, const Parallel& par) {
  const kp_matmul_desc& d = *g.d;
  static thread_local Scratch regions;  // on the calling (queue) thread: one op at a time
  SharedCtx x{};
  x.op = &g;
  x.e = e;
  x.ms_cap = band_width(d.m, d.k, g.mt);
  x.ns_cap = band_width(d.n, d.k, g.nt);
  const int64_t a_tiles = x.ms_cap / g.mt, b_tiles = x.ns_cap / g.nt;
  const size_t a_sz = scratch_round(static_cast<size_t>(x.ms_cap * d.k));
  const size_t b_sz = scratch_round(static_cast<size_t>(x.ns_cap * d.k));
  x.apack = regions.get(a_sz + b_sz + scratch_round(static_cast<size_t>(a_tiles + b_tiles)));
  x.bpack = x.apack + a_sz;
  x.a_state = reinterpret_cast<int*>(x.bpack + b_sz);  // sizeof(int) == sizeof(float)
  x.b_state = x.a_state + a_tiles;
  const bool many_m = x.ms_cap < d.m;
  for (x.n_lo = 0; x.n_lo < d.n; x.n_lo += x.ns_cap) {
    x.ns = min64(x.ns_cap, d.n - x.n_lo);
    for (x.m_lo = 0; x.m_lo < d.m; x.m_lo += x.ms_cap) {
      x.ms = min64(x.ms_cap, d.m - x.m_lo);
      // B's band changes with n_lo; A's only when there are several row bands (else packed once).
      if (x.m_lo == 0)
        for (int64_t i = 0; i < b_tiles; ++i) x.b_state[i] = kUnpacked;
      if (x.n_lo == 0 || many_m)
        for (int64_t i = 0; i < a_tiles; ++i) x.a_state[i] = kUnpacked;
      x.mtl = (x.ms + g.mt - 1) / g.mt;
      par.run(par.pool, x.mtl * ((x.ns + g.nt - 1) / g.nt), &shared_tile_task, &x);
    }
  }
}

// Whether the tiles of an mt x nt tiling are shared-packed (run_shared) rather than privately packed.
bool shared_path(int64_t m, int64_t n, int64_t k, int64_t mt, int64_t nt) {
  return k > 0 && ((m + mt - 1) / mt) * ((n + nt - 1) / nt) >= 4 && (mt + nt) * k * 4 <= region_bytes();
}

// The time an mt x nt tiling takes on `threads` threads (at most 64), in multiply-adds per k: the
// pool hands tasks out in index order, task i to about thread i % threads when tasks cost about the
// same, each costing its tile's area plus a fixed part of MR x NR. The shared path runs each batch
// entry's tiles as a job of its own, M innermost; the private path all entries' in one job, N innermost.
int64_t makespan(int64_t m, int64_t n, int64_t k, int64_t batch, int64_t mt, int64_t nt, int threads) {
  const int64_t mtiles = (m + mt - 1) / mt, ntiles = (n + nt - 1) / nt, tiles = mtiles * ntiles;
  const bool shared = shared_path(m, n, k, mt, nt);
  const int64_t tasks = shared ? tiles : batch * tiles;
  int64_t finish[64] = {};
  for (int64_t i = 0; i < tasks; ++i) {
    const int64_t r = i % tiles;
    const int64_t mi = shared ? r % mtiles : r / ntiles, ni = shared ? r / mtiles : r % ntiles;
    finish[i % threads] += min64(mt, m - mi * mt) * min64(nt, n - ni * nt) + MR * NR;
  }
  int64_t last = 0;
  for (int j = 0; j < threads; ++j) last = finish[j] > last ? finish[j] : last;
  return shared ? batch * last : last;
}

// The output tile: MT x NT, unless the op has too few of those to keep every thread busy to the end
// (256 x 256 on 2 threads: tiles of 96, 96 and 64 rows, one thread idle for a third of the time):
// then fewer rows a tile, the count whose tasks finish first (256^3 f32 on 2 threads: 136 -> 113 us
// with 48-row tiles). Narrower tiles (halving NT while a multiple of NR) only where no row count
// comes within 15 % of them: each column chunk of B is packed by the first task that needs it while
// the others wait. Large ops (8 tiles a thread or more) keep MT x NT without a search, and so do ops
// too small for a second thread to pay for its wake-up (under 2^21 multiply-adds, ~10 us on one
// core), and pools of more than 64 threads. The last shapes' answers are kept (a framework repeats
// its shapes; the search is up to a few thousand steps on many threads).
void tile_shape(Op& g, int threads) {
  const kp_matmul_desc& d = *g.d;
  const int64_t tiles = ((d.m + MT - 1) / MT) * ((d.n + NT - 1) / NT), limit = 8 * static_cast<int64_t>(threads);
  if (threads <= 1 || threads > 64 || g.batch * tiles >= limit || g.batch * d.m * d.n * d.k < (int64_t{1} << 21)) return;
  struct Known {
    int64_t m, n, k, batch, mt, nt;
    int threads;
  };
  static thread_local Known known[8] = {};
  static thread_local int next = 0;
  for (const Known& c : known)
    if (c.threads == threads && c.m == d.m && c.n == d.n && c.k == d.k && c.batch == g.batch) {
      g.mt = c.mt, g.nt = c.nt;
      return;
    }
  int64_t best_rows = makespan(d.m, d.n, d.k, g.batch, MT, NT, threads), best_cols = best_rows;
  int64_t rows_mt = MT, cols_mt = MT, cols_nt = NT;
  for (int64_t nt = NT; nt >= 2 * NR && nt % NR == 0; nt /= 2)
    for (int64_t mt = MT; mt >= 2 * MR; mt -= MR) {
      if (g.batch * ((d.m + mt - 1) / mt) * ((d.n + nt - 1) / nt) > limit) continue;  // finer than needed
      const int64_t span = makespan(d.m, d.n, d.k, g.batch, mt, nt, threads);
      if (nt == NT && span < best_rows) best_rows = span, rows_mt = mt;
      if (nt < NT && span < best_cols) best_cols = span, cols_mt = mt, cols_nt = nt;
    }
  if (best_cols * 115 < best_rows * 100) g.mt = cols_mt, g.nt = cols_nt;
  else g.mt = rows_mt;
  known[next] = Known{d.m, d.n, d.k, g.batch, g.mt, g.nt, threads};
  next = (next + 1) % 8;
}

void gemm_matmul(const kp_matmul_desc& d, const MatmulArgs& args, const Parallel& par) {
  Op g = make_op(d, args);
  if (g.batch <= 0 || d.m <= 0 || d.n <= 0) return;
  if (run_skinny(g, par)) return;
  tile_shape(g, par.threads);
  const int64_t mtiles = (d.m + g.mt - 1) / g.mt, ntiles = (d.n + g.nt - 1) / g.nt;
  const bool shared = shared_path(d.m, d.n, d.k, g.mt, g.nt);
  if (!shared) {
    const PrivateCtx x{&g, mtiles, ntiles};
    par.run(par.pool, g.batch * mtiles * ntiles, &private_task, &x);
    return;
  }
  for (int64_t bt = 0; bt < g.batch; ++bt) run_shared(g, entry_of(g, bt), par);
}

}  // namespace

extern const GemmKernels gemm_kernels = {KP_STR(KP_ISA), &gemm_matmul};

}  // namespace kp::cpu::KP_ISA
