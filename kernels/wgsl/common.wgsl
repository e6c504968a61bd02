// Shared WGSL helpers, prepended to every kernelport compute shader by the specialiser
// (src/backends/webgpu/specialise.ts). Every tensor is bound as array<u32>: f32 elements are
// bitcast, f16/bf16 elements are packed two to a word (element e lives in word e >> 1, low half
// first), so 16-bit storage works without the shader-f16 feature. Conversions are integer code:
// exact, round to nearest even, NaN kept NaN, no reliance on the FPU's subnormal handling.

const KP_NEG_INF_BITS: u32 = 0xff800000u;
const KP_POS_INF_BITS: u32 = 0x7f800000u;

// Not a const: WGSL constant evaluation rejects non-finite values, a runtime load does not.
var<private> kp_neg_inf_bits: u32 = KP_NEG_INF_BITS;
fn kp_neg_inf() -> f32 { return bitcast<f32>(kp_neg_inf_bits); }

fn kp_is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > KP_POS_INF_BITS; }
fn kp_is_neg_inf(x: f32) -> bool { return bitcast<u32>(x) == KP_NEG_INF_BITS; }
fn kp_is_pos_inf(x: f32) -> bool { return bitcast<u32>(x) == KP_POS_INF_BITS; }

// exp and log with IEEE results at NaN, ±Inf and 0. WGSL leaves the builtins' results there
// indeterminate, and implementations differ: SwiftShader (Chromium's software adapter) returns +Inf
// for log(NaN). Softmax and log-sum-exp go through these so a NaN score gives a NaN row everywhere.
fn kp_exp(x: f32) -> f32 {
  if (kp_is_nan(x) || kp_is_pos_inf(x)) { return x; }
  if (kp_is_neg_inf(x)) { return 0.0; }
  return exp(x);
}
fn kp_log(x: f32) -> f32 {
  if (kp_is_nan(x) || kp_is_pos_inf(x)) { return x; }
  if (x == 0.0) { return kp_neg_inf(); }
  return log(x);
}

fn kp_f16_to_f32(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let man = h & 0x3ffu;
  if (e == 0x1fu) { // Inf, or NaN made quiet
    return bitcast<f32>(sign | 0x7f800000u | (man << 13u) | select(0u, 0x00400000u, man != 0u));
  }
  if (e == 0u) { // zero or subnormal: man · 2^-24 is exact (a normal f32 unless zero)
    return bitcast<f32>(sign | bitcast<u32>(f32(man) * 5.9604644775390625e-8));
  }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (man << 13u));
}

fn kp_bf16_to_f32(h: u32) -> f32 {
  var u = h << 16u;
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0u) { u = u | 0x00400000u; }
  return bitcast<f32>(u);
}

fn kp_f32_to_f16(f: f32) -> u32 {
  let x = bitcast<u32>(f);
  let sign = (x >> 16u) & 0x8000u;
  let ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) { return sign | 0x7e00u | ((ax >> 13u) & 0x3ffu); }
  if (ax >= 0x477ff000u) { return sign | 0x7c00u; } // >= 65520 rounds to Inf
  if (ax < 0x38800000u) { // below the smallest normal half
    let e = ax >> 23u;
    if (e < 102u) { return sign; } // below 2^-25 (a tie at 2^-25 rounds to the even zero)
    let mant = (ax & 0x7fffffu) | 0x800000u;
    let shift = 126u - e; // 14..24
    var h = mant >> shift;
    let rest = mant & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (h & 1u) != 0u)) { h = h + 1u; }
    return sign | h;
  }
  let rounded = ax + 0xfffu + ((ax >> 13u) & 1u) - (112u << 23u);
  return sign | (rounded >> 13u);
}

fn kp_f32_to_bf16(f: f32) -> u32 {
  let x = bitcast<u32>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) { return ((x >> 16u) | 0x40u) & 0xffffu; }
  return ((x + 0x7fffu + ((x >> 16u) & 1u)) >> 16u) & 0xffffu;
}

// Element e of a buffer of dtype code dt (0 f32, 1 f16, 2 bf16). dt is a specialisation constant,
// so the switch folds away.
fn kp_decode(word: u32, e: u32, dt: u32) -> f32 {
  if (dt == 0u) { return bitcast<f32>(word); }
  let h = (word >> ((e & 1u) * 16u)) & 0xffffu;
  if (dt == 1u) { return kp_f16_to_f32(h); }
  return kp_bf16_to_f32(h);
}

fn kp_word(e: u32, dt: u32) -> u32 { return select(e >> 1u, e, dt == 0u); }

// ---- activations (f32), with their limits at -Inf and NaN kept, as the reference has them ----

// erfc(y) for y >= 0, after W. J. Cody's rational approximations (the coefficients of
// src/reference/erf.ts), evaluated in f32; exp(-y^2) split so that y^2 is exact.
fn kp_erfc_pos(y: f32) -> f32 {
  if (y <= 0.46875) {
    let z = y * y;
    var num = 0.185777706184603153 * z;
    var den = z;
    num = (num + 3.1611237438705656) * z; den = (den + 23.6012909523441209) * z;
    num = (num + 113.864154151050156) * z; den = (den + 244.024637934444173) * z;
    num = (num + 377.485237685302021) * z; den = (den + 1282.61652607737228) * z;
    return 1.0 - y * (num + 3209.37758913846947) / (den + 2844.23683343917062);
  }
  if (y >= 10.5) { return 0.0; } // erfc underflows f32 beyond ~10.05
  var r: f32;
  if (y <= 4.0) {
    var num = 2.15311535474403846e-8 * y;
    var den = y;
    num = (num + 0.564188496988670089) * y; den = (den + 15.7449261107098347) * y;
    num = (num + 8.88314979438837594) * y; den = (den + 117.693950891312499) * y;
    num = (num + 66.1191906371416295) * y; den = (den + 537.181101862009858) * y;
    num = (num + 298.635138197400131) * y; den = (den + 1621.38957456669019) * y;
    num = (num + 881.95222124176909) * y; den = (den + 3290.79923573345963) * y;
    num = (num + 1712.04761263407058) * y; den = (den + 4362.61909014324716) * y;
    num = (num + 2051.07837782607147) * y; den = (den + 3439.36767414372164) * y;
    r = (num + 1230.33935479799725) / (den + 1230.33935480374942);
  } else {
    let z = 1.0 / (y * y);
    var num = 0.0163153871373020978 * z;
    var den = z;
    num = (num + 0.305326634961232344) * z; den = (den + 2.56852019228982242) * z;
    num = (num + 0.360344899949804439) * z; den = (den + 1.87295284992346047) * z;
    num = (num + 0.125781726111229246) * z; den = (den + 0.527905102951428412) * z;
    num = (num + 0.0160837851487422766) * z; den = (den + 0.0605183413124413191) * z;
    r = (0.56418958354775628695 - z * (num + 6.58749161529837803e-4) / (den + 0.00233520497626869185)) / y;
  }
  let yh = trunc(y * 16.0) / 16.0;
  return exp(-yh * yh) * exp(-(y - yh) * (y + yh)) * r;
}

fn kp_erfc(x: f32) -> f32 {
  if (kp_is_nan(x)) { return x; }
  let r = kp_erfc_pos(abs(x));
  return select(r, 2.0 - r, x < 0.0);
}

// NaN stays NaN. The explicit test matters: GL drivers turn `x < 0 ? 0 : x` into max(x, 0), which drops NaN.
fn kp_relu(x: f32) -> f32 {
  if (kp_is_nan(x)) { return x; }
  return select(x, 0.0, x < 0.0);
}

fn kp_gelu(x: f32) -> f32 {
  if (kp_is_neg_inf(x)) { return 0.0; }
  return 0.5 * x * kp_erfc(-x * 0.70710678118654752440);
}

fn kp_gelu_tanh(x: f32) -> f32 {
  if (kp_is_neg_inf(x)) { return 0.0; }
  let y = 0.79788456080286535588 * (x + 0.044715 * x * x * x);
  return x / (1.0 + exp(-2.0 * y));
}

fn kp_silu(x: f32) -> f32 {
  if (kp_is_neg_inf(x)) { return 0.0; }
  return x / (1.0 + exp(-x));
}

fn kp_activation(x: f32, act: u32) -> f32 {
  switch act {
    case 1u: { return kp_relu(x); }
    case 2u: { return kp_gelu(x); }
    case 3u: { return kp_gelu_tanh(x); }
    case 4u: { return kp_silu(x); }
    default: { return x; }
  }
}
