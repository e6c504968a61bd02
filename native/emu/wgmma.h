// The warpgroup MMA, TMA loads and mbarriers of kernels/gpu/wgmma.cuh, emulated for the CPU emulator with
// the PTX ISA's semantics as that file describes them: descriptors with the 128-byte swizzle (any other mode fails
// the launch), the register fragment layouts of A and D, and the asynchrony that matters to a kernel:
// an MMA's results reach the accumulator registers only when wgmma.wait_group retires its group. A
// kernel that reads accumulators too early sees their old values and fails validation, as it would
// (sometimes) on the GPU. Chained MMAs on the same accumulators see each other's results, as they do
// on the GPU. Products are summed exactly in double and rounded once, as the mma.sync emulation does.
// The emulator reads an MMA's shared-memory operands when it is issued, the GPU at any time until the
// wait that retires it: so the bytes an MMA read are hashed at issue and again when its group is first
// retired, and a difference (a store, cp.async or TMA load into an operand still being read: a race on
// the GPU, invisible here otherwise) faults the launch.
#pragma once
#include <stdint.h>

#include <cstring>
#include <deque>
#include <vector>

namespace kp {
namespace gpu {
namespace {

// One thread's operands of one wgmma.
struct EmuWgmmaThread;
struct EmuWgmmaOp {
  float* d;
  const float* c;  // d's current value (a pending result, or the registers)
  EmuWgmmaThread* state;
  int n;  // N of m64nNk16
  const uint32_t* a;  // A in registers (4), or nullptr: A through desc_a
  uint64_t desc_a, desc_b;
  int trans_b;
  bool bf16;
  bool scale_d;  // false: D = A B (the accumulator is not read)
};

// The shared memory one wgmma reads (its descriptors), with a hash of the bytes there at issue; checked
// once, by the first thread of the warpgroup whose wait retires it.
struct EmuWgmmaReads {
  uint64_t desc_a, desc_b;  // desc_a unused when A is in registers
  int n, trans_b;
  bool a_smem;
  uint64_t hash = 0;
  bool checked = false;
  // The bytes read of A (from shared memory) and of B, first to last (in emu_live_reads until retired).
  EmuAsyncRead range_a{~0u, 0}, range_b{~0u, 0};
};
// Results not yet retired by wait_group: per thread, the open group and the committed ones.
struct EmuWgmmaPending {
  float* d;
  std::vector<float> v;
  EmuWgmmaReads* reads;  // in emu_wgmma_reads_pool, shared by the warpgroup's threads
};
struct EmuWgmmaThread {
  uint64_t block = 0;
  std::vector<EmuWgmmaPending> open;
  std::deque<std::vector<EmuWgmmaPending>> groups;
  bool idle() const { return open.empty() && groups.empty(); }
};
// The current block's EmuWgmmaReads records (a deque: pointers stay valid as it grows), per cluster rank.
inline std::deque<EmuWgmmaReads>& emu_wgmma_reads_pool() { return emu_block_container<std::deque<EmuWgmmaReads>>(); }
inline EmuWgmmaThread& emu_wgmma_thread(unsigned t) {
  static EmuWgmmaThread threads[1024 * ::kp_emu::kMaxCluster];  // 1024 threads of each of a cluster's blocks
  EmuWgmmaThread& s = threads[t + 1024 * ::kp_emu::cluster_rank()];
  if (s.block != ::kp_emu::block_serial()) {
    // A thread of an earlier block left results nobody waited for: on a GPU its registers would be
    // read unfinished or never; either way a kernel bug.
    if (!s.idle()) ::kp_emu::raise_fault("wgmma results were never waited for (wgmma.wait_group missing)");
    s = EmuWgmmaThread{};
    s.block = ::kp_emu::block_serial();
  }
  return s;
}

// The latest value of an accumulator array: a pending result if one exists, else the registers.
inline const float* emu_wgmma_current(EmuWgmmaThread& s, float* d) {
  for (auto it = s.open.rbegin(); it != s.open.rend(); ++it)
    if (it->d == d) return it->v.data();
  for (auto g = s.groups.rbegin(); g != s.groups.rend(); ++g)
    for (auto it = g->rbegin(); it != g->rend(); ++it)
      if (it->d == d) return it->v.data();
  return d;
}

// The shared memory a block may have (sm_90's opt-in maximum, the emulator's arena).
constexpr uint32_t kEmuSharedBytes = 232448;

// The 16 bits of a swizzled operand at logical byte address `logical` (see wgmma.cuh).
inline uint16_t emu_wgmma_bits(uint32_t logical) {
  const uint32_t phys = logical ^ (((logical >> 7) & 7u) << 4);
  if (phys + 2 > kEmuSharedBytes) {
    ::kp_emu::raise_fault("wgmma descriptor addresses past shared memory");
    return 0;
  }
  uint16_t bits;
  std::memcpy(&bits, ::kp_emu::shared_arena() + phys, 2);
  return bits;
}
inline double emu_wgmma_elem(uint32_t logical, bool bf16) {
  const uint16_t bits = emu_wgmma_bits(logical);
  return bf16 ? static_cast<double>(bf16_to_f32(bits)) : static_cast<double>(f16_to_f32(bits));
}
struct EmuDesc {
  uint32_t start, lbo, sbo;
};
inline EmuDesc emu_decode(uint64_t desc) {
  if ((desc >> 62) != 1 || ((desc >> 49) & 7u) != 0)
    ::kp_emu::raise_fault("wgmma descriptor: only the 128-byte swizzle with base offset 0 is emulated");
  return EmuDesc{static_cast<uint32_t>(desc & 0x3fffu) << 4, static_cast<uint32_t>((desc >> 16) & 0x3fffu) << 4,
                 static_cast<uint32_t>((desc >> 32) & 0x3fffu) << 4};
}
// The logical address of element (r, k), k < 16, of a K-major operand (r: row of A, or column n of B
// stored [N][K]), and of element (n, k) of an MN-major B (stored [K][N]).
inline uint32_t emu_kmajor_at(const EmuDesc& e, int r, int k) { return e.start + (r / 8) * e.sbo + (r % 8) * 128 + 2 * k; }
inline uint32_t emu_mnmajor_at(const EmuDesc& e, int n, int k) {
  return e.start + (n / 64) * e.lbo + (n % 64) * 2 + (k / 8) * e.sbo + (k % 8) * 128;
}
inline double emu_kmajor(const EmuDesc& e, int r, int k, bool bf16) { return emu_wgmma_elem(emu_kmajor_at(e, r, k), bf16); }
inline double emu_mnmajor(const EmuDesc& e, int n, int k, bool bf16) { return emu_wgmma_elem(emu_mnmajor_at(e, n, k), bf16); }

// FNV-1a over the bits of every shared-memory element the wgmma reads; widens the ranges to them.
inline uint64_t emu_wgmma_reads_hash(EmuWgmmaReads& r) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint32_t logical, EmuAsyncRead& range) {
    const uint32_t phys = logical ^ (((logical >> 7) & 7u) << 4);
    range.lo = phys < range.lo ? phys : range.lo;
    range.hi = phys + 2 > range.hi ? phys + 2 : range.hi;
    h = (h ^ emu_wgmma_bits(logical)) * 1099511628211ull;
  };
  if (r.a_smem) {
    const EmuDesc da = emu_decode(r.desc_a);
    for (int m = 0; m < 64; ++m)
      for (int k = 0; k < 16; ++k) mix(emu_kmajor_at(da, m, k), r.range_a);
  }
  const EmuDesc db = emu_decode(r.desc_b);
  for (int n = 0; n < r.n; ++n)
    for (int k = 0; k < 16; ++k) mix(r.trans_b ? emu_mnmajor_at(db, n, k) : emu_kmajor_at(db, n, k), r.range_b);
  return h;
}

inline void emu_combine_wgmma(void* const* mine, unsigned threads) {
  if (threads != ::kp_emu::kGroupThreads) return ::kp_emu::raise_fault("wgmma needs a whole warpgroup of 128 threads");
  const EmuWgmmaOp& op = *static_cast<const EmuWgmmaOp*>(mine[0]);
  for (unsigned t = 1; t < threads; ++t) {
    const EmuWgmmaOp& o = *static_cast<const EmuWgmmaOp*>(mine[t]);
    if (o.n != op.n || (o.a == nullptr) != (op.a == nullptr) || (!op.a && o.desc_a != op.desc_a) || o.desc_b != op.desc_b ||
        o.trans_b != op.trans_b || o.bf16 != op.bf16 || o.scale_d != op.scale_d)
      return ::kp_emu::raise_fault("threads of a warpgroup gave one wgmma different descriptors or shapes");
  }
  const int N = op.n;
  double A[64][16];
  std::vector<double> B(static_cast<size_t>(16) * N);
  if (op.a) {
    const EmuMma kind = op.bf16 ? EmuMma::kBF16 : EmuMma::kF16;
    for (unsigned t = 0; t < threads; ++t) {
      const uint32_t* a = static_cast<const EmuWgmmaOp*>(mine[t])->a;
      const int w = t / 32, g = (t % 32) / 4, c = 2 * (t % 4);
      for (int h = 0; h < 2; ++h) {
        A[16 * w + g][c + h] = emu_half(a[0] >> (16 * h), kind);
        A[16 * w + g + 8][c + h] = emu_half(a[1] >> (16 * h), kind);
        A[16 * w + g][c + 8 + h] = emu_half(a[2] >> (16 * h), kind);
        A[16 * w + g + 8][c + 8 + h] = emu_half(a[3] >> (16 * h), kind);
      }
    }
  } else {
    const EmuDesc da = emu_decode(op.desc_a);
    for (int m = 0; m < 64; ++m)
      for (int k = 0; k < 16; ++k) A[m][k] = emu_kmajor(da, m, k, op.bf16);
  }
  const EmuDesc db = emu_decode(op.desc_b);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < 16; ++k) B[k * N + n] = op.trans_b ? emu_mnmajor(db, n, k, op.bf16) : emu_kmajor(db, n, k, op.bf16);
  EmuWgmmaReads* reads = &emu_wgmma_reads_pool().emplace_back();
  reads->desc_a = op.desc_a;
  reads->desc_b = op.desc_b;
  reads->n = N;
  reads->trans_b = op.trans_b;
  reads->a_smem = op.a == nullptr;
  reads->hash = emu_wgmma_reads_hash(*reads);
  if (reads->a_smem) emu_live_reads().push_back(&reads->range_a);
  emu_live_reads().push_back(&reads->range_b);
  // Results, per thread, into its open group (D's layout in wgmma.cuh).
  for (unsigned t = 0; t < threads; ++t) {
    const EmuWgmmaOp& o = *static_cast<const EmuWgmmaOp*>(mine[t]);
    const int w = t / 32, g = (t % 32) / 4, c = 2 * (t % 4);
    EmuWgmmaPending p{o.d, std::vector<float>(static_cast<size_t>(N / 2)), reads};
    for (int r = 0; r < N / 2; ++r) {
      const int i = 16 * w + g + 8 * ((r % 4) / 2), j = 8 * (r / 4) + c + r % 2;
      double acc = o.scale_d ? o.c[r] : 0.0;
      for (int k = 0; k < 16; ++k) acc += A[i][k] * B[k * N + j];
      p.v[r] = static_cast<float>(acc);
    }
    o.state->open.push_back(std::move(p));
  }
}
const bool emu_wgmma_named = (::kp_emu::name_group_collective(emu_combine_wgmma, "wgmma"), true);

inline void emu_wgmma(float* d, int n, const uint32_t* a, uint64_t desc_a, uint64_t desc_b, int trans_b, bool bf16,
                      bool scale_d = true) {
  EmuWgmmaThread& s = emu_wgmma_thread(emu_linear_tid());
  EmuWgmmaOp op{d, emu_wgmma_current(s, d), &s, n, a, desc_a, desc_b, trans_b, bf16, scale_d};
  ::kp_emu::group_collective(&op, emu_combine_wgmma);
}

template <int R>
inline void fence_operands(float (&)[R]) {}
template <int R>
inline void fence_operands(uint32_t (&)[R]) {}
inline void wgmma_fence() {}
inline void fence_proxy_async() {}
inline void pin_before_wait(uint32_t addr, uint32_t v) { std::memcpy(::kp_emu::shared_arena() + addr, &v, 4); }
inline void wgmma_commit() {
  EmuWgmmaThread& s = emu_wgmma_thread(emu_linear_tid());
  s.groups.push_back(std::move(s.open));
  s.open.clear();
}
// Retires all but the N most recent groups: their results land in the registers, oldest first.
template <int N>
inline void wgmma_wait() {
  EmuWgmmaThread& s = emu_wgmma_thread(emu_linear_tid());
  while (s.groups.size() > static_cast<size_t>(N)) {
    for (const EmuWgmmaPending& p : s.groups.front()) {
      std::memcpy(p.d, p.v.data(), p.v.size() * sizeof(float));
      if (p.reads && !p.reads->checked) {
        p.reads->checked = true;
        auto& live = emu_live_reads();
        for (size_t i = 0; i < live.size();)
          if (live[i] == &p.reads->range_a || live[i] == &p.reads->range_b) {
            live[i] = live.back();
            live.pop_back();
          } else {
            ++i;
          }
        if (emu_wgmma_reads_hash(*p.reads) != p.reads->hash)
          ::kp_emu::raise_fault("shared memory an in-flight wgmma reads was written before wait_group retired it (a race on the GPU)");
      }
    }
    s.groups.pop_front();
  }
}

template <bool BF16, int TRANS_B>
inline void wgmma_ss_m64n256k16(float (&d)[128], uint64_t da, uint64_t db) { emu_wgmma(d, 256, nullptr, da, db, TRANS_B, BF16); }
template <bool BF16, int TRANS_B>
inline void wgmma_ss_m64n128k16(float (&d)[64], uint64_t da, uint64_t db, int scale_d = 1) {
  emu_wgmma(d, 128, nullptr, da, db, TRANS_B, BF16, scale_d != 0);
}
template <bool BF16, int TRANS_B>
inline void wgmma_ss_m64n64k16(float (&d)[32], uint64_t da, uint64_t db, int scale_d = 1) {
  emu_wgmma(d, 64, nullptr, da, db, TRANS_B, BF16, scale_d != 0);
}
template <bool BF16, int TRANS_B>
inline void wgmma_rs_m64n128k16(float (&d)[64], const uint32_t (&a)[4], uint64_t db) { emu_wgmma(d, 128, a, 0, db, TRANS_B, BF16); }
template <bool BF16, int TRANS_B>
inline void wgmma_rs_m64n64k16(float (&d)[32], const uint32_t (&a)[4], uint64_t db) { emu_wgmma(d, 64, a, 0, db, TRANS_B, BF16); }

template <int ID, int COUNT>
inline void named_barrier_sync() { ::kp_emu::sync_named(ID, COUNT); }

// ---- mbarriers, TMA (cp.async.bulk.tensor) and clusters, for the wgmma GEMM ---------------------------
// An mbarrier's state lives beside shared memory, keyed by its block and address. A phase completes when
// its pending arrivals and its transaction bytes both reach zero (the bytes may be completed before they
// are expected: the count goes below zero meanwhile); try_wait.parity(p) is true once the phase of parity
// p has completed (the current phase's parity is no longer p). TMA copies land at once and then complete
// their bytes, so waiting threads see them after their next yield.
// Shared::cluster addresses (mapa) carry the block's rank: bit 23 set, the rank in bits 20-22; a plain
// shared address is the executing block's.
constexpr uint32_t kEmuClusterAddr = 1u << 23;
struct EmuMbarrier {
  uint32_t expected = 0, pending = 0, phase = 0;
  int64_t tx = 0;
};
inline EmuMbarrier& emu_mbarrier(uint32_t bar) {
  struct Bars {
    uint64_t block = 0;
    std::vector<std::pair<uint32_t, EmuMbarrier>> list;
  };
  static Bars per_rank[8];
  const unsigned rank = (bar & kEmuClusterAddr) ? (bar >> 20) & 7u : ::kp_emu::cluster_rank();
  const uint32_t off = bar & 0xfffffu;
  Bars& bars = per_rank[rank];
  if (bars.block != ::kp_emu::block_serial_of(rank)) {
    bars.list.clear();
    bars.block = ::kp_emu::block_serial_of(rank);
  }
  for (auto& b : bars.list)
    if (b.first == off) return b.second;
  bars.list.emplace_back(off, EmuMbarrier{});
  return bars.list.back().second;
}
// Every mbarrier change anywhere: a wait that sees none for long is a hang (see mbar_wait).
inline uint64_t& emu_mbar_activity() {
  static uint64_t n = 0;
  return n;
}
inline void emu_mbar_progress(EmuMbarrier& b) {
  emu_mbar_activity()++;
  if (b.pending == 0 && b.tx == 0) {
    b.phase ^= 1u;
    b.pending = b.expected;
  }
}
inline void mbar_init(uint32_t bar, uint32_t count) {
  EmuMbarrier& b = emu_mbarrier(bar);
  b = EmuMbarrier{count, count, 0, 0};
}
inline void fence_mbarrier_init() {}
inline void mbar_arrive(uint32_t bar) {
  EmuMbarrier& b = emu_mbarrier(bar);
  if (b.pending == 0) return ::kp_emu::raise_fault("mbarrier arrive on a barrier never initialised");
  b.pending--;
  emu_mbar_progress(b);
}
inline void mbar_arrive_cluster(uint32_t cluster_bar) { mbar_arrive(cluster_bar); }
inline void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  emu_mbarrier(bar).tx += bytes;
  mbar_arrive(bar);
}
inline uint32_t cluster_ctarank() { return ::kp_emu::cluster_rank(); }
inline void cluster_sync() { ::kp_emu::sync_cluster(); }
inline uint32_t mapa_shared(uint32_t addr, uint32_t rank) {
  if (rank >= ::kp_emu::cluster_size()) ::kp_emu::raise_fault("mapa to a block outside the cluster");
  return kEmuClusterAddr | (rank << 20) | (addr & 0xfffffu);
}
// Split-K's count (kernels/gpu/wgmma.cuh). Blocks run one after another here: a plain add is atomic.
inline int split_arrive(int* count) { return (*count)++; }
inline float4 load_partial(const float4* p) { return *p; }
inline void mbar_wait(uint32_t bar, uint32_t parity) {
  // A GPU would hang: when no mbarrier anywhere has changed for this many turns of the other threads,
  // nothing will arrive.
  uint64_t seen = emu_mbar_activity();
  for (long idle = 0; (emu_mbarrier(bar).phase & 1u) == (parity & 1u); ++idle) {
    if (emu_mbar_activity() != seen) seen = emu_mbar_activity(), idle = 0;
    if (idle > (1L << 16)) return ::kp_emu::raise_fault("mbarrier wait never completed (a phase nobody arrives at)");
    ::kp_emu::yield_thread();
  }
}

}  // namespace
}  // namespace gpu
}  // namespace kp

// A rank-3 tiled tensor map of a 16-bit tensor, as native/vendors/cuda_tensor_map.h builds it through the
// driver: dims innermost first, byte strides of dims 1 and 2, a box {box0, box1, 1} whose rows are
// stored 128-byte swizzled, zeros outside the tensor.
struct kp_tensor_map {
  const unsigned char* base;
  uint64_t dims[3];
  uint64_t strides[2];
  uint32_t box0, box1;
};
// What cuTensorMapEncodeTiled checks for these maps: 16-byte aligned base and strides, and (for the
// 128-byte swizzle) box rows of exactly 128 bytes, at most 256 of them.
inline bool kp_encode_tensor_map_16bit(kp_tensor_map* map, bool, const void* base, const uint64_t dims[3],
                                       const uint64_t strides[2], uint32_t box0, uint32_t box1) {
  if ((reinterpret_cast<uintptr_t>(base) | strides[0] | strides[1]) % 16 != 0) return false;
  if (box0 * 2 != 128 || box1 == 0 || box1 > 256 || !dims[0] || !dims[1] || !dims[2]) return false;
  *map = kp_tensor_map{static_cast<const unsigned char*>(base), {dims[0], dims[1], dims[2]}, {strides[0], strides[1]}, box0, box1};
  return true;
}

namespace kp {
namespace gpu {
namespace {

// The box at coordinates (c0, c1, c2) into block `rank`'s shared memory at dst (its swizzle follows the
// address bits, as the hardware's does), then its bytes complete on that block's mbarrier at bar.
inline void emu_tma_box(unsigned rank, uint32_t dst, const kp_tensor_map* map, uint32_t bar, int c0, int c1, int c2) {
  unsigned char* smem = ::kp_emu::shared_arena_of(rank);
  for (uint32_t r = 0; r < map->box1; ++r)
    for (uint32_t e = 0; e < map->box0; ++e) {
      const int64_t x = int64_t(c0) + e, y = int64_t(c1) + r, z = c2;
      uint16_t v = 0;
      if (x >= 0 && y >= 0 && z >= 0 && uint64_t(x) < map->dims[0] && uint64_t(y) < map->dims[1] && uint64_t(z) < map->dims[2])
        std::memcpy(&v, map->base + z * map->strides[1] + y * map->strides[0] + x * 2, 2);
      const uint32_t logical = dst + r * 128 + e * 2, phys = logical ^ (((logical >> 7) & 7u) << 4);
      if (phys + 2 > kEmuSharedBytes) return ::kp_emu::raise_fault("TMA box past shared memory");
      std::memcpy(smem + phys, &v, 2);
    }
  EmuMbarrier& b = emu_mbarrier(kEmuClusterAddr | (rank << 20) | (bar & 0xfffffu));
  b.tx -= static_cast<int64_t>(map->box0) * map->box1 * 2;
  emu_mbar_progress(b);
}
inline void tma_load(uint32_t dst, const kp_tensor_map* map, uint32_t bar, int c0, int c1, int c2) {
  emu_tma_box(::kp_emu::cluster_rank(), dst, map, bar, c0, c1, c2);
}
inline void tma_load_multicast(uint32_t dst, const kp_tensor_map* map, uint32_t bar, int c0, int c1, int c2, uint16_t mask) {
  if (mask >> ::kp_emu::cluster_size()) return ::kp_emu::raise_fault("TMA multicast to a block outside the cluster");
  for (unsigned r = 0; r < ::kp_emu::cluster_size(); ++r)
    if (mask & (1u << r)) emu_tma_box(r, dst, map, bar, c0, c1, c2);
}

}  // namespace
}  // namespace gpu
}  // namespace kp
