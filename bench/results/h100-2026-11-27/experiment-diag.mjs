// Where does a short op's time go through the public API: enqueue (JS thread), total per op (50 and 500
// in flight), and one op at a time. Fused 512x4096x4096 bf16 (kernel ~50 us) and a tiny 64^3 matmul.
import { open } from '../dist/index.js';
const dev = await open('cuda');
const F = new Float32Array(1), U = new Uint32Array(F.buffer);
function bf16(n) { const o = new Uint16Array(n); let s = 1; for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; F[0] = (s / 4294967296) * 2 - 1; o[i] = U[0] >>> 16; } return o; }
const t = (shape) => dev.tensor(bf16(shape.reduce((a, b) => a * b)), shape, 'bf16');
async function measure(label, op, n, reps = 5) {
  const w0 = performance.now();
  while (performance.now() - w0 < 200) { const o = []; for (let i = 0; i < 10; i++) o.push(op()); await dev.sync(); o.forEach((x) => x.dispose()); }
  const rows = [];
  for (let r = 0; r < reps; r++) {
    const outs = []; const t0 = performance.now();
    for (let i = 0; i < n; i++) outs.push(op());
    const t1 = performance.now(); await dev.sync(); const t2 = performance.now();
    outs.forEach((x) => x.dispose());
    rows.push([(t1 - t0) / n * 1000, (t2 - t0) / n * 1000]);
  }
  rows.sort((a, b) => a[1] - b[1]);
  const [enq, tot] = rows[rows.length >> 1];
  console.log(`${label.padEnd(34)} n=${String(n).padEnd(4)} enqueue ${enq.toFixed(1).padStart(6)} us/op   total ${tot.toFixed(1).padStart(6)} us/op`);
}
async function oneAtATime(label, op, n = 30) {
  const s = [];
  for (let i = 0; i < n; i++) { const t0 = performance.now(); const o = op(); await dev.sync(); s.push(performance.now() - t0); o.dispose(); }
  s.sort((a, b) => a - b);
  console.log(`${label.padEnd(34)} one op + sync: median ${(s[n >> 1] * 1000).toFixed(1)} us`);
}
const S = process.env.DIAG_SMALL ? 16 : 1; // a smoke test on the emulator
const a = t([512 / S, 4096 / S]), w = t([4096 / S, 4096 / S]), bias = t([4096 / S]);
const x = t([64, 64]), y = t([64, 64]);
const fused = () => dev.matmul(a, w, { bias, activation: 'gelu' });
const plain = () => dev.matmul(a, w);
const tiny = () => dev.matmul(x, y);
for (const n of [50, 500]) await measure('fused 512x4096x4096', fused, n);
await measure('plain 512x4096x4096', plain, 50);
for (const n of [50, 2000]) await measure('tiny 64^3', tiny, n);
await oneAtATime('fused', fused);
await oneAtATime('tiny', tiny);
console.log('variants:', dev.explain('matmul', { m: 512, n: 4096, k: 4096, dtype: 'bf16' }).variant, dev.explain('matmul', { m: 64, n: 64, k: 64, dtype: 'bf16' }).variant);
dev.dispose();
