// Flash attention (FlashAttention-style online softmax in f32; the score matrix is never stored).
//
// One workgroup = (batch b, query head h, block of BQ query rows, key split). Invocation t owns
// query row q0 + t: its q row, running max m, running sum l and Dv accumulators live in registers.
// K/V come in tiles of BK keys through workgroup memory (converted to f32 once), and tiles past the
// last key the block's last row may see (causality, kvLengths) are never loaded. GQA: query head h
// reads kv head h / (Hq / Hkv).
//
// Semantics (those of the reference): keys hidden by causality or kvLengths are never read; a key
// whose score is -Inf contributes nothing (its v row is not touched, even if it holds NaN); a row
// with nothing visible gives 0 and lse -Inf; a NaN score makes the row NaN.
//
// SPLIT (flash-decoding): the workgroup covers only keys [split·SPLIT_SIZE, (split+1)·SPLIT_SIZE) and
// writes its unnormalised (m, l, acc) to partial buffers; attention_combine.wgsl merges the splits in
// a fixed order.
//
// Key chunks: one dispatch sees only keys [prm(28), prm(29)) of its range (relative to the split's
// first key), so the loop work of one invocation stays bounded whatever Skv is (Mesa's llvmpipe
// silently ends any invocation after 65535 loop iterations; GPU watchdogs kill long dispatches).
// The running (m, l, acc) carries from chunk to chunk: loaded unless prm(30) (first chunk), stored
// unnormalised unless prm(31) (last chunk): in the partials (SPLIT), else in OUT and ML (CARRY).
// The chunks start on BK-tile boundaries, so every row sees the same tiles in the same order as in
// one pass: the result is bitwise that of a single dispatch.

#if SPLIT
@group(0) @binding(8) var<storage, read_write> PL: array<u32>; // partial l
#endif

const DA: u32 = {{DA}}u;
const DVA: u32 = {{DVA}}u;

#if STAGE
var<workgroup> Ks: array<f32, {{BK}} * {{DA}}>;
var<workgroup> Vs: array<f32, {{BK}} * {{DVA}}>;
#endif

@compute @workgroup_size({{BQ}}, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let hq = HQ();
  let sq = SQ();
  let nsplit = NSPLIT();
  let wid = wg.y * prm(10u) + wg.x;
  let split = wid % nsplit;
  let rest = wid / nsplit;
  let nqb = prm(9u);
  let qb = rest % nqb;
  let bhl = rest / nqb; // (batch, head) within the chunk
  // The x·y grid rounds the workgroup count up: the extra ones have no (batch, head) to compute (their
  // writes would land, clamped, on the last elements).
  if (bhl >= PAIRS()) { return; }
  let bh = BH0() + bhl;
  let h = bh % hq;
  let b = bh / hq;
  let hk = h / prm(8u);
  let t = lid.x;
  let q0 = qb * BQ;
  let i = q0 + t;
  let in_range = i < sq;
  let len = KVLEN[b];
  let scale = bitcast<f32>(prm(5u));

  let qa = rows(b, h, hq, sq, D);
  let ka = rows(b, hk, HKV(), SKV(), D);
  let va = rows(b, hk, HKV(), SKV(), DV);

  var q: array<f32, {{DA}}>;
  var acc: array<f32, {{DVA}}>;
  var sc: array<f32, {{BK}}>;
  for (var c = 0u; c < D; c = c + 1u) { q[c] = 0.0; }
  if (in_range) {
    for (var c = 0u; c < D; c = c + 1u) { q[c] = load_q(qa.base + i * qa.stride + c); }
  }
  for (var x = 0u; x < DV; x = x + 1u) { acc[x] = 0.0; }
  var m = kp_neg_inf();
  var l = 0.0;
  let myEnd = select(0, visible_end(i, len), in_range);
#if HAS_MASK
  let mOff = b * prm(13u) + h * prm(14u) + i * prm(15u);
  let ms3 = prm(16u);
#endif

  // The block's last row sees the most keys (visibility is monotone in i).
  var kHi = u32(visible_end(min(q0 + BQ, sq) - 1u, len));
  let kSplit = split * prm(11u);
#if SPLIT
  kHi = min(kHi, kSplit + prm(11u));
#endif
  let kLo = kSplit + prm(28u);
  kHi = min(kHi, kSplit + prm(29u));
  let firstChunk = prm(30u) == 1u;
  let lastChunk = prm(31u) == 1u;
#if SPLIT
  let part = (bhl * sq + i) * nsplit + split;
  if (!firstChunk && in_range) {
    m = bitcast<f32>(LSE[part]);
    l = bitcast<f32>(PL[part]);
    for (var x = 0u; x < DV; x = x + 1u) { acc[x] = bitcast<f32>(OUT[part * DV + x]); }
  }
#else
  let oa = rows(b, h, hq, sq, DV);
#endif
#if CARRY
  let crow = bhl * sq + i;
  if (!firstChunk && in_range) {
    m = bitcast<f32>(ML[crow * 2u]);
    l = bitcast<f32>(ML[crow * 2u + 1u]);
    for (var x = 0u; x < DV; x = x + 1u) { acc[x] = bitcast<f32>(OUT[oa.base + i * oa.stride + x - prm(24u)]); }
  }
#endif

  for (var j0 = kLo; j0 < kHi; j0 = j0 + BK) {
    let nk = min(BK, kHi - j0);
#if STAGE
    workgroupBarrier();
    for (var e = t; e < nk * D; e = e + BQ) {
      let jj = e / DA; // DA = D here (the loop is empty when D = 0; DA keeps the divisor nonzero)
      Ks[e] = load_k(ka.base + (j0 + jj) * ka.stride + e % DA);
    }
    for (var e = t; e < nk * DV; e = e + BQ) {
      let jj = e / DVA;
      Vs[e] = load_v(va.base + (j0 + jj) * va.stride + e % DVA);
    }
    workgroupBarrier();
#endif
    let cnt = min(i32(nk), myEnd - i32(j0));
    if (cnt > 0) {
      let n = u32(cnt);
      var mx = m;
      for (var jj = 0u; jj < n; jj = jj + 1u) {
        var dot = 0.0;
        for (var c = 0u; c < D; c = c + 1u) {
#if STAGE
          dot = dot + q[c] * Ks[jj * D + c];
#else
          dot = dot + q[c] * load_k(ka.base + (j0 + jj) * ka.stride + c);
#endif
        }
        var s = dot * scale;
#if HAS_MASK
        s = s + bitcast<f32>(MASK[mOff + (j0 + jj) * ms3 - prm(26u)]);
#endif
        sc[jj] = s;
        if (s > mx) { mx = s; } // a NaN score is never the max; it reaches p, l and the output below
      }
      // m == mx covers -Inf (nothing seen yet: exp(-Inf + Inf) would be NaN) and no change.
      let corr = select(kp_exp(m - mx), 1.0, m == mx);
      if (corr != 1.0) {
        l = l * corr;
        for (var x = 0u; x < DV; x = x + 1u) { acc[x] = acc[x] * corr; }
      }
      for (var jj = 0u; jj < n; jj = jj + 1u) {
        let s = sc[jj];
        if (kp_is_neg_inf(s)) { continue; } // masked with -Inf: contributes nothing, v never read
        let p = kp_exp(s - mx);
        l = l + p;
        for (var x = 0u; x < DV; x = x + 1u) {
#if STAGE
          acc[x] = acc[x] + p * Vs[jj * DV + x];
#else
          acc[x] = acc[x] + p * load_v(va.base + (j0 + jj) * va.stride + x);
#endif
        }
      }
      m = mx;
    }
  }

  if (!in_range) { return; }
#if SPLIT
  LSE[part] = bitcast<u32>(m);
  PL[part] = bitcast<u32>(l);
  for (var x = 0u; x < DV; x = x + 1u) { OUT[part * DV + x] = bitcast<u32>(acc[x]); }
#else
#if CARRY
  if (!lastChunk) {
    ML[crow * 2u] = bitcast<u32>(m);
    ML[crow * 2u + 1u] = bitcast<u32>(l);
    for (var x = 0u; x < DV; x = x + 1u) { OUT[oa.base + i * oa.stride + x - prm(24u)] = bitcast<u32>(acc[x]); }
    return;
  }
#endif
  // l == 0: nothing visible, or every visible score was -Inf. A NaN l (NaN score) propagates.
  let empty = l == 0.0;
  for (var x = 0u; x < DV; x = x + 1u) {
    OUT[oa.base + i * oa.stride + x - prm(24u)] = bitcast<u32>(select(acc[x] / l, 0.0, empty));
  }
#if HAS_LSE
  LSE[bh * sq + i - prm(25u)] = bitcast<u32>(select(m + kp_log(l), kp_neg_inf(), empty));
#endif
#endif
}
