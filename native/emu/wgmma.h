// The warpgroup MMA of kernels/gpu/wgmma.cuh, emulated for the CPU emulator with the PTX ISA's
// semantics as that file describes them: descriptors with the 128-byte swizzle (any other mode fails
// the launch), the register fragment layouts of A and D, and the asynchrony that matters to a kernel:
// an MMA's results reach the accumulator registers only when wgmma.wait_group retires its group. A
// kernel that reads accumulators too early sees their old values and fails validation, as it would
// (sometimes) on the GPU. Chained MMAs on the same accumulators see each other's results, as they do
// on the GPU. Products are summed exactly in double and rounded once, as the mma.sync emulation does.
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
};

// Results not yet retired by wait_group: per thread, the open group and the committed ones.
struct EmuWgmmaPending {
  float* d;
  std::vector<float> v;
};
struct EmuWgmmaThread {
  uint64_t block = 0;
  std::vector<EmuWgmmaPending> open;
  std::deque<std::vector<EmuWgmmaPending>> groups;
  bool idle() const { return open.empty() && groups.empty(); }
};
inline EmuWgmmaThread& emu_wgmma_thread(unsigned t) {
  static EmuWgmmaThread threads[1024];
  EmuWgmmaThread& s = threads[t];
  if (s.block != ::kp_emu::block_serial()) {
    // A thread of an earlier block left results nobody waited for: on a GPU its registers would be
    // read unfinished or never; either way a kernel bug.
    if (!s.idle()) ::kp_emu::raise_fault("wgmma results were never waited for (wgmma.wait_group missing)");
    s = EmuWgmmaThread{};
    s.block = ::kp_emu::block_serial();
  }
  return s;
}
inline unsigned emu_linear_tid() {
  const ::kp_emu::Dim3 &t = ::kp_emu::thread_idx(), &b = ::kp_emu::block_dim();
  return t.x + b.x * (t.y + b.y * t.z);
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

// A 16-bit element of a swizzled operand at logical byte address `logical` (see wgmma.cuh).
inline double emu_wgmma_elem(uint32_t logical, bool bf16) {
  const uint32_t phys = logical ^ (((logical >> 7) & 7u) << 4);
  if (phys + 2 > 232448u) {
    ::kp_emu::raise_fault("wgmma descriptor addresses past shared memory");
    return 0.0;
  }
  uint16_t bits;
  std::memcpy(&bits, ::kp_emu::shared_arena() + phys, 2);
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
// Element (r, k), k < 16, of a K-major operand (r: row of A, or column n of B stored [N][K]).
inline double emu_kmajor(const EmuDesc& e, int r, int k, bool bf16) {
  return emu_wgmma_elem(e.start + (r / 8) * e.sbo + (r % 8) * 128 + 2 * k, bf16);
}
// Element (n, k), k < 16, of an MN-major B (stored [K][N]).
inline double emu_mnmajor(const EmuDesc& e, int n, int k, bool bf16) {
  return emu_wgmma_elem(e.start + (n / 64) * e.lbo + (n % 64) * 2 + (k / 8) * e.sbo + (k % 8) * 128, bf16);
}

inline void emu_combine_wgmma(void* const* mine, unsigned threads) {
  if (threads != ::kp_emu::kGroupThreads) return ::kp_emu::raise_fault("wgmma needs a whole warpgroup of 128 threads");
  const EmuWgmmaOp& op = *static_cast<const EmuWgmmaOp*>(mine[0]);
  for (unsigned t = 1; t < threads; ++t) {
    const EmuWgmmaOp& o = *static_cast<const EmuWgmmaOp*>(mine[t]);
    if (o.n != op.n || (o.a == nullptr) != (op.a == nullptr) || (!op.a && o.desc_a != op.desc_a) || o.desc_b != op.desc_b ||
        o.trans_b != op.trans_b || o.bf16 != op.bf16)
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
  // Results, per thread, into its open group (D's layout in wgmma.cuh).
  for (unsigned t = 0; t < threads; ++t) {
    const EmuWgmmaOp& o = *static_cast<const EmuWgmmaOp*>(mine[t]);
    const int w = t / 32, g = (t % 32) / 4, c = 2 * (t % 4);
    EmuWgmmaPending p{o.d, std::vector<float>(static_cast<size_t>(N / 2))};
    for (int r = 0; r < N / 2; ++r) {
      const int i = 16 * w + g + 8 * ((r % 4) / 2), j = 8 * (r / 4) + c + r % 2;
      double acc = o.c[r];
      for (int k = 0; k < 16; ++k) acc += A[i][k] * B[k * N + j];
      p.v[r] = static_cast<float>(acc);
    }
    o.state->open.push_back(std::move(p));
  }
}
const bool emu_wgmma_named = (::kp_emu::name_group_collective(emu_combine_wgmma, "wgmma"), true);

inline void emu_wgmma(float* d, int n, const uint32_t* a, uint64_t desc_a, uint64_t desc_b, int trans_b, bool bf16) {
  EmuWgmmaThread& s = emu_wgmma_thread(emu_linear_tid());
  EmuWgmmaOp op{d, emu_wgmma_current(s, d), &s, n, a, desc_a, desc_b, trans_b, bf16};
  ::kp_emu::group_collective(&op, emu_combine_wgmma);
}

template <int R>
inline void fence_operands(float (&)[R]) {}
inline void wgmma_fence() {}
inline void fence_proxy_async() {}
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
    for (const EmuWgmmaPending& p : s.groups.front()) std::memcpy(p.d, p.v.data(), p.v.size() * sizeof(float));
    s.groups.pop_front();
  }
}

template <bool BF16, int TRANS_B>
inline void wgmma_ss_m64n256k16(float (&d)[128], uint64_t da, uint64_t db) { emu_wgmma(d, 256, nullptr, da, db, TRANS_B, BF16); }
template <bool BF16, int TRANS_B>
inline void wgmma_ss_m64n128k16(float (&d)[64], uint64_t da, uint64_t db) { emu_wgmma(d, 128, nullptr, da, db, TRANS_B, BF16); }
template <bool BF16, int TRANS_B>
inline void wgmma_ss_m64n64k16(float (&d)[32], uint64_t da, uint64_t db) { emu_wgmma(d, 64, nullptr, da, db, TRANS_B, BF16); }
template <bool BF16, int TRANS_B>
inline void wgmma_rs_m64n128k16(float (&d)[64], const uint32_t (&a)[4], uint64_t db) { emu_wgmma(d, 128, a, 0, db, TRANS_B, BF16); }
template <bool BF16, int TRANS_B>
inline void wgmma_rs_m64n64k16(float (&d)[32], const uint32_t (&a)[4], uint64_t db) { emu_wgmma(d, 64, a, 0, db, TRANS_B, BF16); }

}  // namespace
}  // namespace gpu
}  // namespace kp
