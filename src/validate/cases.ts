/**
 * Validation cases: which problems `validate` runs, and the values in them.
 *
 * A case is a small spec (op, dtype, shapes, options, value distribution, seed); `materialize` turns it
 * into host inputs, deterministically from the spec's seed. The seed is derived from the run's seed and
 * the case's name, so filtering cases (`--case`) never changes the values a case gets: a failure is
 * reproduced with the same `--seed` and the case's name.
 *
 * Value distributions (each keeps every intermediate an f32 kernel computes inside the f32 range, so a
 * failure is the kernel's, not an artefact of the case):
 * - normal, uniform: N(0, 1), U(−1, 1);
 * - large: magnitudes near the limits of the 16-bit types (an operand at ~1/8 of the dtype's largest finite
 *   value, results up to half the output type's limit, so f16 outputs round to ±∞ in the tail);
 * - tiny: f16 subnormals, f32/bf16 values whose products are f32 subnormals;
 * - cancel: sums of exact opposites (matmul: paired columns of A negated against equal rows of B;
 *   attention: duplicated keys whose values are negated), large terms that cancel to a small result,
 *   where an error bound relative to |result| instead of Σ|terms| would be wrong;
 * - nonfinite: normal values with NaN, +∞ and −∞ injected into the inputs (they must propagate as IEEE
 *   arithmetic says, never vanish or crash).
 */
import { encode } from '../dtype.js';
import type { AttentionCaseOptions, AttentionInputs, HostTensor, MatmulCaseOptions, MatmulInputs } from '../numerics/check.js';
import { formatInfo } from '../numerics/formats.js';
import { Rng } from '../numerics/random.js';
import type { Activation, DType, Layout } from '../types.js';

export type Op = 'matmul' | 'attention';
export type Size = 'quick' | 'full';
export type Distribution = 'normal' | 'uniform' | 'large' | 'tiny' | 'cancel' | 'nonfinite';

export const OPS: readonly Op[] = ['matmul', 'attention'];
export const DISTRIBUTIONS: readonly Distribution[] = ['normal', 'uniform', 'large', 'tiny', 'cancel', 'nonfinite'];
const ACTIVATIONS: readonly Activation[] = ['none', 'relu', 'gelu', 'gelu_tanh', 'silu'];

interface SpecBase {
  /** Unique within a run: `op/dtype/distribution/label`. */
  name: string;
  dtype: DType;
  dist: Distribution;
  /** Seed of this case's values (from the run's seed and the name). */
  seed: number;
}

export interface MatmulSpec extends SpecBase {
  op: 'matmul';
  m: number;
  n: number;
  k: number;
  batchA: number[];
  batchB: number[];
  bias?: DType;
  residual?: { shape: number[]; dtype: DType };
  options: MatmulCaseOptions;
}

export interface AttentionSpec extends SpecBase {
  op: 'attention';
  b: number;
  hq: number;
  hkv: number;
  sq: number;
  skv: number;
  d: number;
  dv: number;
  /** Additive f32 mask of this (broadcastable) shape: a fraction `negInf` of −∞ entries, `fullRows` rows all −∞. */
  mask?: { shape: number[]; negInf: number; fullRows: number };
  options: AttentionCaseOptions;
}

export type CaseSpec = MatmulSpec | AttentionSpec;

export type ValidationCase =
  | { spec: MatmulSpec; op: 'matmul'; inputs: MatmulInputs; options: MatmulCaseOptions }
  | { spec: AttentionSpec; op: 'attention'; inputs: AttentionInputs; options: AttentionCaseOptions };

/** FNV-1a over the name, mixed with the run's seed: a case's values depend only on (seed, name). */
export function caseSeed(runSeed: number, name: string): number {
  let h = 0x811c9dc5 ^ (runSeed >>> 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
}

// ---------------------------------------------------------------------------------------------------
// Case lists
// ---------------------------------------------------------------------------------------------------

type MatmulExtra = Partial<Pick<MatmulSpec, 'batchA' | 'batchB' | 'residual'>> & {
  bias?: DType | true;
  residualShape?: number[];
} & MatmulCaseOptions;

interface MatmulShape {
  label: string;
  m: number;
  k: number;
  n: number;
  x?: MatmulExtra;
}

type AttentionExtra = Partial<Pick<AttentionSpec, 'b' | 'hq' | 'hkv' | 'mask'>> & AttentionCaseOptions;

interface AttentionShape {
  label: string;
  sq: number;
  skv: number;
  d: number;
  dv?: number;
  x?: AttentionExtra;
}

const mm = (label: string, m: number, k: number, n: number, x?: MatmulExtra): MatmulShape => ({ label, m, k, n, x });
const at = (label: string, sq: number, skv: number, d: number, dv?: number, x?: AttentionExtra): AttentionShape => ({ label, sq, skv, d, dv, x });

/**
 * Tile edges: sizes one below, at and one above the blocking of the kernels in this repository and of
 * common GPU tiles (cpu GEMM: MR 4/8/12, NR 8/24/32, MC 192, KC 256, NC 512; attention: 64-row, 64-key blocks).
 */
function matmulEdges(size: Size): MatmulShape[] {
  const quick = [
    mm('K=1', 37, 1, 29),
    mm('M=1 (row)', 1, 61, 29),
    mm('N=1 (column)', 37, 61, 1),
    mm('M=N=K=1', 1, 1, 1),
    mm('dot product M=N=1', 1, 131, 1),
    mm('primes 67x131x53', 67, 131, 53),
    mm('odd 13x7x9', 13, 7, 9),
    mm('tile edges 11x255x23', 11, 255, 23),
    mm('tile edges 13x257x33', 13, 257, 33),
    mm('tile edges 12x256x32', 12, 256, 32),
    mm('tile edges 25x63x47 transA', 25, 63, 47, { transA: true }),
    mm('tile edges 193x65x25', 193, 65, 25),
    mm('long K 4x8192x6', 4, 8192, 6),
    mm('long K 3x8209x5 (prime) transB', 3, 8209, 5, { transB: true }),
    mm('batch a[2,1] b[3] broadcast', 9, 17, 11, { batchA: [2, 1], batchB: [3] }),
    mm('batch a[] b[4] broadcast transA transB', 7, 19, 5, { batchB: [4], transA: true, transB: true }),
    mm('K=0 with bias and residual', 5, 0, 7, { bias: true, residualShape: [5, 1], activation: 'gelu' }),
    mm('epilogue bias+gelu', 37, 61, 29, { bias: true, activation: 'gelu' }),
    mm('epilogue bias+silu+alpha+residual', 37, 61, 29, { bias: true, activation: 'silu', alpha: 0.75, residualShape: [37, 29], beta: -1.25 }),
    mm('epilogue relu+residual row', 31, 45, 17, { activation: 'relu', residualShape: [17] }),
    mm('epilogue gelu_tanh+bias transB', 19, 33, 21, { activation: 'gelu_tanh', bias: true, transB: true }),
    mm('out f32', 23, 47, 19, { outDtype: 'f32' }),
    mm('out f16', 23, 47, 19, { outDtype: 'f16' }),
    mm('out bf16', 23, 47, 19, { outDtype: 'bf16' }),
    mm('128x512x96 transB bias gelu', 128, 512, 96, { transB: true, bias: true, activation: 'gelu' }),
    // allowTf32: judged by the TF32 bound; a backend without a TF32 path computes full f32 (and passes it)
    mm('allowTf32 257x520x136 bias gelu', 257, 520, 136, { allowTf32: true, bias: true, activation: 'gelu' }),
    mm('allowTf32 131x264x200 transB residual', 131, 264, 200, { allowTf32: true, transB: true, residualShape: [131, 200] }),
    // decoding's GEMV on nn.Linear's weight layout (M <= 4, B [N,K], K a multiple of 8: cuda's 16-byte loads)
    mm('GEMV 1x4104x37 transB', 1, 4104, 37, { transB: true }),
    mm('GEMV 3x520x129 transB bias gelu residual', 3, 520, 129, { transB: true, bias: true, activation: 'gelu', residualShape: [3, 129] }),
    mm('GEMV batch [2] 4x264x17 transB', 4, 264, 17, { transB: true, batchA: [2], batchB: [2] }),
    mm('GEMV 2x1033x264 bias silu (B [K,N], N % 8 == 0)', 2, 1033, 264, { bias: true, activation: 'silu' }),
  ];
  if (size === 'quick') return quick;
  return [
    ...quick,
    mm('M=0', 0, 17, 9),
    mm('N=0 transB', 9, 17, 0, { transB: true }),
    mm('batch dim 0', 5, 7, 3, { batchA: [0], batchB: [1] }),
    mm('primes 127x257x131 all options', 127, 257, 131, { transA: true, transB: true, bias: true, activation: 'gelu', residualShape: [127, 1], alpha: -0.5 }),
    mm('tile edges 191x511x33', 191, 511, 33),
    mm('tile edges 192x512x32', 192, 512, 32),
    mm('tile edges 193x513x31', 193, 513, 31),
    mm('tile edges 24x257x513 (NC+1)', 24, 257, 513),
    mm('tile edges 23x129x511', 23, 129, 511, { transB: true }),
    mm('tile edges 65x767x97 transA', 65, 767, 97, { transA: true }),
    mm('long K 16x16411x16 (prime)', 16, 16411, 16),
    mm('long K 8x8192x24 bias gelu', 8, 8192, 24, { bias: true, activation: 'gelu' }),
    mm('long K 5x12289x3 transA', 5, 12289, 3, { transA: true }),
    mm('batch a[3,1,2] b[1,4,1] broadcast', 11, 23, 13, { batchA: [3, 1, 2], batchB: [1, 4, 1] }),
    mm('batch residual [2,1,M,N] on [2,3]', 17, 29, 19, { batchA: [2, 3], residualShape: [2, 1, 17, 19] }),
    mm('medium 96x384x160 bias silu', 96, 384, 160, { bias: true, activation: 'silu' }),
    mm('MLP 256x1024x384 transB bias gelu', 256, 1024, 384, { transB: true, bias: true, activation: 'gelu' }),
    mm('long K 64x8192x48 residual', 64, 8192, 48, { residualShape: [64, 48] }),
    // big enough (M·N >= SMs·128²/4 on an H100/H20) for cuda to pick its TF32 tensor-core GEMM unforced
    mm('allowTf32 1031x516x1024 bias gelu', 1031, 516, 1024, { allowTf32: true, bias: true, activation: 'gelu' }),
    ...ACTIVATIONS.map((a) => mm(`activation ${a} + bias`, 29, 41, 23, { activation: a, bias: true })),
    mm('mixed: f32 bias, bf16 residual', 21, 43, 27, { bias: 'f32', residual: { shape: [21, 27], dtype: 'bf16' } }),
    mm('mixed: f16 bias, f32 residual, relu', 21, 43, 27, { bias: 'f16', residual: { shape: [1, 27], dtype: 'f32' }, activation: 'relu' }),
  ];
}

/** A shorter list of shapes swept over every value distribution. */
function matmulDistShapes(size: Size): MatmulShape[] {
  const quick = [
    mm('37x61x29 bias gelu', 37, 61, 29, { bias: true, activation: 'gelu' }),
    mm('K=1 transB', 13, 1, 11, { transB: true }),
    mm('long K 2x8192x3', 2, 8192, 3),
  ];
  if (size === 'quick') return quick;
  return [
    ...quick,
    mm('67x131x53 residual', 67, 131, 53, { residualShape: [67, 53] }),
    mm('batch a[2] b[] transA silu', 25, 257, 33, { batchA: [2], transA: true, activation: 'silu', bias: true }),
    mm('out f32', 19, 97, 23, { outDtype: 'f32' }),
  ];
}

function attentionEdges(size: Size): AttentionShape[] {
  const quick = [
    at('Sq<Skv 13x29', 13, 29, 24, 40),
    at('Sq<Skv causal bottom-right', 13, 29, 24, 40, { causal: true }),
    at('Sq<Skv causal top-left', 13, 29, 24, 40, { causal: 'top-left' }),
    at('Sq>Skv causal bottom-right (first rows fully masked)', 29, 13, 16, 8, { causal: true }),
    at('Sq>Skv causal top-left', 29, 13, 16, 8, { causal: 'top-left' }),
    at('GQA ratio 1', 9, 33, 32, 32, { hq: 4, hkv: 4 }),
    at('GQA ratio 4', 9, 33, 32, 32, { hq: 4, hkv: 1, causal: true }),
    at('GQA ratio 8', 7, 41, 32, 16, { hq: 8, hkv: 1 }),
    at('GQA ratio 32 decode', 1, 67, 32, 32, { b: 1, hq: 32, hkv: 1 }),
    at('kvLengths [0, full, 7] causal', 11, 29, 16, 16, { b: 3, kvLengths: [0, 29, 7], causal: true }),
    at('kvLengths [full, 0] top-left', 11, 29, 16, 16, { kvLengths: [29, 0], causal: 'top-left' }),
    at('mask [Sq,Skv] with -inf and fully masked rows', 13, 29, 24, 24, { mask: { shape: [13, 29], negInf: 0.2, fullRows: 2 } }),
    at('mask [B,1,Sq,Skv] + causal + kvLengths', 13, 29, 16, 16, { mask: { shape: [2, 1, 13, 29], negInf: 0.2, fullRows: 1 }, causal: true, kvLengths: [29, 16] }),
    at('mask [1,Hq,1,Skv] one head fully masked', 6, 10, 8, 12, { hq: 4, hkv: 2, mask: { shape: [1, 4, 1, 10], negInf: 0.3, fullRows: 1 } }),
    at('tile edges Sq=65 Skv=129', 65, 129, 32, 17, { b: 1, hq: 2, hkv: 1 }),
    at('tile edges Sq=64 Skv=64 causal', 64, 64, 16, 16, { b: 1, hq: 2, causal: true }),
    at('tile edges Sq=63 Skv=127 Dv=15', 63, 127, 15, 15, { b: 1, hq: 1, hkv: 1 }),
    at('decode Skv=257 causal', 1, 257, 64, 64, { b: 2, hq: 4, hkv: 2, causal: true }),
    at('prefill S=128 D=64 causal GQA 4:1', 128, 128, 64, 64, { b: 1, hq: 4, hkv: 1, causal: true }),
    at('odd D=7 Dv=13 layout bshd', 19, 23, 7, 13, { layout: 'bshd' }),
    at('D=1 Dv=1', 7, 9, 1, 1),
    at('Skv=1', 5, 1, 16, 16),
    at('Skv=0 (every row fully masked)', 3, 0, 8, 12),
    at('scale -1.7', 13, 29, 16, 16, { scale: -1.7 }),
    // a shape the tensor-core kernels take: their row max is the min of the raw scores for a negative scale
    at('scale -0.9 D=64 Sq=70 Skv=131 causal', 70, 131, 64, 64, { b: 1, hq: 2, hkv: 1, causal: true, scale: -0.9 }),
    at('out f32', 13, 29, 24, 24, { outDtype: 'f32' }),
    at('out f16', 13, 29, 24, 24, { outDtype: 'f16' }),
    at('out bf16', 13, 29, 24, 24, { outDtype: 'bf16' }),
  ];
  if (size === 'quick') return quick;
  return [
    ...quick,
    at('GQA ratio 32 prefill causal', 33, 65, 32, 32, { b: 1, hq: 32, hkv: 1, causal: true }),
    at('GQA ratio 8 bshd kvLengths', 17, 71, 64, 32, { hq: 8, hkv: 1, layout: 'bshd', kvLengths: [71, 40], causal: true }),
    at('D=128 Dv=80', 33, 130, 128, 80, { b: 1, hq: 2, hkv: 1 }),
    at('D=256 decode', 1, 67, 256, 8),
    at('long Skv=2048 decode', 1, 2048, 64, 64, { b: 1, hq: 4, hkv: 1 }),
    at('long Skv=1031 causal Sq=65', 65, 1031, 64, 64, { b: 1, hq: 2, hkv: 1, causal: true }),
    at('tile edges Sq=129 Skv=193 top-left', 129, 193, 32, 33, { b: 1, hq: 1, hkv: 1, causal: 'top-left' }),
    at('kvLengths [0, 1, full, 64, 65] causal', 9, 129, 16, 16, { b: 5, hq: 2, hkv: 1, kvLengths: [0, 1, 129, 64, 65], causal: true }),
    at('mask [B,Hq,Sq,Skv] bshd', 13, 29, 16, 16, { hq: 4, hkv: 2, layout: 'bshd', mask: { shape: [2, 4, 13, 29], negInf: 0.1, fullRows: 3 } }),
    at('mask [Skv] + top-left', 13, 29, 16, 16, { mask: { shape: [29], negInf: 0.3, fullRows: 0 }, causal: 'top-left' }),
    at('scale 0 (uniform average)', 13, 29, 16, 16, { scale: 0 }),
    at('scale 0 D=64 Sq=70 Skv=131 causal kvLengths', 70, 131, 64, 64, { b: 2, hq: 2, hkv: 1, causal: true, kvLengths: [131, 90], scale: 0 }),
    at('allowP16 scale -0.5 D=128 Sq=65 Skv=200 kvLengths', 65, 200, 128, 128, { b: 2, hq: 2, hkv: 1, kvLengths: [200, 130], scale: -0.5, allowP16: true }),
    at('scale 25 (sharp softmax)', 13, 129, 16, 16, { scale: 25 }),
    at('prefill GQA 8:2 S=512 D=64 causal', 512, 512, 64, 64, { b: 1, hq: 8, hkv: 2, causal: true }),
    at('chunked prefill Sq=128 Skv=1024 D=128 bottom-right', 128, 1024, 128, 128, { b: 1, hq: 4, hkv: 1, causal: true }),
    at('allowP16 D=128 Sq=130 Skv=257 bshd kvLengths top-left', 130, 257, 128, 128, { b: 2, hq: 2, hkv: 1, layout: 'bshd', kvLengths: [257, 100], causal: 'top-left', allowP16: true }),
    at('allowP16 scale 25 (sharp softmax) D=64', 33, 200, 64, 64, { b: 1, hq: 2, hkv: 2, scale: 25, allowP16: true }),
    // the other head sizes the tensor-core attention takes (Phi-2's 80, Phi-3-mini's 96)
    at('D=80 Sq=70 Skv=131 causal GQA 2:1', 70, 131, 80, 80, { b: 1, hq: 2, hkv: 1, causal: true }),
    at('D=96 Sq=65 Skv=200 bshd kvLengths allowP16', 65, 200, 96, 96, { b: 2, hq: 2, hkv: 2, layout: 'bshd', kvLengths: [200, 77], allowP16: true }),
    // masks at shapes cuda's masked tensor-core kernels take (the quick suite's D = 64 shapes stay unmasked:
    // the emulator tests tell the wgmma kernel's work from mma.sync's by them)
    at('mask [B,1,Sq,Skv] D=64 Sq=70 Skv=131 causal kvLengths', 70, 131, 64, 64, { hq: 2, hkv: 1, causal: true, kvLengths: [131, 100], mask: { shape: [2, 1, 70, 131], negInf: 0.2, fullRows: 2 } }),
    at('mask [Skv] D=128 Sq=65 Skv=200 bshd allowP16 scale -0.5', 65, 200, 128, 128, { b: 1, hq: 2, hkv: 1, layout: 'bshd', mask: { shape: [200], negInf: 0.3, fullRows: 0 }, allowP16: true, scale: -0.5 }),
    at('D=192 Dv=128 (DeepSeek MLA) Sq=65 Skv=200 bshd kvLengths allowP16 mask [Skv]', 65, 200, 192, 128, { b: 2, hq: 2, hkv: 2, layout: 'bshd', kvLengths: [200, 77], allowP16: true, mask: { shape: [200], negInf: 0.2, fullRows: 0 } }),
    at('mask [Sq,1] D=80 Sq=70 Skv=131 top-left', 70, 131, 80, 80, { b: 1, hq: 2, hkv: 1, causal: 'top-left', mask: { shape: [70, 1], negInf: 0.1, fullRows: 0 } }),
  ];
}

function attentionDistShapes(size: Size): AttentionShape[] {
  const quick = [
    at('13x29 causal GQA 4:2', 13, 29, 32, 24, { hq: 4, hkv: 2, causal: true }),
    at('decode Skv=130 kvLengths', 1, 130, 64, 32, { kvLengths: [130, 77] }),
    at('mask with -inf rows', 9, 33, 16, 16, { mask: { shape: [2, 1, 9, 33], negInf: 0.2, fullRows: 1 } }),
    // allowP16: judged by the bound with P rounded to 16 bits; a shape cuda's tensor-core kernel takes
    // (it then rounds P once), every other backend keeps P in f32 and meets the looser bound too.
    at('allowP16 70x131 D64 causal GQA 4:2', 70, 131, 64, 64, { b: 1, hq: 4, hkv: 2, causal: true, allowP16: true }),
  ];
  if (size === 'quick') return quick;
  return [
    ...quick,
    at('65x129 top-left bshd', 65, 129, 32, 32, { b: 1, hq: 2, hkv: 1, causal: 'top-left', layout: 'bshd' }),
    at('GQA ratio 8 Sq>Skv causal', 21, 9, 16, 16, { hq: 8, hkv: 1, causal: true }),
    at('out f32', 13, 29, 24, 24, { outDtype: 'f32' }),
    // DeepSeek's MLA prefill head sizes (cuda's tensor cores on sm_80 / sm_90) under every distribution
    at('D=192 Dv=128 70x131 causal', 70, 131, 192, 128, { b: 1, hq: 2, hkv: 1, causal: true }),
  ];
}

// ---------------------------------------------------------------------------------------------------
// Specs
// ---------------------------------------------------------------------------------------------------

function matmulSpec(s: MatmulShape, dtype: DType, dist: Distribution, runSeed: number, prefix = ''): MatmulSpec {
  const x = s.x ?? {};
  const { batchA, batchB, bias, residual, residualShape, ...rest } = x;
  const options: MatmulCaseOptions = {};
  for (const [key, v] of Object.entries(rest)) if (v !== undefined) (options as Record<string, unknown>)[key] = v;
  const name = `matmul/${dtype}/${dist}/${prefix}${s.label}`;
  const spec: MatmulSpec = {
    op: 'matmul',
    name,
    dtype,
    dist,
    seed: caseSeed(runSeed, name),
    m: s.m,
    n: s.n,
    k: s.k,
    batchA: batchA ?? [],
    batchB: batchB ?? [],
    options,
  };
  if (bias) spec.bias = bias === true ? dtype : bias;
  if (residual) spec.residual = residual;
  else if (residualShape) spec.residual = { shape: residualShape, dtype };
  return spec;
}

function attentionSpec(s: AttentionShape, dtype: DType, dist: Distribution, runSeed: number, prefix = ''): AttentionSpec {
  const { b, hq, hkv, mask, ...rest } = s.x ?? {};
  const options: AttentionCaseOptions = {};
  for (const [key, v] of Object.entries(rest)) if (v !== undefined) (options as Record<string, unknown>)[key] = v;
  const name = `attention/${dtype}/${dist}/${prefix}${s.label}`;
  const spec: AttentionSpec = {
    op: 'attention',
    name,
    dtype,
    dist,
    seed: caseSeed(runSeed, name),
    b: b ?? 2,
    hq: hq ?? 2,
    hkv: hkv ?? hq ?? 2,
    sq: s.sq,
    skv: s.skv,
    d: s.d,
    dv: s.dv ?? s.d,
    options,
  };
  if (mask) spec.mask = mask;
  return spec;
}

/** Seeded random matmul problems: every option combined with odd shapes. */
function randomMatmul(r: Rng, i: number): { shape: MatmulShape; dist: Distribution } {
  const int = (lo: number, hi: number) => lo + Math.floor(r.next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r.next() * xs.length)]!;
  const m = int(1, 80);
  const n = int(1, 80);
  const k = pick([int(1, 130), int(1, 600)]);
  const batches: [number[], number[]][] = [[[], []], [[2], []], [[], [3]], [[2, 1], [3]], [[1, 2], [2, 1]], [[3], [3]]];
  const [batchA, batchB] = pick(batches);
  const batch = broadcast(batchA, batchB);
  const x: MatmulExtra = { batchA, batchB, transA: r.next() < 0.5, transB: r.next() < 0.5, activation: pick(ACTIVATIONS) };
  if (r.next() < 0.3) x.alpha = Math.round(r.uniform(-2, 2) * 64) / 64;
  if (r.next() < 0.3) x.outDtype = pick(['f32', 'f16', 'bf16'] as const);
  if (r.next() < 0.5) x.bias = pick(['f32', 'f16', 'bf16'] as const);
  if (r.next() < 0.4) {
    x.residual = { shape: pick([[...batch, m, n], [m, n], [n], [m, 1], [1, 1]]), dtype: pick(['f32', 'f16', 'bf16'] as const) };
    if (r.next() < 0.5) x.beta = Math.round(r.uniform(-2, 2) * 64) / 64;
  }
  const label = `random #${i} ${batchA.length ? `[${batchA}]` : ''}${m}x${k} @ ${batchB.length ? `[${batchB}]` : ''}${k}x${n}`;
  return { shape: mm(label, m, k, n, x), dist: pick(DISTRIBUTIONS) };
}

function randomAttention(r: Rng, i: number): { shape: AttentionShape; dist: Distribution } {
  const int = (lo: number, hi: number) => lo + Math.floor(r.next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r.next() * xs.length)]!;
  const b = int(1, 3);
  const hkv = int(1, 2);
  const hq = hkv * pick([1, 2, 4, 8]);
  const sq = pick([1, int(1, 20), int(1, 70)]);
  const skv = pick([int(1, 40), int(1, 150), sq]);
  const d = pick([8, 16, 24, 32, 64, int(1, 80)]);
  const dv = r.next() < 0.5 ? d : pick([8, 16, 40, int(1, 70)]);
  const x: AttentionExtra = { b, hq, hkv, causal: pick([false, true, 'top-left'] as const), layout: pick(['bhsd', 'bshd'] as const) };
  if (r.next() < 0.4) x.kvLengths = Array.from({ length: b }, () => pick([0, skv, int(0, skv)]));
  if (r.next() < 0.3) x.outDtype = pick(['f32', 'f16', 'bf16'] as const);
  if (r.next() < 0.2) x.scale = Math.round(r.uniform(-1, 1) * 64) / 64;
  if (r.next() < 0.4) {
    const full = [b, hq, sq, skv];
    const shape = pick([full, [b, 1, sq, skv], [sq, skv], [skv], [1, hq, 1, skv], [sq, 1]]);
    x.mask = { shape, negInf: pick([0, 0.2, 0.5]), fullRows: shape.at(-1) === skv && skv > 0 ? int(0, 1) : 0 };
  }
  const label = `random #${i} B${b} H${hq}/${hkv} ${sq}x${skv} D${d}/${dv}`;
  return { shape: at(label, sq, skv, d, dv, x), dist: pick(DISTRIBUTIONS) };
}

function broadcast(a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => Math.max(a[a.length - rank + i] ?? 1, b[b.length - rank + i] ?? 1));
}

export interface CaseSelection {
  ops: readonly Op[];
  dtypes: readonly DType[];
  size: Size;
  seed: number;
}

/**
 * Every case of a run: per op and dtype, the edge-case shapes (normal values), a sweep of a few shapes
 * over every value distribution, and seeded random problems (random distribution).
 */
export function generateCases(sel: CaseSelection): CaseSpec[] {
  const out: CaseSpec[] = [];
  const randomCount = sel.size === 'quick' ? 20 : 100;
  for (const op of sel.ops)
    for (const dtype of sel.dtypes) {
      const r = new Rng(caseSeed(sel.seed, `${op}/${dtype}/random`));
      if (op === 'matmul') {
        for (const s of matmulEdges(sel.size)) out.push(matmulSpec(s, dtype, 'normal', sel.seed));
        for (const dist of DISTRIBUTIONS) {
          if (dist === 'normal') continue;
          for (const s of matmulDistShapes(sel.size)) out.push(matmulSpec(s, dtype, dist, sel.seed));
        }
        for (let i = 0; i < randomCount; i++) {
          const { shape, dist } = randomMatmul(r, i + 1);
          out.push(matmulSpec(shape, dtype, dist, sel.seed));
        }
      } else {
        for (const s of attentionEdges(sel.size)) out.push(attentionSpec(s, dtype, 'normal', sel.seed));
        for (const dist of DISTRIBUTIONS) {
          if (dist === 'normal') continue;
          for (const s of attentionDistShapes(sel.size)) out.push(attentionSpec(s, dtype, dist, sel.seed));
        }
        for (let i = 0; i < randomCount; i++) {
          const { shape, dist } = randomAttention(r, i + 1);
          out.push(attentionSpec(shape, dtype, dist, sel.seed));
        }
      }
    }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------------

/** N(0, 1) truncated at ±4: bounded, so scaled values stay inside the type's range. */
function truncNormal(r: Rng): number {
  for (;;) {
    const x = r.normal();
    if (Math.abs(x) <= 4) return x;
  }
}

/** Largest finite value of a type. */
const maxFinite = (dt: DType): number => formatInfo(dt).maxFinite;

/** Target magnitude of results in the "large" distribution: half the 16-bit f16 limit, else far from f32 overflow. */
function largeTarget(outDtype: DType): number {
  return outDtype === 'f16' ? maxFinite('f16') / 2 : 2e36;
}

/** Scale of the big operand in the "large" distribution: 1/8 of the limit (so ±4σ stays finite). */
function largeOperand(dtype: DType): number {
  return dtype === 'f32' ? 1e18 : maxFinite(dtype) / 8;
}

/** Tiny scales [first operand, second operand]: f16 subnormals; products that are f32 subnormals. */
function tinyScales(dtype: DType): [number, number] {
  return dtype === 'f16' ? [2 ** -16, 2 ** -6] : [1e-20, 1e-20];
}

function fill(r: Rng, n: number, dist: Distribution, scale = 1): Float64Array {
  const v = new Float64Array(n);
  if (dist === 'uniform') for (let i = 0; i < n; i++) v[i] = r.uniform(-1, 1) * scale;
  else for (let i = 0; i < n; i++) v[i] = truncNormal(r) * scale;
  return v;
}

/** Injects NaN, +∞ and −∞ at a few random positions (at least one of each when n allows). */
function inject(r: Rng, v: Float64Array, count: number): void {
  const specials = [NaN, Infinity, -Infinity];
  for (let t = 0; t < count && v.length > 0; t++) v[Math.floor(r.next() * v.length)] = specials[t % 3]!;
}

const tensor = (values: Float64Array, shape: number[], dtype: DType): HostTensor => ({ data: encode(values, dtype), shape, dtype });

/** [batch, rows, cols] row-major → [batch, cols, rows]. */
function transpose(v: Float64Array, batch: number, rows: number, cols: number): Float64Array {
  const out = new Float64Array(v.length);
  for (let t = 0; t < batch; t++)
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[t * rows * cols + j * rows + i] = v[t * rows * cols + i * cols + j]!;
  return out;
}

const prod = (s: number[]) => s.reduce((x, y) => x * y, 1);

export function materialize(spec: CaseSpec): ValidationCase {
  return spec.op === 'matmul'
    ? { spec, op: 'matmul', inputs: matmulInputs(spec), options: spec.options }
    : { spec, op: 'attention', inputs: attentionInputs(spec), options: spec.options };
}

function matmulInputs(s: MatmulSpec): MatmulInputs {
  const r = new Rng(s.seed);
  const { m, n, k, dtype, dist } = s;
  const outDtype = s.options.outDtype ?? dtype;
  const ba = prod(s.batchA);
  const bb = prod(s.batchB);
  // Logical op(A) [batchA, m, k] and op(B) [batchB, k, n].
  let aScale = 1;
  let bScale = 1;
  let extraScale = 1; // bias and residual
  if (dist === 'large') {
    const target = largeTarget(outDtype);
    aScale = largeOperand(dtype);
    bScale = Math.min(target / (aScale * Math.sqrt(Math.max(k, 1))), largeOperand(dtype));
    extraScale = target;
  } else if (dist === 'tiny') {
    [aScale, bScale] = tinyScales(dtype);
    extraScale = aScale * bScale;
  }
  const a = fill(r, ba * m * k, dist, aScale);
  const b = fill(r, bb * k * n, dist, bScale);
  if (dist === 'cancel') {
    // Columns p, p+1 of op(A) (in the first 3/4 of K) are opposite (times 64), rows p, p+1 of op(B) equal:
    // those terms cancel exactly (negation and equal values survive rounding to any dtype), leaving a result
    // far smaller than Σ|a||b| (exactly 0 when K <= 3).
    const paired = Math.max(2, Math.floor((k * 3) / 4));
    for (let p = 0; p + 1 < paired && p + 1 < k; p += 2) {
      for (let t = 0; t < ba; t++)
        for (let i = 0; i < m; i++) {
          const o = (t * m + i) * k + p;
          a[o] = a[o]! * 64;
          a[o + 1] = -a[o]!;
        }
      for (let t = 0; t < bb; t++)
        for (let j = 0; j < n; j++) {
          const o = (t * k + p) * n + j;
          b[o] = b[o]! * 64;
          b[o + n] = b[o]!;
        }
    }
  }
  if (dist === 'nonfinite') {
    inject(r, a, 3);
    inject(r, b, 2);
  }
  const aStore = s.options.transA ? transpose(a, ba, m, k) : a;
  const bStore = s.options.transB ? transpose(b, bb, k, n) : b;
  const x: MatmulInputs = {
    a: tensor(aStore, [...s.batchA, ...(s.options.transA ? [k, m] : [m, k])], dtype),
    b: tensor(bStore, [...s.batchB, ...(s.options.transB ? [n, k] : [k, n])], dtype),
  };
  const extra = (shape: number[], dt: DType): HostTensor => {
    const v = fill(r, prod(shape), dist === 'cancel' || dist === 'nonfinite' ? 'normal' : dist, extraScale);
    const limit = maxFinite(dt) / 2;
    for (let i = 0; i < v.length; i++) v[i] = Math.max(-limit, Math.min(limit, v[i]!));
    if (dist === 'nonfinite' && r.next() < 0.5) inject(r, v, 1);
    return tensor(v, shape, dt);
  };
  if (s.bias) x.bias = extra([n], s.bias);
  if (s.residual) x.residual = extra(s.residual.shape, s.residual.dtype);
  return x;
}

/** [b, h, s, x] (bhsd) → [b, s, h, x] (bshd). */
function toBshd(v: Float64Array, b: number, h: number, s: number, x: number): Float64Array {
  const out = new Float64Array(v.length);
  for (let i = 0; i < b; i++)
    for (let j = 0; j < h; j++)
      for (let t = 0; t < s; t++) {
        const src = ((i * h + j) * s + t) * x;
        const dst = ((i * s + t) * h + j) * x;
        for (let c = 0; c < x; c++) out[dst + c] = v[src + c]!;
      }
  return out;
}

function attentionInputs(s: AttentionSpec): AttentionInputs {
  const r = new Rng(s.seed);
  const { b, hq, hkv, sq, skv, d, dv, dtype, dist } = s;
  let qScale = 1;
  let kScale = 1;
  let vScale = 1;
  if (dist === 'large') {
    // A flash kernel's unnormalised accumulator Σ_j e^{s_j−m}·v_j can reach Skv·max|v|: keep that in f32 range.
    vScale = Math.min(maxFinite(dtype === 'f16' ? 'f16' : 'bf16') / 8, 2 ** 124 / Math.max(skv, 1));
    qScale = 4; // a sharper softmax
  } else if (dist === 'tiny') {
    qScale = kScale = dtype === 'f16' ? 2 ** -8 : 1e-20;
    vScale = dtype === 'f16' ? 2 ** -16 : 1e-36;
  }
  const q = fill(r, b * hq * sq * d, dist, qScale);
  const k = fill(r, b * hkv * skv * d, dist, kScale);
  const v = fill(r, b * hkv * skv * dv, dist, vScale);
  if (dist === 'cancel') {
    // Keys 2j and 2j+1 (in the first 3/4 of each row) are equal and their values opposite, times 64:
    // equal scores, so their weighted values cancel exactly.
    const paired = Math.floor((skv * 3) / 4);
    for (let bh = 0; bh < b * hkv; bh++)
      for (let j = 0; j + 1 < paired; j += 2) {
        const kOff = (bh * skv + j) * d;
        for (let x = 0; x < d; x++) k[kOff + d + x] = k[kOff + x]!;
        const vOff = (bh * skv + j) * dv;
        for (let x = 0; x < dv; x++) {
          v[vOff + x] = v[vOff + x]! * 64;
          v[vOff + dv + x] = -v[vOff + x]!;
        }
      }
  }
  if (dist === 'nonfinite') {
    inject(r, q, 1);
    inject(r, k, 2);
    inject(r, v, 3);
  }
  const bshd = s.options.layout === 'bshd';
  const x: AttentionInputs = {
    q: tensor(bshd ? toBshd(q, b, hq, sq, d) : q, bshd ? [b, sq, hq, d] : [b, hq, sq, d], dtype),
    k: tensor(bshd ? toBshd(k, b, hkv, skv, d) : k, bshd ? [b, skv, hkv, d] : [b, hkv, skv, d], dtype),
    v: tensor(bshd ? toBshd(v, b, hkv, skv, dv) : v, bshd ? [b, skv, hkv, dv] : [b, hkv, skv, dv], dtype),
  };
  if (s.mask) {
    const { shape, negInf, fullRows } = s.mask;
    const vals = fill(r, prod(shape), 'normal');
    for (let i = 0; i < vals.length; i++) if (r.next() < negInf) vals[i] = -Infinity;
    const last = shape.at(-1) ?? 1;
    const rows = vals.length / Math.max(last, 1);
    for (let t = 0; t < fullRows && rows > 0; t++) {
      const row = Math.floor(r.next() * rows);
      vals.fill(-Infinity, row * last, (row + 1) * last);
    }
    if (dist === 'nonfinite' && r.next() < 0.5) inject(r, vals, 1);
    x.mask = tensor(vals, shape, 'f32');
  }
  return x;
}
