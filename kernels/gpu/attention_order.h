// The launch order of the tensor-core flash attention kernels (attention_mma.cu, attention_wgmma.cu):
// which (row block, batch x query head) item block bx computes, and the head groups it walks, sized
// from the device's L2 by the plan. Host and device code, so the plan test checks it.
#pragma once
#include <stdint.h>

#include "kernels.h"

namespace kp {
namespace gpu {

// The launch order of the tensor-core kernels' (row block, batch x query head) items. Blocks start
// roughly in index order, a wave of them at a time, and every row block of a head reads the same K and
// V from key 0 on: so consecutive blocks take the row blocks of one group of `group` heads, the
// longest rows first (causal), a head at a time within a row block, and the blocks in flight read the
// K/V of about two groups, which L2 keeps (attention_head_group sizes them). The order it replaced
// (every head's last row block, then every head's one before, ...) put a different head on each block
// of a wave: at B4 H32 S2048 D128 causal a wave of 132 blocks wanted 132 MiB of K/V, L2 held a third
// of it, and the blocks read ~1 GB from HBM per call where 134 MB is the data (an LRU model of the
// H100's 50 MiB L2; Nsight Compute measured ~1.2 GB at a 21 % L2 hit rate), ~0.3 ms at 3.35 TB/s
// against the 0.69 ms the allowP16 kernel took.
KP_GPU_HOST_DEVICE inline void attention_item(uint32_t bx, uint32_t heads, uint32_t row_blocks, uint32_t group,
                                              uint32_t& rb, uint32_t& bh) {
  const uint32_t per = group * row_blocks;  // items per whole group
  const uint32_t gi = bx / per, w = bx - gi * per;
  const uint32_t first = gi * group;
  const uint32_t size = heads - first < group ? heads - first : group;  // the last group may be short
  const uint32_t step = w / size;
  rb = row_blocks - 1 - step;
  bh = first + (w - step * size);
}

// Heads per group of attention_item's order: the largest power of two whose two groups' K and V take
// at most half of L2 (a power of two divides the usual head counts: no short last group), whole GQA
// groups (query heads sharing a K/V head are adjacent), at most every head. L2 unknown (0): 32 MiB.
inline int attention_head_group(int64_t l2_bytes, const kp_attention_desc& d) {
  const int64_t heads = d.batch * d.hq, share = d.hkv > 0 && d.hq % d.hkv == 0 ? d.hq / d.hkv : 1;
  const int64_t kv_head = (d.skv > 0 ? d.skv : 1) * (d.d + d.dv) * 2;  // 16-bit K and V of one K/V head
  const int64_t budget = (l2_bytes > 0 ? l2_bytes : int64_t{32} << 20) / 4;  // one group's share
  int64_t kv_heads = 1;
  while (kv_heads * 2 * kv_head <= budget && kv_heads * 2 * share <= heads) kv_heads *= 2;
  const int64_t g = kv_heads * share;
  return static_cast<int>(g < heads ? g : (heads > 0 ? heads : 1));
}

}  // namespace gpu
}  // namespace kp
