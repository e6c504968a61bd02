// The bindings, constants, loads and visibility rule of the query-row attention kernels
// (attention.wgsl, attention_tiled.wgsl); attention_combine.wgsl has its own bindings.

@group(0) @binding(1) var<storage, read> Q: array<u32>;
@group(0) @binding(2) var<storage, read> K: array<u32>;
@group(0) @binding(3) var<storage, read> V: array<u32>;
@group(0) @binding(4) var<storage, read> KVLEN: array<u32>;
@group(0) @binding(5) var<storage, read_write> OUT: array<u32>; // f32 out (attention.wgsl SPLIT: the partial acc)
#if HAS_LSE
@group(0) @binding(6) var<storage, read_write> LSE: array<u32>; // f32 lse (attention.wgsl SPLIT: the partial m)
#endif
#if HAS_MASK
@group(0) @binding(7) var<storage, read> MASK: array<u32>;
#endif
#if CARRY
@group(0) @binding(8) var<storage, read_write> ML: array<u32>; // (m, l) per row between key chunks
#endif

const DT: u32 = {{DT}}u;
const D: u32 = {{D}}u;
const DV: u32 = {{DV}}u;
const BQ: u32 = {{BQ}}u;
const BK: u32 = {{BK}}u;

fn load_q(e: u32) -> f32 { return kp_decode(Q[kp_word(e, DT) - prm(21u)], e, DT); }
fn load_k(e: u32) -> f32 { return kp_decode(K[kp_word(e, DT) - prm(22u)], e, DT); }
fn load_v(e: u32) -> f32 { return kp_decode(V[kp_word(e, DT) - prm(23u)], e, DT); }

// Keys [0, end) are visible to query row i of batch row b (causality and kvLengths).
fn visible_end(i: u32, len: u32) -> i32 {
  var e = i32(len);
  let c = prm(6u);
  if (c == 1u) { e = min(e, i32(i) + i32(len) - i32(SQ()) + 1); }
  else if (c == 2u) { e = min(e, i32(i) + 1); }
  return max(e, 0);
}
