// kernelport side of `npm run gpu:check`: the issues' shapes on one GPU backend, timed through the
// public API (enqueue N ops, then sync). Prints JSON: { device, suite, cases: { name: { ms, flops, bytes } } }.
// The cuda and musa suites hold #7's shapes, the webgpu suite #6's; bench/peers/torch_bench.py times the
// same names with PyTorch. Usage: node bench/peers/kp_gpu_bench.mjs [--backend cuda|musa|webgpu] [--quick] [--small]
import { open } from '../../dist/index.js';

const quick = process.argv.includes('--quick');
// --small: the webgpu shapes divided by 8, a smoke test for machines without a GPU (case names unchanged)
const small = process.argv.includes('--small') ? 8 : 1;
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

async function time(run, iters) {
  for (let i = 0; i < 3; i++) run().forEach((t) => t.dispose?.());
  await dev.sync();
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

/** #7: tensor-core GEMMs, fused epilogue, causal prefill B4 and decode, all bf16 (and f32 with and without TF32). */
async function cudaCases() {
  for (const dtype of ['bf16', 'f16']) {
    const n = 4096;
    const a = dev.tensor(bits16(n * n, dtype), [n, n], dtype);
    const b = dev.tensor(bits16(n * n, dtype), [n, n], dtype);
    const ms = await time(() => [dev.matmul(a, b)], quick ? 5 : 20);
    cases[`gemm_${dtype}_4096`] = { ms, flops: 2 * n ** 3 };
    a.dispose();
    b.dispose();
  }
  {
    // f32 4096^3: the SIMT GEMM (full f32) and the TF32 tensor-core GEMM (allowTf32)
    const n = 4096;
    const x = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i * 0.37));
    const a = dev.tensor(x, [n, n]);
    const b = dev.tensor(x, [n, n]);
    cases.gemm_f32_4096 = { ms: await time(() => [dev.matmul(a, b)], quick ? 2 : 5), flops: 2 * n ** 3 };
    cases.gemm_tf32_4096 = { ms: await time(() => [dev.matmul(a, b, { allowTf32: true })], quick ? 5 : 20), flops: 2 * n ** 3 };
    a.dispose();
    b.dispose();
  }
  {
    const [m, k, n] = [512, 4096, 4096];
    const a = dev.tensor(bits16(m * k, 'bf16'), [m, k], 'bf16');
    const w = dev.tensor(bits16(k * n, 'bf16'), [k, n], 'bf16');
    const bias = dev.tensor(bits16(n, 'bf16'), [n], 'bf16');
    const ms = await time(() => [dev.matmul(a, w, { bias, activation: 'gelu' })], quick ? 5 : 50);
    cases.gemm_bias_gelu_bf16_512x4096x4096 = { ms, flops: 2 * m * k * n };
    for (const t of [a, w, bias]) t.dispose();
  }
  {
    const [B, H, S, D] = [4, 32, 2048, 128];
    const q = dev.tensor(bits16(B * H * S * D, 'bf16'), [B, H, S, D], 'bf16');
    const k = dev.tensor(bits16(B * H * S * D, 'bf16'), [B, H, S, D], 'bf16');
    const v = dev.tensor(bits16(B * H * S * D, 'bf16'), [B, H, S, D], 'bf16');
    const ms = await time(() => [dev.attention(q, k, v, { causal: true })], quick ? 2 : 5);
    cases.attention_causal_bf16_b4h32s2048d128 = { ms, flops: (4 * B * H * S * S * D) / 2 };
    for (const t of [q, k, v]) t.dispose();
  }
  {
    const [B, H, S, D] = [4, 32, 4096, 128];
    const q = dev.tensor(bits16(B * H * D, 'bf16'), [B, H, 1, D], 'bf16');
    const k = dev.tensor(bits16(B * H * S * D, 'bf16'), [B, H, S, D], 'bf16');
    const v = dev.tensor(bits16(B * H * S * D, 'bf16'), [B, H, S, D], 'bf16');
    const ms = await time(() => [dev.attention(q, k, v, { causal: true })], quick ? 5 : 50);
    cases.decode_bf16_b4h32skv4096d128 = { ms, flops: 4 * B * H * S * D, bytes: 2 * B * H * S * D * 2 };
    for (const t of [q, k, v]) t.dispose();
  }
}

/** #6: f32 and f16 GEMM 4096^3 and causal attention B1 H32 S2048 D128, f16 and f32. */
async function webgpuCases() {
  const n = 4096 / small;
  const x = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i * 0.37));
  for (const dtype of ['f32', 'f16']) {
    const a = dtype === 'f32' ? dev.tensor(x, [n, n]) : dev.tensor(bits16(n * n, dtype), [n, n], dtype);
    const b = dtype === 'f32' ? dev.tensor(x, [n, n]) : dev.tensor(bits16(n * n, dtype), [n, n], dtype);
    cases[`gemm_${dtype}_4096`] = { ms: await time(() => [dev.matmul(a, b)], quick ? 2 : 5), flops: 2 * n ** 3 };
    a.dispose();
    b.dispose();
  }
  const [B, H, S, D] = [1, 32 / small, 2048 / small, 128];
  for (const dtype of ['f16', 'f32']) {
    const make = (seed) =>
      dtype === 'f32'
        ? dev.tensor(Float32Array.from({ length: B * H * S * D }, (_, i) => Math.sin(i * 0.37 + seed)), [B, H, S, D])
        : dev.tensor(bits16(B * H * S * D, dtype), [B, H, S, D], dtype);
    const [q, k, v] = [make(0), make(1), make(2)];
    const ms = await time(() => [dev.attention(q, k, v, { causal: true })], quick ? 2 : 5);
    cases[`attention_causal_${dtype}_b1h32s2048d128`] = { ms, flops: (4 * B * H * S * S * D) / 2 };
    for (const t of [q, k, v]) t.dispose();
  }
}

if (backend.startsWith('webgpu')) await webgpuCases();
else await cudaCases();
process.stdout.write(JSON.stringify({ device: dev.info, suite: backend.startsWith('webgpu') ? 'webgpu' : 'cuda', cases }, null, 1) + '\n');
dev.dispose();
