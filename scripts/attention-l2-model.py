#!/usr/bin/env python3
"""A model, not a measurement: HBM reads and tail of the tensor-core attention's launch order.

Blocks run one per SM, start in index order, and each reads its head's K and V tiles from key 0 to its
row block's last visible key (causal), one tile a step, through an LRU cache the size of L2. Prints the
HBM bytes and the makespan (in tile steps) of the order before head groups (every head's last row
block, then every head's one before, ...) and of kernels/gpu/attention_order.h's groups.

  python3 scripts/attention-l2-model.py                       # B4 H32 S2048 D128 causal on an H100
  python3 scripts/attention-l2-model.py --heads 64 --s 8192 --l2-mib 60 --sms 78   # an H20
"""
import argparse
import collections
import heapq


def items(heads, row_blocks, group):
    """(row block, head) per block index: attention_item's order (group = heads: the order before groups)."""
    out = []
    for bx in range(heads * row_blocks):
        per = group * row_blocks
        gi, w = divmod(bx, per)
        first = gi * group
        size = min(group, heads - first)
        step, within = divmod(w, size)
        out.append((row_blocks - 1 - step, first + within))
    return out


def head_group(l2_bytes, kv_head_bytes, heads, share=1):
    """attention_head_group: the largest power of two of K/V heads whose two groups fit half of L2."""
    kv_heads = 1
    while kv_heads * 2 * kv_head_bytes <= l2_bytes // 4 and kv_heads * 2 * share <= heads:
        kv_heads *= 2
    return min(kv_heads * share, heads)


def simulate(order, sms, rows, tile, l2_bytes, tile_bytes):
    """HBM bytes read (K and V tiles missing the LRU cache) and the makespan in tile steps."""
    cap = l2_bytes // tile_bytes
    lru = collections.OrderedDict()
    queue = list(order)
    active = []
    misses = 0
    nxt = 0

    def start():
        nonlocal nxt
        if nxt < len(queue):
            rb, h = queue[nxt]
            nxt += 1
            active.append([h, 0, (rb + 1) * rows // tile])

    for _ in range(sms):
        start()
    while active:
        for blk in active:
            h, t, _ = blk
            for kind in (0, 1):
                key = (h, kind, t)
                if key in lru:
                    lru.move_to_end(key)
                else:
                    misses += 1
                    lru[key] = True
                    if len(lru) > cap:
                        lru.popitem(last=False)
            blk[1] += 1
        done = sum(1 for b in active if b[1] >= b[2])
        active[:] = [b for b in active if b[1] < b[2]]
        for _ in range(done):
            start()
    free = [0] * sms
    for rb, _ in order:
        heapq.heappush(free, heapq.heappop(free) + (rb + 1) * rows // tile)
    return misses * tile_bytes, max(free)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--heads", type=int, default=128, help="batch x query heads (MHA)")
    p.add_argument("--s", type=int, default=2048, help="Sq = Skv")
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--rows", type=int, default=128, help="query rows per block")
    p.add_argument("--tile", type=int, default=64, help="keys per tile")
    p.add_argument("--sms", type=int, default=132)
    p.add_argument("--l2-mib", type=int, default=50)
    a = p.parse_args()
    l2 = a.l2_mib << 20
    tile_bytes = a.tile * a.d * 2
    row_blocks = a.s // a.rows
    data = a.heads * a.s * a.d * 2 * 2
    g = head_group(l2, a.s * a.d * 2 * 2, a.heads)
    print(f"{a.heads} heads, S {a.s}, D {a.d}, {a.sms} SMs, L2 {a.l2_mib} MiB: K/V data {data / 1e9:.3f} GB")
    for name, group in (("before groups (=all)", a.heads), (f"groups of {g} (auto)", g)):
        hbm, span = simulate(items(a.heads, row_blocks, group), a.sms, a.rows, a.tile, l2, tile_bytes)
        print(f"  {name:22s} HBM reads {hbm / 1e9:.3f} GB, makespan {span} tile steps")


if __name__ == "__main__":
    main()
