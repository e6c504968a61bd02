// Flash-decoding combine: merges the NSPLIT partial (m, l, acc) of each query row in split order,
// so the result is the same on every run. One invocation per (row, output column); column 0 also
// writes the lse.

@group(0) @binding(5) var<storage, read_write> OUT: array<u32>; // f32
@group(0) @binding(6) var<storage, read> PM: array<u32>;
@group(0) @binding(8) var<storage, read> PL: array<u32>;
@group(0) @binding(9) var<storage, read> PACC: array<u32>;
#if HAS_LSE
@group(0) @binding(10) var<storage, read_write> LSE: array<u32>;
#endif

const DV: u32 = {{DV}}u;
const DVA: u32 = {{DVA}}u;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let hq = HQ();
  let sq = SQ();
  let ns = NSPLIT();
  let g = gid.y * prm(10u) * 64u + gid.x;
  let row = g / DVA; // within the chunk: the partials' row
  let x = g % DVA;
  if (row >= prm(27u)) { return; }
  let grow = BH0() * sq + row; // global (b, h, i) row
  var mx = kp_neg_inf();
  for (var s = 0u; s < ns; s = s + 1u) {
    let m = bitcast<f32>(PM[row * ns + s]);
    if (m > mx) { mx = m; }
  }
  var l = 0.0;
  var a = 0.0;
  for (var s = 0u; s < ns; s = s + 1u) {
    let part = row * ns + s;
    let m = bitcast<f32>(PM[part]);
    let w = select(kp_exp(m - mx), 1.0, m == mx);
    l = l + w * bitcast<f32>(PL[part]);
    if (x < DV) { a = a + w * bitcast<f32>(PACC[part * DV + x]); }
  }
  let empty = l == 0.0;
  let i = grow % sq;
  let bh = grow / sq;
  let h = bh % hq;
  let b = bh / hq;
  if (x < DV) {
    let oa = rows(b, h, hq, sq, DV);
    OUT[oa.base + i * oa.stride + x - prm(24u)] = bitcast<u32>(select(a / l, 0.0, empty));
  }
#if HAS_LSE
  if (x == 0u) { LSE[grow - prm(25u)] = bitcast<u32>(select(mx + kp_log(l), kp_neg_inf(), empty)); }
#endif
}
