// Tiled matmul: a workgroup of WGX x WGY invocations computes a (WGY·TM) x (WGX·TN) output tile;
// each invocation keeps a TM x TN block of f32 accumulators in registers. op(A) and op(B) tiles of
// depth BK go through workgroup memory (converted to f32 once there), so transposes, 16-bit inputs
// and zero padding at the edges cost nothing in the inner loop. Every output element sums its K
// products in index order: the result does not depend on the tile grid's scheduling.
//
// Workgroups: x linearises (tile row, tile column) with gridX columns per dispatch row, z is the
// batch index (plus zBase when a batch needs more than one dispatch).
//
// K chunks: a dispatch sums only p in [prm(57), prm(58)) (bounded loop work per invocation:
// src/backends/webgpu/loops.ts). Unless it is the first (prm(59) bit 0) it starts from the raw sums
// the previous chunk left in OUT; unless it is the last (bit 1) it stores raw sums, not the epilogue.
// Chunks start on BK boundaries, so each sum is the same sequence of additions as in one pass.

const TM: u32 = {{TM}}u;
const TN: u32 = {{TN}}u;
const WGX: u32 = {{WGX}}u;
const WGY: u32 = {{WGY}}u;
const BK: u32 = {{BK}}u;
const TILE_M: u32 = WGY * TM;
const TILE_N: u32 = WGX * TN;
const THREADS: u32 = WGX * WGY;

var<workgroup> As: array<f32, {{BK}} * {{WGY}} * {{TM}}>; // [BK][TILE_M]
var<workgroup> Bs: array<f32, {{BK}} * {{WGX}} * {{TN}}>; // [BK][TILE_N]

@compute @workgroup_size({{WGX}}, {{WGY}}, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m = I_END(); // bounds: the chunk's last row and column (+1)
  let n = J_END();
  let k = K();
  let tile = wg.y * prm(4u) + wg.x;
  let tilesN = prm(3u);
  let m0 = I0() + (tile / tilesN) * TILE_M;
  let n0 = J0() + (tile % tilesN) * TILE_N;
  let z = wg.z + prm(5u);
  let off = batch_offsets(z);
  let aRow = prm(6u);
  let aCol = prm(7u);
  let bRow = prm(8u);
  let bCol = prm(9u);
  let t = lid.y * WGX + lid.x;

  let outBase = z * M() * N();
  let first = (prm(59u) & 1u) != 0u;
  let last = (prm(59u) & 2u) != 0u;
  var acc: array<array<f32, {{TN}}>, {{TM}}>;
  for (var r = 0u; r < TM; r = r + 1u) {
    for (var c = 0u; c < TN; c = c + 1u) {
      let i = m0 + lid.y * TM + r;
      let j = n0 + lid.x * TN + c;
      acc[r][c] = 0.0;
      if (!first && i < m && j < n) { acc[r][c] = load_out(outBase + i * N() + j); }
    }
  }

  for (var k0 = prm(57u); k0 < prm(58u); k0 = k0 + BK) {
    // Stage op(A)[m0.., k0..] and op(B)[k0.., n0..] as f32, zero outside the matrix.
    for (var e = t; e < BK * TILE_M; e = e + THREADS) {
      let kk = e / TILE_M;
      let mm = e % TILE_M;
      let i = m0 + mm;
      let p = k0 + kk;
      var v = 0.0;
      if (i < m && p < k) { v = load_a(off.a + i * aRow + p * aCol); }
      As[e] = v;
    }
    for (var e = t; e < BK * TILE_N; e = e + THREADS) {
      let kk = e / TILE_N;
      let nn = e % TILE_N;
      let j = n0 + nn;
      let p = k0 + kk;
      var v = 0.0;
      if (j < n && p < k) { v = load_b(off.b + p * bRow + j * bCol); }
      Bs[e] = v;
    }
    workgroupBarrier();
    let kmax = min(BK, prm(58u) - k0);
    for (var kk = 0u; kk < kmax; kk = kk + 1u) {
      var a: array<f32, {{TM}}>;
      var b: array<f32, {{TN}}>;
      for (var r = 0u; r < TM; r = r + 1u) { a[r] = As[kk * TILE_M + lid.y * TM + r]; }
      for (var c = 0u; c < TN; c = c + 1u) { b[c] = Bs[kk * TILE_N + lid.x * TN + c]; }
      for (var r = 0u; r < TM; r = r + 1u) {
        for (var c = 0u; c < TN; c = c + 1u) { acc[r][c] = acc[r][c] + a[r] * b[c]; }
      }
    }
    workgroupBarrier();
  }

  for (var r = 0u; r < TM; r = r + 1u) {
    let i = m0 + lid.y * TM + r;
    if (i >= m) { break; }
    for (var c = 0u; c < TN; c = c + 1u) {
      let j = n0 + lid.x * TN + c;
      if (j >= n) { break; }
      store_out(outBase + i * N() + j, select(acc[r][c], epilogue(acc[r][c], i, j, off.r), last));
    }
  }
}
