// Wide tiled matmul for hardware adapters (src/backends/webgpu/configs.ts): a workgroup of WGX x WGY
// invocations computes a (WGY·TM) x (WGX·TN) output tile (128x128 built in), each invocation TM x TN
// outputs (8x8) held as vec4 accumulators. Its rows are TM/4 groups of 4 consecutive rows, the
// groups WGY·4 rows apart (columns likewise), so the invocations of a subgroup read consecutive vec4
// of workgroup memory: per K step TM/4 + TN/4 vec4 reads feed TM·TN multiply-adds.
//
// op(A) and op(B) tiles of depth BK are staged as f32 through workgroup memory (rows padded by 4
// floats), read from global memory along whichever of their axes is contiguous (K for A [M, K] and
// for B^T [N, K]; M or N otherwise), so a subgroup's loads coalesce, and one tile ahead into
// registers (load_tile / store_tile), so the loads overlap the arithmetic. Every output element sums its K
// products in index order (vec4 lanes are independent sums): the result does not depend on the tile
// grid. Parameters, batching, windows, K chunks and the epilogue are those of matmul.wgsl.

const TM: u32 = {{TM}}u;
const TN: u32 = {{TN}}u;
const WGX: u32 = {{WGX}}u;
const WGY: u32 = {{WGY}}u;
const BK: u32 = {{BK}}u;
const TILE_M: u32 = WGY * TM;
const TILE_N: u32 = WGX * TN;
const THREADS: u32 = WGX * WGY;
const GM: u32 = TM / 4u;
const GN: u32 = TN / 4u;
const SA: u32 = TILE_M / 4u + 1u; // vec4 per staged row of A (one of padding)
const SB: u32 = TILE_N / 4u + 1u;

var<workgroup> As: array<vec4<f32>, BK * SA>; // [BK][TILE_M + 4]
var<workgroup> Bs: array<vec4<f32>, BK * SB>; // [BK][TILE_N + 4]

// One K step: acc[r][h] += op(A)[row r, kk] * op(B)[kk, columns of h].
fn kstep(kk: u32, tx: u32, ty: u32, acc: ptr<function, array<vec4<f32>, TM * GN>>) {
  var b: array<vec4<f32>, GN>;
  for (var h = 0u; h < GN; h = h + 1u) { b[h] = Bs[kk * SB + h * WGX + tx]; }
  for (var g = 0u; g < GM; g = g + 1u) {
    let a = As[kk * SA + g * WGY + ty];
    let r = g * 4u * GN;
    for (var h = 0u; h < GN; h = h + 1u) {
      (*acc)[r + h] = (*acc)[r + h] + a.x * b[h];
      (*acc)[r + GN + h] = (*acc)[r + GN + h] + a.y * b[h];
      (*acc)[r + 2u * GN + h] = (*acc)[r + 2u * GN + h] + a.z * b[h];
      (*acc)[r + 3u * GN + h] = (*acc)[r + 3u * GN + h] + a.w * b[h];
    }
  }
}

// Staging with a register prefetch: each invocation loads its LA elements of the next op(A) tile and
// LB of op(B) into registers before the current tile's K steps, and stores them to workgroup memory
// after, so global loads overlap the arithmetic. Element e of a tile: (kk, mm) in the order that
// reads along the operand's contiguous axis (K when A is [M, K] / B^T is [N, K]).
const LA: u32 = (BK * TILE_M + THREADS - 1u) / THREADS;
const LB: u32 = (BK * TILE_N + THREADS - 1u) / THREADS;
struct Staged { a: array<f32, LA>, b: array<f32, LB> }

struct TileArgs { m0: u32, n0: u32, m: u32, n: u32, k: u32, offA: u32, offB: u32 }

fn a_coord(e: u32, kFast: bool) -> vec2<u32> { // (kk, mm)
  if (kFast) { return vec2<u32>(e % BK, e / BK); }
  return vec2<u32>(e / TILE_M, e % TILE_M);
}
fn b_coord(e: u32, kFast: bool) -> vec2<u32> { // (kk, nn)
  if (kFast) { return vec2<u32>(e % BK, e / BK); }
  return vec2<u32>(e / TILE_N, e % TILE_N);
}

fn load_tile(k0: u32, t: u32, x: TileArgs) -> Staged {
  var s: Staged;
  let aFast = prm(7u) == 1u;
  let bFast = prm(8u) == 1u;
  for (var u = 0u; u < LA; u = u + 1u) {
    let e = t + u * THREADS;
    let c = a_coord(e, aFast);
    let i = x.m0 + c.y;
    let p = k0 + c.x;
    var v = 0.0;
    if (e < BK * TILE_M && i < x.m && p < x.k) { v = load_a(x.offA + i * prm(6u) + p * prm(7u)); }
    s.a[u] = v;
  }
  for (var u = 0u; u < LB; u = u + 1u) {
    let e = t + u * THREADS;
    let c = b_coord(e, bFast);
    let j = x.n0 + c.y;
    let p = k0 + c.x;
    var v = 0.0;
    if (e < BK * TILE_N && j < x.n && p < x.k) { v = load_b(x.offB + p * prm(8u) + j * prm(9u)); }
    s.b[u] = v;
  }
  return s;
}

fn store_tile(s: Staged, t: u32) {
  let aFast = prm(7u) == 1u;
  let bFast = prm(8u) == 1u;
  for (var u = 0u; u < LA; u = u + 1u) {
    let e = t + u * THREADS;
    if (e < BK * TILE_M) {
      let c = a_coord(e, aFast);
      As[c.x * SA + c.y / 4u][c.y % 4u] = s.a[u];
    }
  }
  for (var u = 0u; u < LB; u = u + 1u) {
    let e = t + u * THREADS;
    if (e < BK * TILE_N) {
      let c = b_coord(e, bFast);
      Bs[c.x * SB + c.y / 4u][c.y % 4u] = s.b[u];
    }
  }
}

@compute @workgroup_size({{WGX}}, {{WGY}}, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m = I_END();
  let n = J_END();
  let k = K();
  let tile = wg.y * prm(4u) + wg.x;
  let tilesN = prm(3u);
  let m0 = I0() + (tile / tilesN) * TILE_M;
  let n0 = J0() + (tile % tilesN) * TILE_N;
  let z = wg.z + prm(5u);
  let off = batch_offsets(z);
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * WGX + tx;

  let outBase = z * M() * N();
  let first = (prm(59u) & 1u) != 0u;
  let last = (prm(59u) & 2u) != 0u;
  var acc: array<vec4<f32>, TM * GN>;
  for (var r = 0u; r < TM; r = r + 1u) {
    let i = m0 + (r / 4u) * WGY * 4u + ty * 4u + r % 4u;
    for (var h = 0u; h < GN; h = h + 1u) {
      var v = vec4<f32>(0.0);
      if (!first && i < m) {
        for (var c = 0u; c < 4u; c = c + 1u) {
          let j = n0 + h * WGX * 4u + tx * 4u + c;
          if (j < n) { v[c] = load_out(outBase + i * N() + j); }
        }
      }
      acc[r * GN + h] = v;
    }
  }

  let kEnd = prm(58u);
  let x = TileArgs(m0, n0, m, n, k, off.a, off.b);
  var staged = load_tile(prm(57u), t, x);
  for (var k0 = prm(57u); k0 < kEnd; k0 = k0 + BK) {
    store_tile(staged, t);
    workgroupBarrier();
    if (k0 + BK < kEnd) { staged = load_tile(k0 + BK, t, x); } // the next tile, in flight during this one
    if (k0 + BK <= kEnd) {
      for (var kk = 0u; kk < BK; kk = kk + 1u) { kstep(kk, tx, ty, &acc); }
    } else {
      let kmax = kEnd - k0;
      for (var kk = 0u; kk < kmax; kk = kk + 1u) { kstep(kk, tx, ty, &acc); }
    }
    workgroupBarrier();
  }

  for (var r = 0u; r < TM; r = r + 1u) {
    let i = m0 + (r / 4u) * WGY * 4u + ty * 4u + r % 4u;
    if (i >= m) { continue; }
    for (var h = 0u; h < GN; h = h + 1u) {
      let v = acc[r * GN + h];
      for (var c = 0u; c < 4u; c = c + 1u) {
        let j = n0 + h * WGX * 4u + tx * 4u + c;
        if (j < n) { store_out(outBase + i * N() + j, select(v[c], epilogue(v[c], i, j, off.r), last)); }
      }
    }
  }
}
