// Ad-hoc: the fused-GEMM case under one env config, timed 3 ways (enqueue 50 then sync; one op then sync).
import { open } from '../dist/index.js';
const dev = await open('cuda');
const once = process.argv.includes('--once');
const F = new Float32Array(1), U = new Uint32Array(F.buffer);
function bf16(n) { const o = new Uint16Array(n); let s = 1; for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; F[0] = (s / 4294967296) * 2 - 1; o[i] = U[0] >>> 16; } return o; }
const t = (shape) => dev.tensor(bf16(shape.reduce((a, b) => a * b)), shape, 'bf16');
async function time(run, iters, perOpSync) {
  for (let i = 0; i < 3; i++) run().dispose();
  await dev.sync();
  const samples = [];
  for (let r = 0; r < 7; r++) {
    const outs = []; const t0 = performance.now();
    for (let i = 0; i < iters; i++) { outs.push(run()); if (perOpSync) await dev.sync(); }
    await dev.sync(); samples.push((performance.now() - t0) / iters); outs.forEach((o) => o.dispose());
  }
  return samples.sort((a, b) => a - b)[3];
}
const cfg = process.env.CFG ?? 'auto';
for (const m of [512, 1024]) {
  const [k, n] = [4096, 4096];
  const a = t([m, k]), w = t([k, n]), bias = t([n]);
  const v = dev.explain('matmul', { m, n, k, dtype: 'bf16' }).variant;
  if (once) { for (let i = 0; i < 5; i++) dev.matmul(a, w, { bias, activation: 'gelu' }).dispose(); await dev.sync(); process.exit(0); }
  const fused = await time(() => dev.matmul(a, w, { bias, activation: 'gelu' }), 50, false);
  const plain = await time(() => dev.matmul(a, w), 50, false);
  const lat = await time(() => dev.matmul(a, w, { bias, activation: 'gelu' }), 20, true);
  const tf = (ms) => ((2 * m * n * k) / ms / 1e9).toFixed(0);
  console.log(`${cfg.padEnd(40)} m=${m} ${v.padEnd(34)} fused ${fused.toFixed(4)} ms (${tf(fused)} TF/s)  plain ${plain.toFixed(4)} (${tf(plain)})  fused+sync each ${lat.toFixed(4)}`);
  [a, w, bias].forEach((x) => x.dispose());
}
