/** The public types of `validate`: its options, the candidate ("bring your own kernel") API and the report. */
import type { AttentionCaseOptions, AttentionInputs, MatmulCaseOptions, MatmulInputs } from '../numerics/check.js';
import type { ErrorEntry, ErrorReport } from '../numerics/compare.js';
import type { AttentionPlan } from '../ops/attention.js';
import type { MatmulPlan } from '../ops/matmul.js';
import type { DType, HostData, WebGpuOptionalFeature } from '../types.js';
import type { Distribution, Op, Size } from './cases.js';

export type { Distribution, Op, Size } from './cases.js';

/**
 * One problem handed to a candidate. `inputs` are host tensors already rounded to their dtype (f32 as a
 * Float32Array; f16/bf16 as raw bits in a Uint16Array — `decode(t.data, t.dtype)` gives float64 values),
 * each contiguous row-major in its own `shape`. `plan` is kernelport's checked description of the op
 * (shapes, transposes, broadcast strides, output shape and dtype); `options` are the op's options as a
 * kernelport user would pass them (without the tensors). The inputs are the candidate's own copies.
 *
 * matmul: `out = act(alpha · op(a) · op(b) + bias) + beta · residual`, shape `plan.outShape`.
 * attention: `softmax(scale · q kᵀ + mask) v` with `options.causal`, `options.kvLengths`, layout
 * `plan.layout`, GQA when `plan.hq > plan.hkv`; shape `plan.outShape`, optional lse `[B, Hq, Sq]`.
 */
export type CandidateCall =
  | { op: 'matmul'; name: string; plan: MatmulPlan; inputs: MatmulInputs; options: MatmulCaseOptions }
  | { op: 'attention'; name: string; plan: AttentionPlan; inputs: AttentionInputs; options: AttentionCaseOptions };

/**
 * An output: values (Float32Array, Float64Array or number[]) in `plan.outShape` row-major order, or the
 * raw bits of `plan.outDtype` in a Uint16Array when that is f16/bf16. Values are judged as given, so a
 * candidate that returns f32 values for an f16 output is judged as if it had rounded them.
 */
export type CandidateOutput = HostData | Float64Array | readonly number[];

/**
 * What a candidate returns: the output, or `{ out, lse }` (attention; `lse` is judged when given), or
 * `null`/`undefined` for a case it does not support (counted as skipped, never as a failure).
 * Throwing, or returning the wrong number of elements, fails the case.
 */
export type CandidateResult = CandidateOutput | { out: CandidateOutput; lse?: Float32Array | Float64Array | readonly number[] } | null | undefined;

/** A kernel under test: sync or async. */
export type CandidateFn = (call: CandidateCall) => CandidateResult | Promise<CandidateResult>;

/** A named candidate; a bare function is named 'candidate'. */
export interface Candidate {
  name?: string;
  run: CandidateFn;
}

export interface ValidateOptions {
  /** Backends to validate (default: every available one). Unknown names throw; unavailable ones fail the report. */
  backends?: readonly string[];
  /** Default: both. */
  ops?: readonly Op[];
  /** Input dtypes (default: f32, f16, bf16). */
  dtypes?: readonly DType[];
  /** 'quick' (CI-sized, the default) or 'full'. */
  size?: Size;
  /** Seed of every value (default 1): a run is reproduced by its seed. */
  seed?: number;
  /** Runs only the cases whose name contains this string (or matches this RegExp). */
  filter?: string | RegExp;
  /** An external implementation judged with the same cases, compared with every backend and for determinism. */
  candidate?: CandidateFn | Candidate;
  /** Pairwise comparison of backends on identical inputs (default true). */
  cross?: boolean;
  /** Repeated runs (and cpu thread counts) bitwise equal (default true). */
  determinism?: boolean;
  /** cpu thread counts compared with the default device (default [1, 2, 3]). */
  cpuThreads?: readonly number[];
  /** Called once per case, after it ran everywhere. */
  onProgress?: (done: number, total: number, name: string) => void;
  /** webgpu: optional adapter features not to use (the fallback paths), as open({ webgpuDisable }). */
  webgpuDisable?: readonly WebGpuOptionalFeature[];
}

/** One case on one backend (or candidate), judged against the float64 reference. */
export interface CaseResult {
  case: string;
  op: Op;
  dtype: DType;
  outDtype: DType;
  dist: Distribution;
  backend: string;
  status: 'pass' | 'fail' | 'skip' | 'error';
  /** max over out and lse of the worst error as a multiple of its bound. */
  worstRatio: number;
  out?: ErrorReport;
  lse?: ErrorReport;
  /** The exception a run raised (status 'error'). */
  error?: string;
  ms: number;
}

/** Per backend × op × dtype. */
export interface SummaryRow {
  backend: string;
  op: Op;
  dtype: DType;
  cases: number;
  passed: number;
  failed: number;
  skipped: number;
  worstRatio: number;
  /** The case with that worst ratio. */
  worstCase: string;
  /**
   * The worst ratio over cases with an f32 output only. With a 16-bit output the final rounding (u_out·|ref|,
   * part of every bound) dominates and puts even a correctly rounded float64 result close to 1; f32 outputs
   * show the accumulation error itself. null when no case had an f32 output.
   */
  worstRatioF32Out: number | null;
  maxUlp: number;
  worstNmse: number;
  ms: number;
}

/** Two backends compared element by element with the combined bound (bound_A + bound_B). */
export interface CrossRow {
  a: string;
  b: string;
  op: Op;
  dtype: DType;
  compared: number;
  disagreements: number;
  worstRatio: number;
  worstCase: string;
}

export interface CrossFailure {
  case: string;
  a: string;
  b: string;
  /** 'out' or 'lse'; in `worst`, got is a's value and expected is b's, bound the combined bound. */
  tensor: 'out' | 'lse';
  report: ErrorReport;
}

/** Bitwise repeatability, per backend. */
export interface DeterminismRow {
  backend: string;
  /** What was compared with the first run: 'repeat', 'threads=1', ... */
  variants: string[];
  checks: number;
  mismatches: number;
  pass: boolean;
}

export interface DeterminismFailure {
  case: string;
  backend: string;
  variant: string;
  tensor: 'out' | 'lse';
  /** First differing element (flat index) and its two values. */
  index: number;
  first: number;
  other: number;
  differing: number;
}

export interface BackendStatus {
  name: string;
  kind: 'backend' | 'candidate';
  available: boolean;
  /** Device description, or why it could not run. */
  detail: string;
}

export interface ValidationReport {
  pass: boolean;
  size: Size;
  seed: number;
  ops: Op[];
  dtypes: DType[];
  filter?: string;
  backends: BackendStatus[];
  cases: number;
  summary: SummaryRow[];
  cross: CrossRow[];
  determinism: DeterminismRow[];
  /** Every case that did not pass, on every backend (with its worst elements). */
  failures: CaseResult[];
  crossFailures: CrossFailure[];
  determinismFailures: DeterminismFailure[];
  /** Every case result (large; the JSON output carries it). */
  results: CaseResult[];
  ms: number;
}

export type { ErrorEntry, ErrorReport };
