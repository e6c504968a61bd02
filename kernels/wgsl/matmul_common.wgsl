// matmul parameters, batch addressing and the fused epilogue, shared by matmul.wgsl and gemv.wgsl.
// out = act(alpha · op(A) · op(B) + bias) + beta · residual, accumulated in f32.
//
// A dispatch covers the chunk rows [prm(48), prm(49)) x columns [prm(50), prm(51)) of batches
// zBase + wg.z. Indices are global; each tensor is bound as a window of its buffer (a tensor may
// exceed the binding limit: src/backends/webgpu/windows.ts) whose first word is subtracted here:
// A prm(52), B prm(53), OUT prm(54), RES prm(55), BIAS prm(56). K chunks: prm(57..59), matmul.wgsl.

struct MatmulParams { p: array<vec4<u32>, 15> }
@group(0) @binding(0) var<uniform> P: MatmulParams;
@group(0) @binding(1) var<storage, read> A: array<u32>;
@group(0) @binding(2) var<storage, read> B: array<u32>;
@group(0) @binding(3) var<storage, read_write> OUT: array<u32>; // f32 bits
#if HAS_BIAS
@group(0) @binding(4) var<storage, read> BIAS: array<u32>;
#endif
#if HAS_RES
@group(0) @binding(5) var<storage, read> RES: array<u32>;
#endif

const A_DT: u32 = {{A_DT}}u;
const ACT: u32 = {{ACT}}u;

fn prm(i: u32) -> u32 { return P.p[i >> 2u][i & 3u]; }
fn M() -> u32 { return prm(0u); }
fn N() -> u32 { return prm(1u); }
fn K() -> u32 { return prm(2u); }

// Element offsets of batch z in A, B and the residual (each stride 0 where broadcast).
struct BatchOffsets { a: u32, b: u32, r: u32 }
fn batch_offsets(z0: u32) -> BatchOffsets {
  var z = z0;
  var o = BatchOffsets(0u, 0u, 0u);
  let nd = prm(14u);
  for (var d = i32(nd) - 1; d >= 0; d = d - 1) {
    let ud = u32(d);
    let extent = prm(16u + ud);
    let idx = z % extent;
    z = z / extent;
    o.a = o.a + idx * prm(24u + ud);
    o.b = o.b + idx * prm(32u + ud);
    o.r = o.r + idx * prm(40u + ud);
  }
  return o;
}

fn I0() -> u32 { return prm(48u); }
fn I_END() -> u32 { return prm(49u); }
fn J0() -> u32 { return prm(50u); }
fn J_END() -> u32 { return prm(51u); }

fn load_a(e: u32) -> f32 { return kp_decode(A[kp_word(e, A_DT) - prm(52u)], e, A_DT); }
fn load_b(e: u32) -> f32 { return kp_decode(B[kp_word(e, A_DT) - prm(53u)], e, A_DT); }
fn store_out(e: u32, v: f32) { OUT[e - prm(54u)] = bitcast<u32>(v); }
fn load_out(e: u32) -> f32 { return bitcast<f32>(OUT[e - prm(54u)]); }

fn epilogue(acc: f32, i: u32, j: u32, rOff: u32) -> f32 {
  var v = bitcast<f32>(prm(12u)) * acc;
#if HAS_BIAS
  v = v + kp_decode(BIAS[kp_word(j, {{BIAS_DT}}u) - prm(56u)], j, {{BIAS_DT}}u);
#endif
  v = kp_activation(v, ACT);
#if HAS_RES
  let re = rOff + i * prm(10u) + j * prm(11u);
  v = v + bitcast<f32>(prm(13u)) * kp_decode(RES[kp_word(re, {{RES_DT}}u) - prm(55u)], re, {{RES_DT}}u);
#endif
  return v;
}
