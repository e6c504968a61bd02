// Hopper flash attention forward on wgmma (sm_90a; H20, H800, H100): the FlashAttention-3 layout of the
// work without its warp specialisation. f16/bf16, D == Dv in {64, 128}, no additive mask: what the
// mma.sync kernel (attention_mma.cu) takes, with the same semantics, variants and numerics (P split to
// f32 accuracy, or one 16-bit copy with allow_p16), so the same bounds judge it.
//
// A block of 2 warpgroups (256 threads) owns 128 query rows of one (batch, query head); warpgroup w
// owns rows 64w..64w+63, and its warp the usual 16 of those. Per tile t of 64 keys (128 with allow_p16
// where the registers allow: attention_wgmma_keys):
//  - S = Q K^T: D/16 wgmma m64n64k16 (m64n128k16) per warpgroup, both operands read from shared memory
//    by the tensor cores (no ldmatrix, no Q fragments held in registers, unlike mma.sync);
//  - the online softmax on the accumulators (attention_flash.cuh, the same code as the mma.sync kernel:
//    wgmma's accumulator layout is mma.sync's C fragment repeated);
//  - O += P V: P from registers as wgmma's A (its fragment layout is mma.sync's A), V from shared
//    memory as an MN-major B (stored [keys][D]). allow_p16: one m64nDk16 per 16 keys; else the split
//    terms per 64-column chunk, the low terms into their own accumulator, added after the wait.
// With allow_p16, and f16's split P, the tensor cores get S_{t+1} = Q K_{t+1}^T beside P_t V_t (S_{t+1}
// into the score registers once P_t is packed into the A fragments, which the key-by-key path reads
// too), and the softmax of S_{t+1} runs while P_t V_t does (FlashAttention-3's intra-warpgroup overlap;
// f16's split: beside the first 64-column chunk); O takes tile t + 1's rescale once P_t V_t is in.
// bf16's split keeps the plain order: its three P terms and low accumulator leave no registers for the
// overlap (it spilled).
// K and V are loaded two tiles ahead (K_{t+2} and V_{t+2} during tile t, into the buffers K_t and V_{t-1}
// leave: two K buffers, three V), with cp.async, 128-byte swizzled (wgmma.cuh) so that the descriptors
// read them without bank conflicts; Q likewise once. Tiles past every row's last visible key are never
// loaded (causality, kvLengths), partly visible ones are masked, longest rows first. A V tile with Inf
// or NaN takes the key-by-key f32 path (the portable kernel's semantics: a hidden key never touches V)
// through each warp's own scratch: each thread checks its own copies of V_{t+1} during tile t, beside
// the MMAs (V being two tiles ahead, they have landed), and tile t + 1's barrier ors the answers.
//
// Asynchrony (wgmma.cuh): a group's accumulators are read only after the wait that retires it (with
// the overlap: wait_group 1 for S_{t+1}, committed before P_t V_t). ptxas serialises all of a
// kernel's wgmma (C7520) when it finds one in a path it cannot prove uniform while another group is in
// flight, so the overlap loop has no such path: the last tile is peeled off (a next tile is a
// compile-time fact) and P_t V_t is issued on every tile, a non-finite V_t read as the zeros of the
// key-by-key path's scratch (which adds V_t itself). A fragments and accumulators are pinned in
// registers from wgmma.fence to that wait; each thread makes its cp.async copies visible to the async
// proxy (fence.proxy.async) before the barrier after which the tensor cores read them. ptxas sinks ALU
// work below a wait when nothing after it needs the results sooner: the softmax is pinned before the
// second wait by a shared store of the rows' sums (pin_before_wait; test/cuda.test.ts checks the SASS).
//
// Compiled with a body in the sm_90a device pass and in the CPU emulator (KP_WGMMA_OPS), chosen only
// where the library has sm_90a code (KP_WGMMA_KERNELS) on a compute capability 9.0 device: auto takes
// it for D = 128 (attention_wgmma_eligible says why, with the H100 figures).
#include "attention_wgmma.cuh"
#include "attention_flash.cuh"
#include "wgmma.cuh"

namespace kp {
namespace gpu {
namespace {

constexpr int kGroups = 2;             // warpgroups per block
constexpr int kRows = kGroups * 64;    // query rows per block
constexpr int kThreads = kGroups * 128;
const char kVariant[] = "flash-attention-wgmma-m64n64k16";
const char kP16Variant[] = "flash-attention-wgmma-m64n64k16-p16";
// allowP16 on 64-key tiles where auto takes 128 (KERNELPORT_GPU_ATTENTION_KEYS=64: the tile size's A/B).
const char kP16Keys64Variant[] = "flash-attention-wgmma-m64n64k16-p16-keys64";

constexpr int kPass = 64;  // keys per pass of the key-by-key path through its scratch

// Shared memory: Q (kRows x D), then K and V tiles (keys x D), two buffers of K and three of V, every
// operand as D/64 column chunks of 128-byte rows, each chunk 1024-byte aligned (the swizzle's period);
// then each warp's 16 x kPass f32 scratch of the key-by-key path; then a word a thread for
// pin_before_wait. At D = 128 with allowP16's 128-key tiles: 226 KiB of the 227 an sm_90 block may have.
KP_GPU_HOST_DEVICE constexpr uint32_t q_bytes(int d) { return static_cast<uint32_t>(kRows) * d * 2; }
KP_GPU_HOST_DEVICE constexpr uint32_t tile_bytes(int d, int keys) { return static_cast<uint32_t>(keys) * d * 2; }
constexpr uint32_t kScratchBytes = kThreads / 32 * 16 * kPass * 4;
constexpr uint32_t kPinBytes = kThreads * 4;  // a word a thread for pin_before_wait (wgmma.cuh)
// With the overlap the scratch doubles as a V tile of zeros (MN-major, 1024-byte aligned after Q and
// the five 1024-aligned tiles): it must hold one.
static_assert(kScratchBytes >= tile_bytes(128, 128), "the scratch must hold a V tile");
KP_GPU_HOST_DEVICE constexpr size_t smem_bytes(int d, int keys) {
  return q_bytes(d) + 5 * static_cast<size_t>(tile_bytes(d, keys)) + kScratchBytes + kPinBytes + 1024;
}
static_assert(stage_bytes(kRows, 64) + 1024 <= smem_bytes(64, 64) && stage_bytes(kRows, 128) + 1024 <= smem_bytes(128, 64),
              "the output stage fits the shared memory past the alignment");
#if defined(KP_WGMMA_OPS)
constexpr int kScratchFloats = static_cast<int>(kScratchBytes / 4);
// Byte offset of 16-byte chunk ch (of D/8) of row r in an operand of `rows` rows.
KP_GPU_HOST_DEVICE constexpr uint32_t operand_offset(int rows, int r, int ch) {
  return static_cast<uint32_t>(ch / 8) * rows * 128 + swizzle128(r, ch % 8);
}
#endif

// P16: P rounded once to 16 bits (allow_p16), else split to f32 accuracy (attention_mma.cu's top).
// kKeys: a template parameter, not a local constant, which g++ 12 (the emulator's compiler) fails on
// inside the lambdas' array types.
template <int D, bool BF16, bool P16, int kKeys = attention_wgmma_keys(P16, BF16, D)>
KP_GPU_GLOBAL void KP_GPU_LAUNCH_BOUNDS(kThreads) flash_wgmma(MmaAttnArgs a) {
#if defined(KP_WGMMA_OPS)
  constexpr int CH = D / 8;              // 16-byte chunks per row
  constexpr int NT = D / 8;              // 8-column output tiles
  constexpr int CW = P16 ? D : 64;       // output columns per P V pass
  constexpr bool OVERLAP = P16 || !BF16;  // S_{t+1} beside P_t V_t (see the top)
  constexpr uint32_t QB = q_bytes(D), TB = tile_bytes(D, kKeys);
  KP_GPU_EXTERN_SMEM(unsigned char, smem_raw, 16);
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  unsigned char* smem = smem_raw + (base - raw);
  const uint32_t q_s = base, k_s = base + QB, v_s = k_s + 2 * TB, scratch_s = v_s + 3 * TB;
  const float ninf = -__int_as_float(0x7f800000);

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  // The warpgroup, from lane 0: the compiler then knows it is the same across the warp, and the Q
  // operand's descriptors go through the uniform datapath as K's do (from threadIdx alone, each was
  // moved from vector registers to uniform ones: 3 instructions an MMA).
  const int wg = __shfl_sync(0xffffffffu, warp / 4, 0);
  const int g = lane / 4, t4 = lane % 4;
  const BlockItem item = block_item(a, blockIdx.x, kRows);
  const int64_t b = item.b, h = item.h, hk = h / (a.hq / a.hkv);
  const bool bshd = a.layout == KP_LAYOUT_BSHD;
  const int64_t q_rs = bshd ? a.hq * D : D;
  const int64_t kv_rs = bshd ? a.hkv * D : D;
  const uint16_t* Q = a.q + (bshd ? (b * a.sq * a.hq + h) * D : (b * a.hq + h) * a.sq * D);
  const int64_t kv_off = bshd ? (b * a.skv * a.hkv + hk) * D : (b * a.hkv + hk) * a.skv * D;
  const uint16_t* K = a.k + kv_off;
  const uint16_t* V = a.v + kv_off;

  const KeyRange keys = key_range(a, b);
  const int64_t i0 = item.i0;
  const int64_t kend = keys.end(min(i0 + kRows, a.sq) - 1);  // no row of the block sees a key from here on
  const int64_t kall = keys.end(i0);                          // every row sees the keys before this
  const int ntiles = static_cast<int>((kend + kKeys - 1) / kKeys);
  // The thread's rows g and g + 8 of its warp's 16. Rows past Sq see what the last row sees and are never stored.
  const int64_t ra = i0 + wg * 64 + (warp % 4) * 16 + g;
  const int64_t end_a = keys.end(min(ra, a.sq - 1)), end_b = keys.end(min(ra + 8, a.sq - 1));

  // One operand tile (K or V) of the kKeys keys from j0 into a buffer. A thread copies chunk tid % CH of
  // rows tid / CH + RPC r: from one pointer a tile, rounds a loop-invariant stride apart (the row's
  // address from its key index took ~15 instructions per copy, 64-bit multiplies and compares). Only
  // the tile holding kend tests rows (a uniform branch). RPC is a multiple of 8: each round's swizzle
  // is the first's.
  constexpr int RPC = kThreads / CH;
  static_assert(RPC % 8 == 0 && kKeys % RPC == 0, "copy rounds keep the 128-byte swizzle's row phase");
  const int crow = tid / CH;
  const int64_t coff = crow * kv_rs + (tid % CH) * 8, cstep = RPC * kv_rs;
  const uint32_t cdst = operand_offset(kKeys, crow, tid % CH);
  auto load_tile = [&](uint32_t dst, const uint16_t* src, const void* any, int64_t j0) {
    const uint16_t* p = src + j0 * kv_rs + coff;
    if (j0 + kKeys <= kend) {
#pragma unroll
      for (int r = 0; r < kKeys / RPC; ++r) cp_async16(dst + cdst + RPC * r * 128, p + r * cstep, true);
    } else {
      const int left = static_cast<int>(kend - j0);  // rows that exist; zeros past them (finite, and every row's mask hides them)
#pragma unroll
      for (int r = 0; r < kKeys / RPC; ++r) {
        const bool ok = crow + RPC * r < left;
        cp_async16(dst + cdst + RPC * r * 128, ok ? p + r * cstep : any, ok);
      }
    }
  };
  auto k_buf = [&](int t) { return k_s + (t & 1) * TB; };
  auto v_buf = [&](int t) { return v_s + static_cast<uint32_t>(t % 3) * TB; };
  // Whether this thread's own copies of V tile t hold Inf or NaN (an all-ones exponent).
  auto v_nonfinite = [&](int t) -> int {
    constexpr uint32_t E = BF16 ? 0x7f807f80u : 0x7c007c00u, ONE = BF16 ? 0x00800080u : 0x04000400u;
    uint32_t acc = 0;
#pragma unroll
    for (int r = 0; r < kKeys * CH / kThreads; ++r) {
      const int c = tid + kThreads * r;
      const uint4 w = *reinterpret_cast<const uint4*>(smem + (v_buf(t) - base) + operand_offset(kKeys, c / CH, c % CH));
      acc |= ((w.x & E) + ONE) | ((w.y & E) + ONE) | ((w.z & E) + ONE) | ((w.w & E) + ONE);
    }
    return (acc & 0x80008000u) != 0;
  };
  // S = Q K^T of tile t into s (the first K step overwrites it), issued and committed as one group.
  auto issue_s = [&](int t, float (&s)[kKeys / 8][4]) {
    float(&acc)[kKeys / 2] = *reinterpret_cast<float(*)[kKeys / 2]>(&s[0][0]);
    fence_operands(acc);
    wgmma_fence();
    const uint64_t q0 = smem_desc(q_s + wg * 64 * 128, 16, 1024), k0 = smem_desc(k_buf(t), 16, 1024);
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      // K step kk: 32 bytes into the 128-byte rows of column chunk kk / 4.
      const uint32_t col = (kk % 4) * 32;
      const uint64_t dq = desc_plus(q0, (kk / 4) * kRows * 128 + col);
      const uint64_t dk = desc_plus(k0, (kk / 4) * kKeys * 128 + col);
      if constexpr (kKeys == 128) wgmma_ss_m64n128k16<BF16, 0>(acc, dq, dk, kk == 0 ? 0 : 1);
      else wgmma_ss_m64n64k16<BF16, 0>(acc, dq, dk, kk == 0 ? 0 : 1);
    }
    wgmma_commit();
  };
  auto s_done = [&](float (&s)[kKeys / 8][4]) { fence_operands(*reinterpret_cast<float(*)[kKeys / 2]>(&s[0][0])); };

  float o[NT][4];
#pragma unroll
  for (int n = 0; n < NT; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[n][e] = 0.0f;
  RowStats st{ninf, ninf, 0.0f, 0.0f};
  float corr_a, corr_b;
  auto softmax = [&](int t, float (&s)[kKeys / 8][4]) {
    const int64_t j0 = static_cast<int64_t>(t) * kKeys;
    softmax_tile<kKeys / 8, P16>(s, st, j0 + kKeys > kall, end_a - j0, end_b - j0, a.scale, t4, corr_a, corr_b);
  };

  // The overlap path reads a non-finite V tile as these zeros (see the tile loop): zero from the start.
  if constexpr (OVERLAP)
    for (int i = tid; i < kScratchFloats; i += kThreads) reinterpret_cast<float*>(smem + (scratch_s - base))[i] = 0.0f;

  // Prologue: Q, K_0, V_0, K_1 and V_1 land; S_0 and its softmax.
#pragma unroll
  for (int r = 0; r < kRows * CH / kThreads; ++r) {
    const int c = tid + kThreads * r, row = c / CH, ch = c % CH;
    const bool ok = i0 + row < a.sq;
    cp_async16(q_s + operand_offset(kRows, row, ch), ok ? Q + (i0 + row) * q_rs + ch * 8 : a.q, ok);
  }
  if (ntiles > 0) {
    load_tile(k_buf(0), K, a.k, 0);
    load_tile(v_buf(0), V, a.v, 0);
  }
  if (ntiles > 1) {
    load_tile(k_buf(1), K, a.k, kKeys);
    load_tile(v_buf(1), V, a.v, kKeys);
  }
  cp_async_commit();
  // The tile's scores, then its P; with the overlap S_{t+1} lands here once P_t is packed for the MMAs.
  float s_cur[kKeys / 8][4];
  // Whether this thread's copies of the next tile's V hold Inf or NaN: or'ed into that tile's barrier.
  int v_next_bad = 0;
  if (ntiles > 0) {
    cp_async_wait<0>();
    v_next_bad = v_nonfinite(0);
    fence_proxy_async();
    __syncthreads();
    issue_s(0, s_cur);
    wgmma_wait<0>();
    s_done(s_cur);
    softmax(0, s_cur);  // O is zero: nothing to rescale
  }

  // Tile t: P_t is in s_cur; K_{t+1} and V_{t+1} were loaded during tile t - 1 (the prologue for t = 0),
  // V_t before that, and checked for Inf and NaN in tile t - 1 (off the path the tensor cores wait on).
  // With the overlap, whether a next tile exists is a compile-time constant (the last tile is peeled
  // off the loop) and P_t V_t is issued on every tile: ptxas serialises every wgmma of a kernel where
  // one sits in a branch it cannot prove uniform while another group is in flight (C7520).
  auto tile = [&](int t, auto next_c) {
    const bool next = OVERLAP ? decltype(next_c)::value : t + 1 < ntiles;
    cp_async_wait<0>();
    fence_proxy_async();  // this thread's copies, to the tensor cores' view of shared memory
    // Every copy of K_{t+1} and V_{t+1} is visible; both warpgroups are done with K_t (S_t) and V_{t-1}
    // (P_{t-1} V_{t-1}), whose buffers take K_{t+2} and V_{t+2} now, landing while this tile computes.
    const int v_bad = __syncthreads_or(v_next_bad);
    // Issued once the tensor cores have work (P_t V_t and S_{t+1} with the overlap, else S_{t+1}), which
    // they start on while the copies' address arithmetic runs (before it, it was a tenth of each tile's
    // instructions with the tensor cores idle); then V_{t+1}'s check for the next barrier (here it was
    // ~55 instructions more of that idle time).
    auto prefetch = [&] {
      if (t + 2 < ntiles) {
        load_tile(k_buf(t), K, a.k, static_cast<int64_t>(t + 2) * kKeys);
        load_tile(v_buf(t + 2), V, a.v, static_cast<int64_t>(t + 2) * kKeys);
      }
      cp_async_commit();
      v_next_bad = next ? v_nonfinite(t + 1) : 0;
    };

    uint32_t ph[kKeys / 16][4], pm[kKeys / 16][4], pl[kKeys / 16][4];
    // P_t's registers stay as they are until the MMAs reading them are waited for.
    auto p_done = [&] {
#pragma unroll
      for (int kk = 0; kk < kKeys / 16; ++kk) {
        fence_operands(ph[kk]);
        if constexpr (!P16) fence_operands(pm[kk]);
        if constexpr (!P16 && BF16) fence_operands(pl[kk]);
      }
    };
    // A V tile with Inf or NaN goes key by key below. Without the overlap P_t V_t is skipped for it;
    // with it, the MMAs read the scratch's zeros instead of V_t (O += P 0 leaves O as it is).
    // With the overlap: S_{t+1}'s softmax once its group, the older of the two in flight, is done.
    auto softmax_next = [&] {
      wgmma_wait<1>();
      s_done(s_cur);
      softmax(t + 1, s_cur);
      // The softmax's every exp feeds the rows' sums: stored, they keep it before the wait (see
      // wgmma.cuh); V_{t+1}'s check, next read at the next barrier, with them.
      pin_before_wait(scratch_s + kScratchBytes + 4 * tid, __float_as_uint(st.l_a + st.l_b) | static_cast<uint32_t>(v_next_bad));
    };
    const bool pv_mma = OVERLAP || !v_bad;
    const uint32_t v_src = OVERLAP && v_bad ? scratch_s : v_buf(t);
    const uint64_t v0 = smem_desc(v_src, kKeys * 128, 1024);
    if (pv_mma) {
      pack_p<kKeys / 8, BF16, P16>(s_cur, ph, pm, pl);
      // OVERLAP: S_{t+1} on the tensor cores while they also run P_t V_t, and its softmax meanwhile. Into
      // s_cur: P_t is in ph now, which the key-by-key path reads too (no second score tile: 32 registers
      // and 32 moves a tile).
      if (OVERLAP && next) issue_s(t + 1, s_cur);
#pragma unroll
      for (int c = 0; c < D / CW; ++c) {
        float(&oc)[CW / 2] = *reinterpret_cast<float(*)[CW / 2]>(&o[c * CW / 8][0]);
        float lo[P16 ? 1 : CW / 2];
#pragma unroll
        for (int r = 0; r < (P16 ? 1 : CW / 2); ++r) lo[r] = 0.0f;
        fence_operands(oc);
        if constexpr (!P16) fence_operands(lo);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < kKeys / 16; ++kk) {
          // 16 keys = 16 rows of 128 bytes; 64-column chunks LBO = kKeys * 128 bytes apart.
          const uint64_t dv = desc_plus(v0, (c * CW / 64) * kKeys * 128 + kk * 16 * 128);
          if constexpr (CW == 128) {
            wgmma_rs_m64n128k16<BF16, 1>(*reinterpret_cast<float(*)[64]>(&oc[0]), ph[kk], dv);
          } else {
            wgmma_rs_m64n64k16<BF16, 1>(*reinterpret_cast<float(*)[32]>(&oc[0]), ph[kk], dv);
          }
          if constexpr (!P16) {
            wgmma_rs_m64n64k16<BF16, 1>(*reinterpret_cast<float(*)[32]>(&lo[0]), pm[kk], dv);
            if constexpr (BF16) wgmma_rs_m64n64k16<BF16, 1>(*reinterpret_cast<float(*)[32]>(&lo[0]), pl[kk], dv);
          }
        }
        wgmma_commit();
        if (OVERLAP && c == 0) prefetch();
        // The split path (f16): S_{t+1}'s softmax beside the first chunk's P V.
        if (OVERLAP && !P16 && c == 0 && next) softmax_next();
        if constexpr (!P16) {
          // The low terms are added once their group is done: one chunk at a time (S_{t+1}, committed
          // before, is done by then too).
          wgmma_wait<0>();
          p_done();
          fence_operands(oc);
          fence_operands(lo);
#pragma unroll
          for (int r = 0; r < CW / 2; ++r) oc[r] += lo[r] * (1.0f / kLoScale<BF16>);
        }
      }
    }
    if (OVERLAP && P16 && next) softmax_next();
    wgmma_wait<0>();
    if (pv_mma) p_done();
#pragma unroll
    for (int n = 0; n < NT; ++n) fence_operands(o[n]);
    if (v_bad) {
      // Inf or NaN in V_t: f32 products key by key (attention_mma.cu's top), through this warp's scratch.
      // With the overlap both warpgroups' P V read the scratch as zeros, and a warpgroup's wait retires
      // only its own: none writes its scratch before the other's P V is done (v_bad is the block's).
      if constexpr (OVERLAP) __syncthreads();
      float* ps = reinterpret_cast<float*>(smem + (scratch_s - base)) + warp * 16 * kPass;
      auto p = [&](int n, int e) {
        if constexpr (OVERLAP) return packed_p<kKeys / 8, BF16, P16>(ph, pm, n, e);  // s_cur holds S_{t+1} by now
        else return s_cur[n][e] * kHiScale<BF16>;
      };
      pv_keywise<kKeys, kPass, NT, BF16>(o, p, ps, g, t4, [&](int j, int n) {
        return *reinterpret_cast<const uint32_t*>(smem + (v_buf(t) - base) + operand_offset(kKeys, j, n) + 4 * t4);
      });
      if constexpr (OVERLAP) {  // zeros again before the next tile's barrier (and its proxy fence)
        __syncwarp();
        for (int i = lane; i < 16 * kPass; i += 32) ps[i] = 0.0f;
      }
    }
    if (next) {
      if (!OVERLAP) {
        issue_s(t + 1, s_cur);
        prefetch();
        wgmma_wait<0>();
        s_done(s_cur);
        softmax(t + 1, s_cur);
      }
      rescale_rows(o, corr_a, corr_b);  // O now holds P_0..P_t V: onto tile t + 1's maxima
    }
  };
  if constexpr (OVERLAP) {
#pragma unroll 1
    for (int t = 0; t + 1 < ntiles; ++t) tile(t, std::true_type{});
    if (ntiles > 0) tile(ntiles - 1, std::false_type{});
  } else {
#pragma unroll 1
    for (int t = 0; t < ntiles; ++t) tile(t, std::false_type{});
  }
  cp_async_wait<0>();  // no copy outlives the block (Q's, when no key is visible)
  // The block's item again for the store, not held across the tile loop: the bf16 split kernel has no
  // register to spare for it (it spilled them).
  const BlockItem out = block_item(a, opaque(blockIdx.x), kRows);
  store_rows<NT, BF16, P16, true>(a, out.b, out.h, out.i0, kRows, out.i0 + (ra - i0), t4, o, st, reinterpret_cast<float*>(smem), tid, kThreads);
#endif
}

template <int D, bool BF16, bool P16, int KEYS>
void launch_one(kp_gpu_stream_t stream, const MmaAttnArgs& a, int64_t blocks) {
  const size_t smem = smem_bytes(D, KEYS);
  (void)kp_gpu_set_max_dynamic_smem(flash_wgmma<D, BF16, P16, KEYS>, static_cast<int>(smem));
  KP_GPU_LAUNCH((flash_wgmma<D, BF16, P16, KEYS>), dim3(static_cast<unsigned>(blocks)), dim3(kThreads), smem, stream)(a);
}

template <int D>
void launch_d(kp_gpu_stream_t stream, const MmaAttnArgs& a, int64_t blocks, bool bf16, bool p16, bool keys64) {
  with_bf16_p16(bf16, p16, [&](auto b, auto p) {
    constexpr bool B = decltype(b)::value, P = decltype(p)::value;
    if (keys64) launch_one<D, B, P, 64>(stream, a, blocks);
    else launch_one<D, B, P, attention_wgmma_keys(P, B, D)>(stream, a, blocks);
  });
}

}  // namespace

bool attention_wgmma_eligible(const DeviceCaps& caps, const kp_attention_desc& d) {
#if defined(KP_WGMMA_KERNELS)
  // wgmma is a 128-thread warpgroup instruction of 32-lane warps, on compute capability 9.0 exactly (sm_90a
  // code runs nowhere else). Auto takes it for D = 128 from kMinQueryRows rows: faster than mma.sync there on
  // an H100 (2026-11-27, B4 H32 S2048 causal: 1.19 against 1.26 ms, allowP16 0.65 against 0.78 ms); at
  // D = 64 it was not (0.50 against 0.43 ms with allowP16). KERNELPORT_GPU_ATTENTION=wgmma forces it for
  // D = 64 too, however few the rows.
  const bool forced = caps.attention_mode == 3;
  if ((!forced && caps.attention_mode != 0) || caps.cc_major != 9 || caps.cc_minor != 0 || caps.warp_size != 32) return false;
  if (d.dtype != KP_F16 && d.dtype != KP_BF16) return false;
  if (d.d != d.dv || (d.d != 64 && d.d != 128) || d.has_mask) return false;
  if (!forced && (d.d != 128 || d.sq < kMinQueryRows)) return false;
  if (d.batch <= 0 || d.hq <= 0 || d.hkv <= 0 || d.hq % d.hkv != 0 || d.sq <= 0 || d.skv < 0) return false;
  if (caps.smem_optin < static_cast<int>(attention_wgmma_smem(caps, d))) return false;
  return (d.sq + kRows - 1) / kRows * d.batch * d.hq <= 0x7fffffff;
#else
  (void)caps, (void)d;
  return false;
#endif
}

int attention_wgmma_tile_keys(const DeviceCaps& caps, const kp_attention_desc& d) {
  return caps.attention_keys == 64 ? 64 : attention_wgmma_keys(d.allow_p16, d.dtype == KP_BF16, static_cast<int>(d.d));
}
const char* attention_wgmma_variant(const DeviceCaps& caps, const kp_attention_desc& d) {
  if (!d.allow_p16) return kVariant;
  const bool keys64 = attention_wgmma_tile_keys(caps, d) != attention_wgmma_keys(true, d.dtype == KP_BF16, static_cast<int>(d.d));
  return keys64 ? kP16Keys64Variant : kP16Variant;
}
bool is_attention_wgmma_variant(const char* variant) {
  return variant == kVariant || variant == kP16Variant || variant == kP16Keys64Variant;
}
size_t attention_wgmma_smem(const DeviceCaps& caps, const kp_attention_desc& d) {
  return smem_bytes(static_cast<int>(d.d), attention_wgmma_tile_keys(caps, d));
}

void launch_attention_wgmma(kp_gpu_stream_t stream, const AttentionPlan& plan, const kp_attention_desc& d, const void* q,
                            const void* k, const void* v, const int32_t* kv_lengths, void* out, float* lse) {
  const char* variant = plan.variant;
  const MmaAttnArgs a = mma_attention_args(d, kRows, plan.head_group, q, k, v, kv_lengths, out, lse);
  const int64_t blocks = a.row_blocks * d.batch * d.hq;
  const bool bf16 = d.dtype == KP_BF16, keys64 = variant == kP16Keys64Variant, p16 = variant == kP16Variant || keys64;
  if (d.d == 64) launch_d<64>(stream, a, blocks, bf16, p16, keys64);
  else launch_d<128>(stream, a, blocks, bf16, p16, keys64);
}

}  // namespace gpu
}  // namespace kp
