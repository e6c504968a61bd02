// Attention parameters and addressing, shared by attention.wgsl and attention_combine.wgsl.

struct AttnParams { p: array<vec4<u32>, 5> }
@group(0) @binding(0) var<uniform> P: AttnParams;

fn prm(i: u32) -> u32 { return P.p[i >> 2u][i & 3u]; }
fn HQ() -> u32 { return prm(1u); }
fn HKV() -> u32 { return prm(2u); }
fn SQ() -> u32 { return prm(3u); }
fn SKV() -> u32 { return prm(4u); }
fn NSPLIT() -> u32 { return prm(12u); }

// Element offset of row (b, h, s = 0) and the stride between consecutive s, for a [B,H,S,E] (layout
// 0, bhsd) or [B,S,H,E] (layout 1, bshd) tensor.
struct Rows { base: u32, stride: u32 }
fn rows(b: u32, h: u32, H: u32, S: u32, E: u32) -> Rows {
  if (prm(7u) == 1u) { return Rows((b * S * H + h) * E, H * E); }
  return Rows((b * H + h) * S * E, E);
}
