/**
 * The validation run: every case on every executor, judged against the float64 reference on the same
 * rounded inputs (src/numerics: the bounds of DESIGN.md "Numerics"), then compared across backends and
 * for bitwise repeatability. Aggregates everything into a ValidationReport.
 */
import { DTYPES, isDType } from '../dtype.js';
import { expectAttention, expectMatmul, type Expected } from '../numerics/check.js';
import { compareToReference, type ErrorReport } from '../numerics/compare.js';
import type { Device } from '../device.js';
import type { BackendName, DeviceInfo, DType, OpenOptions } from '../types.js';
import { generateCases, materialize, OPS, type Op, type ValidationCase } from './cases.js';
import { crossCompare } from './cross.js';
import { bitDifferences, determinismVariants, type Variant } from './determinism.js';
import { candidateExecutor, candidateName, deviceExecutor, type Executor, type RawResult } from './executor.js';
import type {
  BackendStatus,
  CaseResult,
  CrossFailure,
  CrossRow,
  DeterminismFailure,
  DeterminismRow,
  SummaryRow,
  ValidateOptions,
  ValidationReport,
} from './types.js';

const KNOWN_BACKENDS: readonly string[] = ['cpu', 'cuda', 'musa', 'webgpu', 'reference'];
/** Details kept per kind of failure; counts stay exact. */
const MAX_DETAILS = 200;

interface Normalized {
  backends?: string[];
  ops: Op[];
  dtypes: DType[];
  size: 'quick' | 'full';
  seed: number;
  filter?: string | RegExp;
  cross: boolean;
  determinism: boolean;
  cpuThreads: number[];
}

function normalize(o: ValidateOptions): Normalized {
  if (o === null || typeof o !== 'object') throw new TypeError(`validate: options must be an object`);
  const list = <T>(name: string, v: readonly T[] | undefined, ok: (x: unknown) => boolean, all: readonly T[]): T[] => {
    if (v === undefined) return [...all];
    if (!Array.isArray(v) || v.length === 0) throw new TypeError(`validate: ${name} must be a non-empty array`);
    for (const x of v) if (!ok(x)) throw new TypeError(`validate: unknown ${name.replace(/s$/, '')} '${String(x)}'; known: ${all.join(', ')}`);
    return [...new Set(v)];
  };
  if (o.backends !== undefined) {
    if (!Array.isArray(o.backends)) throw new TypeError('validate: backends must be an array of backend names');
    for (const b of o.backends) if (!KNOWN_BACKENDS.includes(b)) throw new TypeError(`validate: unknown backend '${String(b)}'; known: ${KNOWN_BACKENDS.join(', ')}`);
  }
  const size = o.size ?? 'quick';
  if (size !== 'quick' && size !== 'full') throw new TypeError(`validate: size must be 'quick' or 'full', got '${String(size)}'`);
  const seed = o.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`validate: seed must be a non-negative integer, got ${String(seed)}`);
  if (o.filter !== undefined && typeof o.filter !== 'string' && !(o.filter instanceof RegExp))
    throw new TypeError(`validate: filter must be a string or a RegExp, got ${typeof o.filter}`);
  const cpuThreads = o.cpuThreads ? [...o.cpuThreads] : [1, 2, 3];
  for (const t of cpuThreads) if (!Number.isInteger(t) || t < 1) throw new RangeError(`validate: cpuThreads must be positive integers, got ${String(t)}`);
  return {
    backends: o.backends ? [...new Set(o.backends)] : undefined,
    ops: list('ops', o.ops, (x) => OPS.includes(x as Op), OPS),
    dtypes: list('dtypes', o.dtypes, isDType, DTYPES),
    size,
    seed,
    filter: o.filter,
    cross: o.cross ?? true,
    determinism: o.determinism ?? true,
    cpuThreads,
  };
}

interface Judged {
  result: CaseResult;
  raw?: RawResult;
}

function judge(c: ValidationCase, expected: Expected, executorName: string, raw: RawResult | null, ms: number): Judged {
  const base = {
    case: c.spec.name,
    op: c.op,
    dtype: c.spec.dtype,
    outDtype: expected.plan.outDtype,
    dist: c.spec.dist,
    backend: executorName,
    ms,
  };
  if (!raw) return { result: { ...base, status: 'skip', worstRatio: 0 } };
  const out = compareToReference(raw.out.values, expected.out, expected.bound, expected.plan.outShape, expected.plan.outDtype);
  let lse: ErrorReport | undefined;
  if (raw.lse && expected.lse && expected.plan.op === 'attention')
    lse = compareToReference(raw.lse.values, expected.lse, expected.lseBound!, expected.plan.lseShape, 'f32');
  const worstRatio = Math.max(out.worstRatio, lse?.worstRatio ?? 0);
  const pass = out.pass && (lse?.pass ?? true);
  return { result: { ...base, status: pass ? 'pass' : 'fail', worstRatio, out, ...(lse ? { lse } : {}) }, raw };
}

async function timed<T>(f: () => Promise<T>): Promise<{ value?: T; error?: unknown; ms: number }> {
  const t0 = performance.now();
  try {
    const value = await f();
    return { value, ms: performance.now() - t0 };
  } catch (error) {
    return { error, ms: performance.now() - t0 };
  }
}

const message = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/**
 * Where validation finds and opens devices: the Node entry's probe()/open() (every backend) or the
 * browser entry's (webgpu and reference). Keeps this module free of either.
 */
export interface ValidationHost {
  probe(): Promise<DeviceInfo[]>;
  open(options: OpenOptions): Promise<Device>;
}

/** Runs validation and returns the report; never throws for a failing backend or candidate (bad options do throw). */
export async function runValidation(options: ValidateOptions, host: ValidationHost): Promise<ValidationReport> {
  const t0 = performance.now();
  const o = normalize(options);
  const devices = await host.probe();
  // Every available backend once (its first device): probe() lists one entry per device, e.g. webgpu:0 and webgpu:1.
  const wanted = o.backends ?? [...new Set(devices.filter((d) => d.available).map((d) => d.backend))];
  const statuses: BackendStatus[] = [];
  const executors: Executor[] = [];
  const variants = new Map<string, Variant[]>();
  let setupFailed = false;

  try {
    for (const name of wanted) {
      const info = devices.find((d) => d.backend === name);
      if (!info?.available) {
        statuses.push({ name, kind: 'backend', available: false, detail: info?.reason ?? 'not found by probe()' });
        setupFailed = true;
        continue;
      }
      try {
        const dev = await host.open({ backend: name as BackendName, ...(options.webgpuDisable ? { webgpuDisable: [...options.webgpuDisable] } : {}) });
        executors.push(deviceExecutor(dev));
        // webgpu: which optional adapter features its kernels use (subgroups...), so a report says which path ran
        const kf = dev.info.features.kernelFeatures as string[] | undefined;
        // and which kernel set (portable or wide: src/backends/webgpu/configs.ts)
        const set = dev.info.features.kernelSet as string | undefined;
        const uses = name === 'webgpu' ? `, kernel features: ${kf?.length ? kf.join(', ') : 'none'}${set ? `, kernels: ${set}` : ''}` : '';
        statuses.push({ name, kind: 'backend', available: true, detail: `${dev.info.name} (${dev.info.architecture}, ${dev.threads} thread${dev.threads > 1 ? 's' : ''}${uses})` });
      } catch (e) {
        statuses.push({ name, kind: 'backend', available: false, detail: `open failed: ${message(e)}` });
        setupFailed = true;
      }
    }
    if (options.candidate !== undefined) {
      const ex = candidateExecutor(options.candidate);
      if (executors.some((e) => e.name === ex.name)) throw new TypeError(`validate: the candidate's name '${ex.name}' is also a backend's`);
      executors.push(ex);
      statuses.push({ name: candidateName(options.candidate), kind: 'candidate', available: true, detail: 'user-supplied implementation' });
    }
    if (o.determinism) for (const ex of executors) variants.set(ex.name, await determinismVariants(ex, ex.kind === 'backend' ? o.cpuThreads : [], host.open));

    let specs = generateCases({ ops: o.ops, dtypes: o.dtypes, size: o.size, seed: o.seed });
    if (o.filter !== undefined) {
      const f = o.filter;
      specs = specs.filter((s) => (typeof f === 'string' ? s.name.includes(f) : f.test(s.name)));
    }

    const results: CaseResult[] = [];
    const crossFailures: CrossFailure[] = [];
    const determinismFailures: DeterminismFailure[] = [];
    const crossRows = new Map<string, CrossRow>();
    const detRows = new Map<string, DeterminismRow>();
    for (const ex of executors)
      detRows.set(ex.name, {
        backend: ex.name,
        variants: (variants.get(ex.name) ?? []).map((v) => v.label),
        checks: 0,
        mismatches: 0,
        pass: true,
      });

    let done = 0;
    for (const spec of specs) {
      const c = materialize(spec);
      const expected = c.op === 'matmul' ? expectMatmul(c.inputs, c.options) : expectAttention(c.inputs, c.options);
      const raws = new Map<string, RawResult>();
      for (const ex of executors) {
        const r = await timed(() => ex.run(c, expected.plan));
        if (r.error !== undefined) {
          results.push({
            case: spec.name,
            op: c.op,
            dtype: spec.dtype,
            outDtype: expected.plan.outDtype,
            dist: spec.dist,
            backend: ex.name,
            status: 'error',
            worstRatio: Infinity,
            error: message(r.error),
            ms: r.ms,
          });
          continue;
        }
        const j = judge(c, expected, ex.name, r.value ?? null, r.ms);
        results.push(j.result);
        if (j.raw) raws.set(ex.name, j.raw);
      }

      // Cross-backend: every pair that both produced a result.
      if (o.cross)
        for (let i = 0; i < executors.length; i++)
          for (let k = i + 1; k < executors.length; k++) {
            const A = executors[i]!.name;
            const B = executors[k]!.name;
            const ra = raws.get(A);
            const rb = raws.get(B);
            if (!ra || !rb) continue;
            const key = `${A}\u0000${B}\u0000${c.op}\u0000${spec.dtype}`;
            const row = crossRows.get(key) ?? { a: A, b: B, op: c.op, dtype: spec.dtype, compared: 0, disagreements: 0, worstRatio: 0, worstCase: '' };
            crossRows.set(key, row);
            const tensors: ['out' | 'lse', ErrorReport][] = [
              ['out', crossCompare(ra.out.values, rb.out.values, expected.out, expected.bound, expected.bound, expected.plan.outShape, expected.plan.outDtype)],
            ];
            if (ra.lse && rb.lse && expected.lse && expected.plan.op === 'attention')
              tensors.push(['lse', crossCompare(ra.lse.values, rb.lse.values, expected.lse, expected.lseBound!, expected.lseBound!, expected.plan.lseShape, 'f32')]);
            row.compared++;
            let agree = true;
            for (const [tensor, report] of tensors) {
              if (report.worstRatio > row.worstRatio || row.worstCase === '') {
                row.worstRatio = Math.max(row.worstRatio, report.worstRatio);
                row.worstCase = spec.name;
              }
              if (!report.pass) {
                agree = false;
                if (crossFailures.length < MAX_DETAILS) crossFailures.push({ case: spec.name, a: A, b: B, tensor, report });
              }
            }
            if (!agree) row.disagreements++;
          }

      // Determinism: the first run against a repeat and (cpu) other thread counts.
      if (o.determinism)
        for (const ex of executors) {
          const first = raws.get(ex.name);
          if (!first) continue;
          const row = detRows.get(ex.name)!;
          for (const v of variants.get(ex.name) ?? []) {
            row.checks++;
            const r = await timed(() => v.executor.run(c, expected.plan));
            const diffs = r.error !== undefined || !r.value ? [{ tensor: 'out' as const, index: -1, first: NaN, other: NaN, differing: -1 }] : bitDifferences(first, r.value);
            if (diffs.length > 0) {
              row.mismatches++;
              row.pass = false;
              for (const d of diffs)
                if (determinismFailures.length < MAX_DETAILS) determinismFailures.push({ case: spec.name, backend: ex.name, variant: v.label, ...d });
            }
          }
        }

      done++;
      options.onProgress?.(done, specs.length, spec.name);
    }

    const summary = summarize(results, o);
    const failures = results.filter((r) => r.status === 'fail' || r.status === 'error');
    const cross = [...crossRows.values()];
    const determinism = [...detRows.values()];
    const pass =
      !setupFailed &&
      executors.length > 0 &&
      specs.length > 0 &&
      failures.length === 0 &&
      cross.every((r) => r.disagreements === 0) &&
      determinism.every((r) => r.pass);
    return {
      pass,
      size: o.size,
      seed: o.seed,
      ops: o.ops,
      dtypes: o.dtypes,
      ...(o.filter !== undefined ? { filter: String(o.filter) } : {}),
      backends: statuses,
      cases: specs.length,
      summary,
      cross,
      determinism,
      failures,
      crossFailures,
      determinismFailures,
      results,
      ms: performance.now() - t0,
    };
  } finally {
    for (const vs of variants.values()) for (const v of vs) if (v.label !== 'repeat') v.executor.dispose();
    for (const ex of executors) ex.dispose();
  }
}

function summarize(results: CaseResult[], o: Normalized): SummaryRow[] {
  const rows = new Map<string, SummaryRow>();
  for (const r of results) {
    const key = `${r.backend}\u0000${r.op}\u0000${r.dtype}`;
    let row = rows.get(key);
    if (!row) {
      row = { backend: r.backend, op: r.op, dtype: r.dtype, cases: 0, passed: 0, failed: 0, skipped: 0, worstRatio: 0, worstCase: '', worstRatioF32Out: null, maxUlp: 0, worstNmse: 0, ms: 0 };
      rows.set(key, row);
    }
    row.cases++;
    row.ms += r.ms;
    if (r.status === 'skip') {
      row.skipped++;
      continue;
    }
    if (r.status === 'pass') row.passed++;
    else row.failed++;
    if (r.worstRatio > row.worstRatio || row.worstCase === '') {
      row.worstRatio = Math.max(row.worstRatio, r.worstRatio);
      row.worstCase = r.case;
    }
    if (r.outDtype === 'f32') row.worstRatioF32Out = Math.max(row.worstRatioF32Out ?? 0, r.worstRatio);
    for (const e of [r.out, r.lse]) {
      if (!e) continue;
      row.maxUlp = Math.max(row.maxUlp, e.maxUlp);
      row.worstNmse = Math.max(row.worstNmse, e.nmse);
    }
  }
  // Stable order: backends as run, then op, then dtype order.
  const backendOrder = [...new Set(results.map((r) => r.backend))];
  const key = (r: SummaryRow) => [backendOrder.indexOf(r.backend), o.ops.indexOf(r.op), o.dtypes.indexOf(r.dtype)];
  return [...rows.values()].sort((x, y) => {
    const [a0, a1, a2] = key(x);
    const [b0, b1, b2] = key(y);
    return a0! - b0! || a1! - b1! || a2! - b2!;
  });

}
