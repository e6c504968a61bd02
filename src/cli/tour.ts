/**
 * The default command: probe, open the best device, run a fused matmul (bias + GELU) and a causal GQA
 * attention of realistic size, check both against the float64 reference, print what happened.
 */
import { decode } from '../dtype.js';
import type { Device } from '../device.js';
import { expectAttention, expectMatmul, type AttentionInputs, type Expected, type MatmulInputs } from '../numerics/check.js';
import { compareToReference } from '../numerics/compare.js';
import { randomTensor, Rng } from '../numerics/random.js';
import { open } from '../open.js';
import { fmt } from '../ops/shape.js';
import { probe } from '../probe.js';
import type { Tensor } from '../tensor.js';
import type { Command } from './args.js';
import { probeTable } from './probe.js';
import { table } from './table.js';

type Log = (line: string) => void;

export const tourCommand: Command = {
  name: 'tour',
  summary: 'probe, open the best device, run a fused matmul and a causal GQA attention, check them against the float64 reference',
  flags: { backend: { type: 'string', help: 'run on this backend (cpu | reference | ...); default: best available' } },
  async run(args, log) {
    const backend = args.flags.get('backend');
    return (await tour(log, typeof backend === 'string' ? backend : undefined)) ? 0 : 1;
  },
};

export async function tour(log: Log, backend?: string): Promise<boolean> {
  log('kernelport tour: probe, open the best device, run fused kernels, check them against the float64 reference.\n');
  log(probeTable(await probe()) + '\n');
  const dev = await open(backend ? ({ backend } as Parameters<typeof open>[0]) : {});
  log(`opened ${dev.info.backend}:${dev.info.index} (${dev.info.name}, ${dev.info.architecture}, ${dev.threads} thread${dev.threads > 1 ? 's' : ''})\n`);
  const rng = new Rng(2026);
  const rows: (string | number)[][] = [];
  let ok = true;

  // An MLP up-projection with its bias and GELU fused into the matmul.
  const M = 256, K = 1024, N = 1024;
  const mm: MatmulInputs = { a: randomTensor(rng, [M, K]), b: randomTensor(rng, [N, K], 'f32', 0.05), bias: randomTensor(rng, [N]) };
  const mmOpts = { transB: true, activation: 'gelu' as const };
  ok = (await measure(dev, 'matmul+bias+gelu', `${M}x${K} @ (${N}x${K})^T`, expectMatmul(mm, mmOpts), (d) => {
    const [a, b, bias] = [mm.a, mm.b, mm.bias!].map((t) => d.tensor(t.data, t.shape, t.dtype));
    return { run: () => d.matmul(a!, b!, { ...mmOpts, bias }), inputs: [a!, b!, bias!] };
  }, rows)) && ok;

  // Causal grouped-query attention: 8 query heads sharing 2 KV heads, a prefill of 512 tokens.
  const B = 1, Hq = 8, Hkv = 2, S = 512, D = 64;
  const at: AttentionInputs = { q: randomTensor(rng, [B, Hq, S, D]), k: randomTensor(rng, [B, Hkv, S, D]), v: randomTensor(rng, [B, Hkv, S, D]) };
  ok = (await measure(dev, 'attention causal GQA', `q${fmt(at.q.shape)} kv${fmt(at.k.shape)}`, expectAttention(at, { causal: true }), (d) => {
    const [q, k, v] = [at.q, at.k, at.v].map((t) => d.tensor(t.data, t.shape, t.dtype));
    return { run: () => d.attention(q!, k!, v!, { causal: true }), inputs: [q!, k!, v!] };
  }, rows)) && ok;

  log(table(['device', 'op', 'shape', 'ms (median)', 'GFLOP/s', 'max err/bound', 'NMSE', 'check'], rows));
  log(`\nerr/bound: the worst element's error against the float64 reference as a multiple of its bound (<= 1 passes; see DESIGN.md Numerics).`);
  dev.dispose();
  return ok;
}

async function measure(
  dev: Device,
  op: string,
  shape: string,
  expected: Expected,
  setup: (d: Device) => { run: () => Tensor; inputs: Tensor[] },
  rows: (string | number)[][],
): Promise<boolean> {
  const { run, inputs } = setup(dev);
  const first = run();
  const got = decode(await first.read(), first.dtype);
  first.dispose();
  const report = compareToReference(got, expected.out, expected.bound, expected.plan.outShape, expected.plan.outDtype);
  const times: number[] = [];
  const deadline = performance.now() + 1500;
  while (times.length < 3 || (performance.now() < deadline && times.length < 50)) {
    const t0 = performance.now();
    const y = run();
    await dev.sync();
    times.push(performance.now() - t0);
    y.dispose();
  }
  for (const t of inputs) t.dispose();
  times.sort((x, y) => x - y);
  const ms = times[times.length >> 1]!;
  rows.push([`${dev.info.backend}:${dev.info.index}`, op, shape, ms, expected.plan.flops / (ms * 1e6), report.worstRatio, report.nmse, report.pass ? 'pass' : 'FAIL']);
  return report.pass;
}
