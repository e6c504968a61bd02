// f32 -> f16 / bf16, round to nearest even: word w of the output holds elements 2w (low half) and
// 2w+1 (high half) of the f32 input, so every output word has exactly one writer.

struct PackParams { count: u32, gridX: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> P: PackParams;
@group(0) @binding(1) var<storage, read> SRC: array<u32>;
@group(0) @binding(2) var<storage, read_write> DST: array<u32>;

const OUT_DT: u32 = {{OUT_DT}}u;

fn conv(x: f32) -> u32 {
  if (OUT_DT == 1u) { return kp_f32_to_f16(x); }
  return kp_f32_to_bf16(x);
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let w = gid.y * P.gridX * 64u + gid.x;
  let e = w * 2u;
  if (e >= P.count) { return; }
  let lo = conv(bitcast<f32>(SRC[e]));
  var hi = 0u;
  if (e + 1u < P.count) { hi = conv(bitcast<f32>(SRC[e + 1u])); }
  DST[w] = lo | (hi << 16u);
}
