// The PTX instructions of kernels/gpu/ptx.cuh, emulated with their documented semantics (PTX ISA:
// "Matrix fragments for mma.m16n8k16 / mma.m16n8k8", "ldmatrix", "cp.async", "cvt"), for the CPU
// emulator. Lane l of a warp is in group g = l / 4 at position t = l % 4 of the fragment layouts.
// mma sums its exact products in double and rounds once to f32: at least as accurate as the tensor
// cores, so the emulator tests the kernels' logic, not the hardware's rounding.
#pragma once
#include <stdint.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

namespace kp {
namespace gpu {
namespace {

inline uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(static_cast<const unsigned char*>(p) - ::kp_emu::shared_arena());
}

inline uint32_t opaque(uint32_t x) { return x; }

inline unsigned emu_linear_tid() {
  const ::kp_emu::Dim3 &t = ::kp_emu::thread_idx(), &b = ::kp_emu::block_dim();
  return t.x + b.x * (t.y + b.y * t.z);
}

// cp.async: the source is read at issue (global memory does not change during a kernel), but the 16
// bytes land in shared memory only when cp.async.wait_group retires their group; on a GPU they land at
// some time before that. A kernel reading a tile before waiting for it sees what was there before (the
// launch's garbage fill, or the previous tile) and fails validation. KERNELPORT_EMU_CP_ASYNC=early lands
// them at issue instead, the other end of what a GPU may do: a copy issued into a buffer other warps
// still read (a missing barrier before the refill) then overwrites it under them.
inline bool emu_cp_async_early() {
  static const bool early = [] {
    const char* s = std::getenv("KERNELPORT_EMU_CP_ASYNC");
    return s && !std::strcmp(s, "early");
  }();
  return early;
}
struct EmuCopy {
  uint32_t dst;
  unsigned char bytes[16];
};
struct EmuCopyThread {
  uint64_t block = 0;
  std::vector<EmuCopy> open;
  std::deque<std::vector<EmuCopy>> groups;
};
inline EmuCopyThread& emu_copy_thread() {
  static EmuCopyThread threads[1024 * ::kp_emu::kMaxCluster];  // 1024 threads of each of a cluster's blocks
  EmuCopyThread& s = threads[emu_linear_tid() + 1024 * ::kp_emu::cluster_rank()];
  if (s.block != ::kp_emu::block_serial()) s = EmuCopyThread{::kp_emu::block_serial(), {}, {}};  // an earlier block's thread
  return s;
}
// Shared-memory byte ranges that in-flight wgmma ops still read (native/emu/wgmma.h keeps the list, per
// block): on a GPU a cp.async may land any time after its issue, so one into such a range races the
// tensor cores, however late it lands here.
struct EmuAsyncRead {
  uint32_t lo, hi;
};
// A container of the running block's emulator state (one per cluster rank), emptied when a new block
// starts there.
template <class Container>
inline Container& emu_block_container() {
  struct PerBlock {
    uint64_t block = ~0ull;
    Container c;
  };
  static PerBlock per_rank[::kp_emu::kMaxCluster];
  PerBlock& p = per_rank[::kp_emu::cluster_rank()];
  if (p.block != ::kp_emu::block_serial()) {
    p.c.clear();
    p.block = ::kp_emu::block_serial();
  }
  return p.c;
}
inline std::vector<const EmuAsyncRead*>& emu_live_reads() { return emu_block_container<std::vector<const EmuAsyncRead*>>(); }
inline void cp_async16(uint32_t dst, const void* src, bool valid) {
  for (const EmuAsyncRead* r : emu_live_reads())
    if (dst < r->hi && dst + 16 > r->lo)
      return ::kp_emu::raise_fault("cp.async into shared memory an in-flight wgmma reads (a race on the GPU)");
  EmuCopy c{dst, {}};
  if (valid) std::memcpy(c.bytes, src, 16);
  if (emu_cp_async_early()) std::memcpy(::kp_emu::shared_arena() + dst, c.bytes, 16);
  else emu_copy_thread().open.push_back(c);
}
inline void cp_async_commit() {
  EmuCopyThread& s = emu_copy_thread();
  s.groups.push_back(std::move(s.open));
  s.open.clear();
}
template <int N>
inline void cp_async_wait() {
  EmuCopyThread& s = emu_copy_thread();
  while (s.groups.size() > static_cast<size_t>(N)) {
    for (const EmuCopy& c : s.groups.front()) std::memcpy(::kp_emu::shared_arena() + c.dst, c.bytes, 16);
    s.groups.pop_front();
  }
}

inline uint16_t emu_smem_u16(uint32_t addr) {
  uint16_t v;
  std::memcpy(&v, ::kp_emu::shared_arena() + addr, 2);
  return v;
}

// ldmatrix .x4: lanes 8m..8m+7 give the row addresses of matrix m (8 b16 each). Lane l receives, in its
// register m, elements (l/4, 2(l%4)) and (l/4, 2(l%4)+1) of matrix m; with .trans, of its transpose.
inline void emu_combine_ldmatrix(const uint32_t* in, uint32_t* out, unsigned lanes, const void* ctx) {
  const bool trans = *static_cast<const bool*>(ctx);
  using ::kp_emu::kWords;
  for (unsigned l = 0; l < lanes; ++l)
    for (unsigned m = 0; m < 4; ++m) {
      const unsigned r = l / 4, c = 2 * (l % 4);
      uint32_t lo, hi;
      if (!trans) {
        const uint32_t row = in[(8 * m + r) * kWords];
        lo = emu_smem_u16(row + 2 * c);
        hi = emu_smem_u16(row + 2 * (c + 1));
      } else {
        lo = emu_smem_u16(in[(8 * m + c) * kWords] + 2 * r);
        hi = emu_smem_u16(in[(8 * m + c + 1) * kWords] + 2 * r);
      }
      out[l * kWords + m] = lo | (hi << 16);
    }
}
const bool emu_ldmatrix_named = (::kp_emu::name_collective(emu_combine_ldmatrix, "ldmatrix"), true);
inline void emu_ldmatrix(uint32_t addr, uint32_t* r, bool trans) {
  uint32_t in[::kp_emu::kWords] = {addr}, out[::kp_emu::kWords];
  ::kp_emu::warp_collective(in, out, emu_combine_ldmatrix, &trans);
  for (int i = 0; i < 4; ++i) r[i] = out[i];
}
inline void ldmatrix_x4(uint32_t addr, uint32_t* r) { emu_ldmatrix(addr, r, false); }
inline void ldmatrix_x4_trans(uint32_t addr, uint32_t* r) { emu_ldmatrix(addr, r, true); }

// The operand kinds of the emulated mma: 16-bit pairs (f16 or bf16) or TF32 in 32-bit registers.
enum class EmuMma { kF16, kBF16, kTF32 };

inline double emu_half(uint32_t bits, EmuMma kind) {
  return kind == EmuMma::kBF16 ? static_cast<double>(bf16_to_f32(static_cast<uint16_t>(bits)))
                               : static_cast<double>(f16_to_f32(static_cast<uint16_t>(bits)));
}
inline float emu_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Lane words: a[4] (0-3), b[2] (4-5), c[4] (6-9); results d[4] (0-3).
// m16n8k16: a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..); b0 (2t..2t+1, g), b1 (2t+8.., g).
// m16n8k8 tf32: a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4); b0 (t, g), b1 (t+4, g).
// c/d: c0 (g, 2t), c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1).
inline void emu_combine_mma(const uint32_t* in, uint32_t* out, unsigned lanes, const void* ctx) {
  const EmuMma kind = *static_cast<const EmuMma*>(ctx);
  using ::kp_emu::kWords;
  const int K = kind == EmuMma::kTF32 ? 8 : 16;
  double A[16][16], B[16][8], C[16][8];
  for (unsigned l = 0; l < 32 && l < lanes; ++l) {
    const unsigned g = l / 4, t = l % 4;
    const uint32_t* w = in + l * kWords;
    if (kind == EmuMma::kTF32) {
      // The tensor cores read 19 bits of each TF32 operand: the low 13 are ignored.
      auto tf = [](uint32_t u) { return static_cast<double>(emu_f32(u & 0xffffe000u)); };
      A[g][t] = tf(w[0]);
      A[g + 8][t] = tf(w[1]);
      A[g][t + 4] = tf(w[2]);
      A[g + 8][t + 4] = tf(w[3]);
      B[t][g] = tf(w[4]);
      B[t + 4][g] = tf(w[5]);
    } else {
      const unsigned c = 2 * t;
      for (int h = 0; h < 2; ++h) {
        A[g][c + h] = emu_half(w[0] >> (16 * h), kind);
        A[g + 8][c + h] = emu_half(w[1] >> (16 * h), kind);
        A[g][c + 8 + h] = emu_half(w[2] >> (16 * h), kind);
        A[g + 8][c + 8 + h] = emu_half(w[3] >> (16 * h), kind);
        B[c + h][g] = emu_half(w[4] >> (16 * h), kind);
        B[c + 8 + h][g] = emu_half(w[5] >> (16 * h), kind);
      }
    }
    C[g][2 * t] = emu_f32(w[6]);
    C[g][2 * t + 1] = emu_f32(w[7]);
    C[g + 8][2 * t] = emu_f32(w[8]);
    C[g + 8][2 * t + 1] = emu_f32(w[9]);
  }
  for (unsigned l = 0; l < 32 && l < lanes; ++l) {
    const unsigned g = l / 4, t = l % 4;
    for (int e = 0; e < 4; ++e) {
      const unsigned i = g + 8 * (e / 2), j = 2 * t + e % 2;
      double s = C[i][j];
      for (int k = 0; k < K; ++k) s += A[i][k] * B[k][j];
      const float d = static_cast<float>(s);
      std::memcpy(&out[l * kWords + e], &d, 4);
    }
  }
}
const bool emu_mma_named = (::kp_emu::name_collective(emu_combine_mma, "mma"), true);
inline void emu_mma(float* c, const uint32_t* a, const uint32_t* b, EmuMma kind) {
  uint32_t in[::kp_emu::kWords] = {a[0], a[1], a[2], a[3], b[0], b[1]}, out[::kp_emu::kWords];
  std::memcpy(in + 6, c, 16);
  ::kp_emu::warp_collective(in, out, emu_combine_mma, &kind);
  std::memcpy(c, out, 16);
}

template <bool BF16>
inline void mma16816(float* c, const uint32_t* a, const uint32_t* b) {
  emu_mma(c, a, b, BF16 ? EmuMma::kBF16 : EmuMma::kF16);
}
inline void mma1688(float* c, const uint32_t* a, const uint32_t* b) { emu_mma(c, a, b, EmuMma::kTF32); }

// cvt.rna.tf32.f32: to nearest, ties away from zero, in the 19-bit format (kept in a 32-bit register).
inline uint32_t to_tf32(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) return (u & 0x007fffffu) ? (u | 0x00400000u) & 0xffffe000u : u;
  return (u + 0x1000u) & 0xffffe000u;
}

inline uint32_t cvt_pack_bf16x2(float lo, float hi) { return f32_to_bf16(lo) | (static_cast<uint32_t>(f32_to_bf16(hi)) << 16); }
inline uint32_t cvt_pack_f16x2(float lo, float hi) { return f32_to_f16(lo) | (static_cast<uint32_t>(f32_to_f16(hi)) << 16); }
inline float cvt_f16_lo_to_f32(uint32_t r) { return f16_to_f32(static_cast<uint16_t>(r)); }
inline float cvt_f16_hi_to_f32(uint32_t r) { return f16_to_f32(static_cast<uint16_t>(r >> 16)); }

}  // namespace
}  // namespace gpu
}  // namespace kp
