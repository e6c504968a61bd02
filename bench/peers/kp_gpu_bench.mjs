// kernelport side of `npm run gpu:check`: the issues' shapes on one GPU backend, timed through the
// public API (enqueue N ops, then sync). Prints JSON: { device, suite, cases: { name: { ms, flops, bytes } } }.
// The cuda and musa suites hold #7's shapes, the webgpu suite #6's; bench/peers/torch_bench.py times the
// same names with PyTorch. Usage: node bench/peers/kp_gpu_bench.mjs [--backend cuda|musa|webgpu] [--quick] [--small] [--only case,case]
import { open } from '../../dist/index.js';

const quick = process.argv.includes('--quick');
// --small: the webgpu shapes divided by 8, a smoke test for machines without a GPU (case names unchanged)
const small = process.argv.includes('--small') ? 8 : 1;
// --only a,b: just these cases (A/B runs of forced kernel paths)
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt > 0 ? new Set(process.argv[onlyAt + 1].split(',')) : undefined;
const want = (name) => !only || only.has(name);
const at = process.argv.indexOf('--backend');
const backend = at > 0 ? process.argv[at + 1] : 'cuda';
const dev = await open(backend);

function bits16(n, dtype, scale = 1) {
  const out = new Uint16Array(n);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    f[0] = ((s / 4294967296) * 2 - 1) * scale;
    if (dtype === 'bf16') out[i] = (u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16;
    else {
      // f16 from small values in [-scale, scale]: plain conversion is fine for benchmark data
      const x = f[0];
      const sign = x < 0 ? 0x8000 : 0;
      const a = Math.abs(x);
      if (a < 6.1e-5) out[i] = sign;
      else {
        const e = Math.floor(Math.log2(a));
        const m = Math.round((a / 2 ** e - 1) * 1024);
        out[i] = sign | ((e + 15) << 10) | (m & 0x3ff);
      }
    }
  }
  return out;
}

// Warm-up: at least WARM_MS of back-to-back runs, not a fixed count. A GPU idle before (a fresh process,
// an A/B run of one case) runs its first milliseconds slowly: on the H100 a 50 us GEMM measured 1.5-2.5x
// its kernel time after 3 warm-up runs, in some processes and not others.
const WARM_MS = 200;
async function time(run, iters) {
  const warm0 = performance.now();
  do {
    const outs = [];
    for (let i = 0; i < Math.max(1, iters >> 2); i++) outs.push(...run());
    await dev.sync();
    outs.forEach((t) => t.dispose?.());
  } while (performance.now() - warm0 < WARM_MS);
  const samples = [];
  for (let r = 0; r < (quick ? 3 : 7); r++) {
    const outs = [];
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) outs.push(...run());
    await dev.sync();
    samples.push((performance.now() - t0) / iters);
    for (const t of outs) t.dispose();
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

const cases = {};
const u16 = (dtype, shape, scale) => dev.tensor(bits16(shape.reduce((x, y) => x * y), dtype, scale), shape, dtype);
const f32 = (shape, seed = 0) => dev.tensor(Float32Array.from({ length: shape.reduce((x, y) => x * y) }, (_, i) => Math.sin(i * 0.37 + seed)), shape);

/**
 * Times `op` over inputs made by `make` (disposed after) as case `name`, unless --only leaves it out;
 * `desc` (explain()'s sizes) names the kernel variant that ran, for the report.
 */
async function bench(name, make, op, iters, work, desc) {
  if (!want(name)) return;
  const inputs = make();
  const variant = desc ? dev.explain(desc.op, desc).variant : undefined;
  cases[name] = { ms: await time(() => [op(...inputs)], quick ? Math.max(1, iters >> 2) : iters), ...work, ...(variant ? { variant } : {}) };
  for (const t of inputs) t.dispose();
}

/** #7: tensor-core GEMMs, fused epilogue, causal prefill B4 and decode, all bf16 (and f32 with and without TF32). */
async function cudaCases() {
  const n = 4096;
  for (const dtype of ['bf16', 'f16'])
    await bench(`gemm_${dtype}_4096`, () => [u16(dtype, [n, n]), u16(dtype, [n, n])], (a, b) => dev.matmul(a, b), 20, { flops: 2 * n ** 3 },
      { op: 'matmul', m: n, n, k: n, dtype });
  await bench('gemm_f32_4096', () => [f32([n, n]), f32([n, n], 1)], (a, b) => dev.matmul(a, b), 5, { flops: 2 * n ** 3 }, { op: 'matmul', m: n, n, k: n });
  await bench('gemm_tf32_4096', () => [f32([n, n]), f32([n, n], 1)], (a, b) => dev.matmul(a, b, { allowTf32: true }), 20, { flops: 2 * n ** 3 },
    { op: 'matmul', m: n, n, k: n, allowTf32: true });
  const [m, k] = [512, 4096];
  await bench('gemm_bias_gelu_bf16_512x4096x4096', () => [u16('bf16', [m, k]), u16('bf16', [k, n]), u16('bf16', [n])],
    (a, w, bias) => dev.matmul(a, w, { bias, activation: 'gelu' }), 50, { flops: 2 * m * k * n }, { op: 'matmul', m, n, k, dtype: 'bf16' });
  // The same GEMM without bias and GELU: beside the fused row, the epilogue's share of it.
  await bench('gemm_bf16_512x4096x4096', () => [u16('bf16', [m, k]), u16('bf16', [k, n])], (a, w) => dev.matmul(a, w), 50,
    { flops: 2 * m * k * n }, { op: 'matmul', m, n, k, dtype: 'bf16' });
  // Decoding's GEMV: one token through a 4096x4096 nn.Linear weight ([N,K]: transB), bandwidth-bound.
  await bench('gemv_bf16_1x4096x4096', () => [u16('bf16', [1, k]), u16('bf16', [n, k])], (x, w) => dev.matmul(x, w, { transB: true }), 50,
    { flops: 2 * k * n, bytes: 2 * k * n }, { op: 'matmul', m: 1, n, k, dtype: 'bf16', transB: true });
  {
    const [B, H, S, D] = [4, 32, 2048, 128];
    for (const allowP16 of [false, true])
      await bench(`attention_causal_bf16_b4h32s2048d128${allowP16 ? '_p16' : ''}`, () => [0, 1, 2].map(() => u16('bf16', [B, H, S, D])),
        (q, kk, v) => dev.attention(q, kk, v, { causal: true, allowP16 }), 5, { flops: (4 * B * H * S * S * D) / 2 },
        { op: 'attention', batch: B, hq: H, sq: S, skv: S, d: D, causal: true, dtype: 'bf16', allowP16 });
  }
  {
    // DeepSeek-V3's MLA prefill: 128 heads, 192 dimensions for Q K^T (128 + 64 rotary), 128 for V.
    const [B, H, S, D, DV] = [1, 128, 2048, 192, 128];
    await bench('attention_mla_causal_bf16_b1h128s2048d192v128_p16', () => [u16('bf16', [B, H, S, D]), u16('bf16', [B, H, S, D]), u16('bf16', [B, H, S, DV])],
      (q, kk, v) => dev.attention(q, kk, v, { causal: true, allowP16: true }), 5, { flops: (2 * B * H * S * S * (D + DV)) / 2 },
      { op: 'attention', batch: B, hq: H, sq: S, skv: S, d: D, dv: DV, causal: true, dtype: 'bf16', allowP16: true });
  }
  {
    // Padded batches (an encoder's, or right-padded prompts): keys from 2048 - 512 b on hidden by an
    // additive [B,1,1,S] mask, not causal: cuda's masked tensor-core kernels (explain: mask: true).
    const [B, H, S, D] = [4, 32, 2048, 128];
    const pad = Float32Array.from({ length: B * S }, (_, i) => (i % S < S - 512 * Math.floor(i / S) ? 0 : -Infinity));
    for (const allowP16 of [false, true])
      await bench(`attention_padmask_bf16_b4h32s2048d128${allowP16 ? '_p16' : ''}`, () => [...[0, 1, 2].map(() => u16('bf16', [B, H, S, D])), dev.tensor(pad, [B, 1, 1, S])],
        (q, kk, v, mask) => dev.attention(q, kk, v, { mask, allowP16 }), 5, { flops: 4 * B * H * S * S * D },
        { op: 'attention', batch: B, hq: H, sq: S, skv: S, d: D, dtype: 'bf16', allowP16, mask: true });
  }
  {
    const [B, H, S, D] = [4, 32, 4096, 128];
    await bench('decode_bf16_b4h32skv4096d128', () => [u16('bf16', [B, H, 1, D]), u16('bf16', [B, H, S, D]), u16('bf16', [B, H, S, D])],
      (q, kk, v) => dev.attention(q, kk, v, { causal: true }), 50, { flops: 4 * B * H * S * D, bytes: 2 * B * H * S * D * 2 },
      { op: 'attention', batch: B, hq: H, sq: 1, skv: S, d: D, causal: true, dtype: 'bf16' });
  }
}

/** #6: f32 and f16 GEMM 4096^3 and causal attention B1 H32 S2048 D128, f16 and f32. */
async function webgpuCases() {
  const n = 4096 / small;
  for (const dtype of ['f32', 'f16'])
    await bench(`gemm_${dtype}_4096`, () => (dtype === 'f32' ? [f32([n, n]), f32([n, n], 1)] : [u16('f16', [n, n]), u16('f16', [n, n])]),
      (a, b) => dev.matmul(a, b), 5, { flops: 2 * n ** 3 }, { op: 'matmul', m: n, n, k: n, dtype });
  const [B, H, S, D] = [1, 32 / small, 2048 / small, 128];
  const work = { flops: (4 * B * H * S * S * D) / 2 };
  for (const dtype of ['f16', 'f32'])
    await bench(`attention_causal_${dtype}_b1h32s2048d128`, () => [0, 1, 2].map((i) => (dtype === 'f32' ? f32([B, H, S, D], i) : u16('f16', [B, H, S, D]))),
      (q, k, v) => dev.attention(q, k, v, { causal: true }), 5, work, { op: 'attention', batch: B, hq: H, sq: S, skv: S, d: D, causal: true, dtype });
}

if (backend.startsWith('webgpu')) await webgpuCases();
else await cudaCases();
process.stdout.write(JSON.stringify({ device: dev.info, suite: backend.startsWith('webgpu') ? 'webgpu' : 'cuda', cases }, null, 1) + '\n');
dev.dispose();
