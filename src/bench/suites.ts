/** Named suites and shapes from flags: everything the harness runs is a list of BenchCase. */
import type { Activation, DType } from '../types.js';
import { BenchInputError } from './errors.js';
import type { AttentionCase, BenchCase, MatmulCase } from './types.js';

export const OPS = ['matmul', 'attention'] as const;
export const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16'];
const ACTIVATIONS: readonly Activation[] = ['none', 'relu', 'gelu', 'gelu_tanh', 'silu'];

/** A 7B-class decoder: hidden 4096, 32 query heads of 128, GQA 32:8 (kv width 1024), FFN 11008. */
const HIDDEN = 4096;
const FFN = 11008;
const HQ = 32;
const HKV = 8;
const HEAD = 128;
const QKV = HIDDEN + 2 * HKV * HEAD;

const mm = (id: string, m: number, k: number, n: number, dtype: DType, bias = false, activation: Activation = 'none'): MatmulCase => ({
  op: 'matmul',
  id,
  m,
  k,
  n,
  bias,
  activation,
  dtype,
});

const att = (id: string, sq: number, skv: number, dtype: DType, causal = true): AttentionCase => ({
  op: 'attention',
  id,
  batch: 1,
  hq: HQ,
  hkv: HKV,
  sq,
  skv,
  d: HEAD,
  causal,
  dtype,
});

export interface Suite {
  name: string;
  description: string;
  cases(dtype: DType): BenchCase[];
}

export const SUITES: Record<string, Suite> = {
  square: {
    name: 'square',
    description: 'square matmul, M = N = K from 256 to 4096',
    cases: (dt) => [256, 512, 1024, 2048, 4096].map((s) => mm(`square/${s}`, s, s, s, dt)),
  },
  'llm-prefill': {
    name: 'llm-prefill',
    description: `prefill of 1024 tokens: QKV projection (${HIDDEN}->${QKV}), MLP up (+bias+GELU, ->${FFN}) and down; causal GQA ${HQ}:${HKV} attention, D ${HEAD}, S 1024 and 2048`,
    cases: (dt) => [
      mm('llm-prefill/qkv', 1024, HIDDEN, QKV, dt),
      mm('llm-prefill/mlp-up+bias+gelu', 1024, HIDDEN, FFN, dt, true, 'gelu'),
      mm('llm-prefill/mlp-down+bias', 1024, FFN, HIDDEN, dt, true),
      att('llm-prefill/attention-s1024', 1024, 1024, dt),
      att('llm-prefill/attention-s2048', 2048, 2048, dt),
    ],
  },
  'llm-decode': {
    name: 'llm-decode',
    description: `decoding one token: GEMV (M = 1) through the same projections; attention Sq = 1 over a KV cache of 1024 to 8192, GQA ${HQ}:${HKV}`,
    cases: (dt) => [
      mm('llm-decode/qkv', 1, HIDDEN, QKV, dt),
      mm('llm-decode/mlp-up+bias+gelu', 1, HIDDEN, FFN, dt, true, 'gelu'),
      mm('llm-decode/mlp-down+bias', 1, FFN, HIDDEN, dt, true),
      ...[1024, 2048, 4096, 8192].map((s) => att(`llm-decode/attention-kv${s}`, 1, s, dt)),
    ],
  },
  'cpu-targets': {
    name: 'cpu-targets',
    description: 'the CPU backend\'s performance targets (issue 5): 4096^3, MLP up-projection 512x4096x4096+bias+GELU, attention B1 H32 S1024 D128 causal and not, GEMV 1x4096x4096, decode attention Sq1 Skv4096 32:8',
    cases: (dt) => [
      mm('cpu-targets/gemm-4096', 4096, 4096, 4096, dt),
      mm('cpu-targets/mlp-up-512+bias+gelu', 512, HIDDEN, HIDDEN, dt, true, 'gelu'),
      { ...att('cpu-targets/attention-mha-s1024', 1024, 1024, dt, false), hkv: HQ },
      { ...att('cpu-targets/attention-mha-s1024-causal', 1024, 1024, dt, true), hkv: HQ },
      mm('cpu-targets/gemv-4096', 1, HIDDEN, HIDDEN, dt),
      att('cpu-targets/decode-attention-kv4096', 1, 4096, dt),
    ],
  },
};

/** `npm run bench` / `kernelport bench` with no shapes: these suites. */
export const DEFAULT_SUITES = ['square', 'llm-prefill', 'llm-decode'];

export function suiteCases(names: readonly string[], dtypes: readonly DType[]): BenchCase[] {
  const out: BenchCase[] = [];
  for (const name of names) {
    const s = SUITES[name];
    if (!s) throw new BenchInputError(`unknown suite '${name}' (suites: ${Object.keys(SUITES).join(', ')})`);
    for (const dt of dtypes) out.push(...s.cases(dt));
  }
  return out;
}

/** Shapes given explicitly: lists multiply out (`m: [1, 512]` and `n: [4096]` give two cases). */
export interface ShapeSpec {
  op: string;
  m?: number[];
  k?: number[];
  n?: number[];
  bias?: boolean;
  activation?: string;
  batch?: number[];
  heads?: number[];
  kvHeads?: number[];
  sq?: number[];
  skv?: number[];
  d?: number[];
  causal?: boolean;
}

export function shapeCases(spec: ShapeSpec, dtypes: readonly DType[]): BenchCase[] {
  if (!(OPS as readonly string[]).includes(spec.op)) throw new BenchInputError(`unknown op '${spec.op}' (ops: ${OPS.join(', ')})`);
  const dims = (name: string, v: number[] | undefined, dflt?: number[]): number[] => {
    const list = v ?? dflt;
    if (!list || list.length === 0) throw new BenchInputError(`${spec.op}: --${name} is required (a comma-separated list of positive integers)`);
    for (const x of list)
      if (!Number.isInteger(x) || x < 1 || x > 1 << 20) throw new BenchInputError(`${spec.op}: --${name} must hold positive integers up to ${1 << 20}, got ${String(x)}`);
    return list;
  };
  const out: BenchCase[] = [];
  if (spec.op === 'matmul') {
    const act = (spec.activation ?? 'none') as Activation;
    if (!ACTIVATIONS.includes(act)) throw new BenchInputError(`matmul: --activation must be one of ${ACTIVATIONS.join(', ')}, got '${spec.activation}'`);
    for (const flag of ['batch', 'heads', 'kvHeads', 'sq', 'skv', 'd'] as const)
      if (spec[flag]) throw new BenchInputError(`matmul: --${kebab(flag)} is an attention shape; matmul takes --m, --k, --n`);
    const [ms, ks, ns] = [dims('m', spec.m), dims('k', spec.k), dims('n', spec.n)];
    for (const dt of dtypes)
      for (const m of ms)
        for (const k of ks)
          for (const n of ns) {
            const tag = `${spec.bias ? '+bias' : ''}${act !== 'none' ? `+${act}` : ''}`;
            out.push(mm(`matmul${tag}/${m}x${k}x${n}`, m, k, n, dt, spec.bias ?? false, act));
          }
    return out;
  }
  for (const flag of ['m', 'k', 'n'] as const)
    if (spec[flag]) throw new BenchInputError(`attention: --${flag} is a matmul shape; attention takes --batch, --heads, --kv-heads, --sq, --skv, --d`);
  if (spec.activation !== undefined || spec.bias) throw new BenchInputError('attention: --activation and --bias apply to matmul only');
  const bs = dims('batch', spec.batch, [1]);
  const hs = dims('heads', spec.heads, [HQ]);
  const sqs = dims('sq', spec.sq);
  const ds = dims('d', spec.d, [HEAD]);
  for (const dt of dtypes)
    for (const b of bs)
      for (const hq of hs)
        for (const hkv of dims('kv-heads', spec.kvHeads, [hq]))
          for (const sq of sqs)
            for (const skv of dims('skv', spec.skv, [sq]))
              for (const d of ds) {
                if (hq % hkv !== 0) throw new BenchInputError(`attention: --heads (${hq}) must be a multiple of --kv-heads (${hkv})`);
                const causal = spec.causal ?? false;
                out.push({ op: 'attention', id: `attention${causal ? '-causal' : ''}/b${b}h${hq}:${hkv}q${sq}kv${skv}d${d}`, batch: b, hq, hkv, sq, skv, d, causal, dtype: dt });
              }
  return out;
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function parseDtypes(list: readonly string[] | undefined): DType[] {
  if (!list || list.length === 0) return ['f32'];
  for (const d of list) if (!DTYPES.includes(d as DType)) throw new BenchInputError(`unknown dtype '${d}' (dtypes: ${DTYPES.join(', ')})`);
  return [...new Set(list)] as DType[];
}

/** A human label of a case's shape. */
export function shapeLabel(c: BenchCase): string {
  if (c.op === 'matmul') return `${c.m}x${c.k} @ ${c.k}x${c.n}${c.bias ? ' +bias' : ''}${c.activation !== 'none' ? ` ${c.activation}` : ''}`;
  const kv = c.hkv !== c.hq ? ` GQA ${c.hq}:${c.hkv}` : ` H${c.hq}`;
  return `B${c.batch}${kv} Sq${c.sq} Skv${c.skv} D${c.d}${c.causal ? ' causal' : ''}`;
}
