// Attention parameters and addressing, shared by attention.wgsl and attention_combine.wgsl.

// A dispatch covers the (batch, head) pairs from prm(20) on (the op may be split over batch×heads:
// src/backends/webgpu/attention-chunks.ts). Indices are global; each tensor is bound as a window of its
// buffer whose first word is subtracted: Q 21, K 22, V 23, OUT 24, LSE 25, MASK 26. prm(27): the
// chunk's query rows (combine); prm(17): its (batch, head) pairs. Split-KV partials are per chunk, indexed from the chunk's first row.
// 28..31: the key chunk [28, 29) and whether it is the first (30) and the last (31): attention.wgsl.
struct AttnParams { p: array<vec4<u32>, 8> }
@group(0) @binding(0) var<uniform> P: AttnParams;

fn prm(i: u32) -> u32 { return P.p[i >> 2u][i & 3u]; }
fn HQ() -> u32 { return prm(1u); }
fn HKV() -> u32 { return prm(2u); }
fn SQ() -> u32 { return prm(3u); }
fn SKV() -> u32 { return prm(4u); }
fn NSPLIT() -> u32 { return prm(12u); }
fn BH0() -> u32 { return prm(20u); }
fn PAIRS() -> u32 { return prm(17u); } // the chunk's (batch, head) pairs

// Element offset of row (b, h, s = 0) and the stride between consecutive s, for a [B,H,S,E] (layout
// 0, bhsd) or [B,S,H,E] (layout 1, bshd) tensor.
struct Rows { base: u32, stride: u32 }
fn rows(b: u32, h: u32, H: u32, S: u32, E: u32) -> Rows {
  if (prm(7u) == 1u) { return Rows((b * S * H + h) * E, H * E); }
  return Rows((b * H + h) * S * E, E);
}
