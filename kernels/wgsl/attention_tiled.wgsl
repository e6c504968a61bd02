// Flash attention prefill for hardware adapters (src/backends/webgpu/configs.ts): the semantics,
// parameters, bindings and key chunks of attention.wgsl (read its header), with the work of a block
// of BQ query rows spread over BQ x NT invocations.
//
// The block's Q rows are staged once, and each tile of BK keys of K and V once, in workgroup memory as
// f32 (rows padded to vec4, zero past D), shared by every row of the block. Per tile:
// - scores: invocation (row r, sub s) computes the dot products of row r with keys s, s + NT, ...
//   (each over c = 0..D-1 in order, as attention.wgsl) and writes them to Ss;
// - softmax and p·V: every invocation of row r reads the row's BK scores, keeps the row's running
//   (m, l) (the NT copies are identical: the same operations in the same order) and accumulates its
//   own vec4 columns s, s + NT, ... of the output, keys in order.
// So every output element is the same sequence of operations as in attention.wgsl up to the dot
// products' zero padding, and key chunks (CARRY) start on tile boundaries: the result is bitwise the
// same with or without them.

const D4: u32 = {{D4}}u; // vec4 per row of Q and K (at least 1)
const DV4: u32 = {{DV4}}u;
const NT: u32 = {{NT}}u;
const THREADS: u32 = BQ * NT;
const SQK: u32 = D4 + 1u; // vec4 per staged Q/K row (one of padding: no bank conflicts across rows)
const KPT: u32 = BK / NT; // keys per invocation in the score step (BK % NT == 0)
const VPT: u32 = (DV4 + NT - 1u) / NT; // output vec4 per invocation
const SS: u32 = BK + 1u;

var<workgroup> Qs: array<vec4<f32>, BQ * SQK>;
var<workgroup> Ks: array<vec4<f32>, BK * SQK>;
var<workgroup> Vs: array<vec4<f32>, BK * DV4>;
var<workgroup> Ss: array<f32, BQ * SS>;

@compute @workgroup_size(THREADS, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let hq = HQ();
  let sq = SQ();
  let wid = wg.y * prm(10u) + wg.x;
  let nqb = prm(9u);
  let qb = wid % nqb;
  let bhl = wid / nqb; // (batch, head) within the chunk
  if (bhl >= PAIRS()) { return; } // past the chunk: the x·y grid rounds the workgroup count up
  let bh = BH0() + bhl;
  let h = bh % hq;
  let b = bh / hq;
  let hk = h / prm(8u);
  let t = lid.x;
  let r = t / NT;
  let sub = t % NT;
  let q0 = qb * BQ;
  let i = q0 + r;
  let in_range = i < sq;
  let len = KVLEN[b];
  let scale = bitcast<f32>(prm(5u));

  let qa = rows(b, h, hq, sq, D);
  let ka = rows(b, hk, HKV(), SKV(), D);
  let va = rows(b, hk, HKV(), SKV(), DV);
  let oa = rows(b, h, hq, sq, DV);

  // The block's Q rows, zero past Sq and past D.
  for (var e = t; e < BQ * D4 * 4u; e = e + THREADS) {
    let rr = e / (D4 * 4u);
    let c = e % (D4 * 4u);
    var v = 0.0;
    if (q0 + rr < sq && c < D) { v = load_q(qa.base + (q0 + rr) * qa.stride + c); }
    Qs[rr * SQK + c / 4u][c % 4u] = v;
  }

  var acc: array<vec4<f32>, VPT>;
  for (var u = 0u; u < VPT; u = u + 1u) { acc[u] = vec4<f32>(0.0); }
  var m = kp_neg_inf();
  var l = 0.0;
  let myEnd = select(0, visible_end(i, len), in_range);
#if HAS_MASK
  let mOff = b * prm(13u) + h * prm(14u) + i * prm(15u);
  let ms3 = prm(16u);
#endif

  // The block's last row sees the most keys (visibility is monotone in i).
  var kHi = u32(visible_end(min(q0 + BQ, sq) - 1u, len));
  let kLo = prm(28u);
  kHi = min(kHi, prm(29u));
  let firstChunk = prm(30u) == 1u;
  let lastChunk = prm(31u) == 1u;
#if CARRY
  let crow = bhl * sq + i;
  if (!firstChunk && in_range) {
    m = bitcast<f32>(ML[crow * 2u]);
    l = bitcast<f32>(ML[crow * 2u + 1u]);
    for (var u = 0u; u < VPT; u = u + 1u) {
      for (var c = 0u; c < 4u; c = c + 1u) {
        let x = (sub + NT * u) * 4u + c;
        if (x < DV) { acc[u][c] = bitcast<f32>(OUT[oa.base + i * oa.stride + x - prm(24u)]); }
      }
    }
  }
#endif

  for (var j0 = kLo; j0 < kHi; j0 = j0 + BK) {
    let nk = min(BK, kHi - j0);
    workgroupBarrier(); // Q staged; the previous tile's readers done
    for (var e = t; e < nk * D4 * 4u; e = e + THREADS) {
      let jj = e / (D4 * 4u);
      let c = e % (D4 * 4u);
      var v = 0.0;
      if (c < D) { v = load_k(ka.base + (j0 + jj) * ka.stride + c); }
      Ks[jj * SQK + c / 4u][c % 4u] = v;
    }
    for (var e = t; e < nk * DV4 * 4u; e = e + THREADS) {
      let jj = e / (DV4 * 4u);
      let x = e % (DV4 * 4u);
      var v = 0.0;
      if (x < DV) { v = load_v(va.base + (j0 + jj) * va.stride + x); }
      Vs[jj * DV4 + x / 4u][x % 4u] = v;
    }
    workgroupBarrier();

    // Scores of row r with keys sub, sub + NT, ... (keys past nk are computed from stale rows and never read).
    let cnt = min(i32(nk), myEnd - i32(j0));
    var dots: array<f32, KPT>;
    for (var u = 0u; u < KPT; u = u + 1u) { dots[u] = 0.0; }
    for (var c4 = 0u; c4 < D4; c4 = c4 + 1u) {
      let qv = Qs[r * SQK + c4];
      for (var u = 0u; u < KPT; u = u + 1u) {
        let kv = Ks[(sub + NT * u) * SQK + c4];
        var d = dots[u];
        d = d + qv.x * kv.x;
        d = d + qv.y * kv.y;
        d = d + qv.z * kv.z;
        d = d + qv.w * kv.w;
        dots[u] = d;
      }
    }
    for (var u = 0u; u < KPT; u = u + 1u) {
      let jj = sub + NT * u;
      var s = dots[u] * scale;
#if HAS_MASK
      if (i32(jj) < cnt) { s = s + bitcast<f32>(MASK[mOff + (j0 + jj) * ms3 - prm(26u)]); }
#endif
      Ss[r * SS + jj] = s;
    }
    workgroupBarrier();

    if (cnt > 0) {
      let n = u32(cnt);
      var mx = m;
      for (var jj = 0u; jj < n; jj = jj + 1u) {
        let s = Ss[r * SS + jj];
        if (s > mx) { mx = s; } // a NaN score is never the max; it reaches p, l and the output below
      }
      // m == mx covers -Inf (nothing seen yet: exp(-Inf + Inf) would be NaN) and no change.
      let corr = select(kp_exp(m - mx), 1.0, m == mx);
      if (corr != 1.0) {
        l = l * corr;
        for (var u = 0u; u < VPT; u = u + 1u) { acc[u] = acc[u] * corr; }
      }
      for (var jj = 0u; jj < n; jj = jj + 1u) {
        let s = Ss[r * SS + jj];
        if (kp_is_neg_inf(s)) { continue; } // masked with -Inf: contributes nothing, v never read
        let p = kp_exp(s - mx);
        l = l + p;
        for (var u = 0u; u < VPT; u = u + 1u) {
          let x4 = sub + NT * u;
          if (x4 < DV4) { acc[u] = acc[u] + p * Vs[jj * DV4 + x4]; }
        }
      }
      m = mx;
    }
  }

  if (!in_range) { return; }
#if CARRY
  if (!lastChunk) {
    if (sub == 0u) {
      ML[crow * 2u] = bitcast<u32>(m);
      ML[crow * 2u + 1u] = bitcast<u32>(l);
    }
    for (var u = 0u; u < VPT; u = u + 1u) {
      for (var c = 0u; c < 4u; c = c + 1u) {
        let x = (sub + NT * u) * 4u + c;
        if (x < DV) { OUT[oa.base + i * oa.stride + x - prm(24u)] = bitcast<u32>(acc[u][c]); }
      }
    }
    return;
  }
#endif
  // l == 0: nothing visible, or every visible score was -Inf. A NaN l (NaN score) propagates.
  let empty = l == 0.0;
  for (var u = 0u; u < VPT; u = u + 1u) {
    for (var c = 0u; c < 4u; c = c + 1u) {
      let x = (sub + NT * u) * 4u + c;
      if (x < DV) { OUT[oa.base + i * oa.stride + x - prm(24u)] = bitcast<u32>(select(acc[u][c] / l, 0.0, empty)); }
    }
  }
#if HAS_LSE
  if (sub == 0u) { LSE[bh * sq + i - prm(25u)] = bitcast<u32>(select(m + kp_log(l), kp_neg_inf(), empty)); }
#endif
}
