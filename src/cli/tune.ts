/**
 * `kernelport tune`: times the candidate configurations (src/tune/candidates.ts) for the shape classes
 * of the bench suites (or of shapes given by flags) on each backend asked for, prints them per device
 * with the winner and its speedup over the built-in heuristic, and saves the winners in the tune cache,
 * where open({ autotune: true | 'cache' }) finds them.
 */
import { BenchInputError } from '../bench/errors.js';
import { parseDtypes, shapeCases, shapeLabel, suiteCases, DEFAULT_SUITES, SUITES, type ShapeSpec } from '../bench/suites.js';
import type { BenchCase } from '../bench/types.js';
import type { Device } from '../device.js';
import { open, tuneIdentity } from '../open.js';
import { tuneClass, variantOf } from '../select/explain.js';
import type { OpDesc } from '../select/rank.js';
import { defaultTuneCacheFile } from '../tune/cache.js';
import { configLabel, sameConfig, tuneCandidates } from '../tune/candidates.js';
import type { DeviceIdentity, TuneResult } from '../tune/tuner.js';
import { flagReaders, shapeFlags, UsageError, type Command, type Parsed } from './args.js';
import { table } from './table.js';

const s = (help: string) => ({ type: 'string' as const, help });
const b = (help: string) => ({ type: 'bool' as const, help });

export const TUNE_REPORT_SCHEMA = 'kernelport-tune-report/1';

export interface TuneReport {
  schema: typeof TUNE_REPORT_SCHEMA;
  cacheFile: string;
  quick: boolean;
  devices: {
    device: string;
    backend: string;
    identity?: DeviceIdentity;
    /** Why nothing was tuned on it (unavailable, nothing to tune). */
    skipped?: string;
    results: (TuneResult & { case: string; label: string })[];
    /** Cases whose shape class an earlier case of this run already tuned. */
    sameClass: { case: string; shapeClass: string }[];
  }[];
}

export const tuneCommand: Command = {
  name: 'tune',
  summary: 'autotune: time candidate kernel configurations per shape class and cache the winners (see open({ autotune }))',
  flags: {
    backends: s('backends to tune, comma-separated: cpu, webgpu, cuda, musa (default cpu)'),
    suite: s(`shapes of these bench suites, comma-separated: ${Object.keys(SUITES).join(', ')} (default: all, when no --op)`),
    op: s('matmul | attention: tune the shapes given by --m/--k/--n or --batch/--heads/--kv-heads/--sq/--skv/--d/--causal'),
    m: s('matmul M list'),
    k: s('matmul K list'),
    n: s('matmul N list'),
    batch: s('attention B list (default 1)'),
    heads: s('attention query heads list (default 32)'),
    'kv-heads': s('attention kv heads list (default = heads)'),
    sq: s('attention query length list'),
    skv: s('attention key/value length list (default = sq)'),
    d: s('attention head dim list (default 128)'),
    causal: b('attention: bottom-right causal'),
    'allow-p16': b('attention, f16/bf16: allowP16 (P rounded to 16 bits), tuned as its own class'),
    'allow-tf32': b('matmul, f32: allowTf32 (TF32 tensor cores on cuda), tuned as its own class'),
    dtype: s('f32,f16,bf16 (default f32)'),
    threads: s('cpu threads of the device tuned (default: usable cores); winners are kept per thread count'),
    quick: b('fewer candidates and samples'),
    cache: s('the tune cache file (default KERNELPORT_TUNE_CACHE, else ~/.cache/kernelport/tune.json)'),
    json: b('print the JSON report'),
  },
  async run(args, log) {
    try {
      return await runTune(args, log);
    } catch (e) {
      if (e instanceof BenchInputError) throw new UsageError(e.message);
      throw e;
    }
  },
};

const TUNABLE = ['cpu', 'webgpu', 'cuda', 'musa'];

function descOf(c: BenchCase, allow: { p16: boolean; tf32: boolean }): OpDesc {
  if (c.op === 'matmul') return { op: 'matmul', m: c.m, n: c.n, k: c.k, dtype: c.dtype, ...(allow.tf32 && c.dtype === 'f32' ? { allowTf32: true } : {}) };
  const p16 = allow.p16 && c.dtype !== 'f32' ? { allowP16: true } : {};
  return { op: 'attention', batch: c.batch, hq: c.hq, hkv: c.hkv, sq: c.sq, skv: c.skv, d: c.d, dv: c.d, causal: c.causal, dtype: c.dtype, ...p16 };
}

async function runTune(args: Parsed, log: (line: string) => void): Promise<number> {
  const f = args.flags;
  const { str, list } = flagReaders(f);
  const json = f.has('json');
  const quick = f.has('quick');
  const notice = json ? (line: string) => console.error(line) : log;
  const backends = list('backends') ?? ['cpu'];
  for (const be of backends)
    if (!TUNABLE.includes(be))
      throw new UsageError(be === 'reference' ? `--backends: ${be} has nothing to tune (tunable: ${TUNABLE.join(', ')})` : `--backends: unknown backend '${be}' (tunable: ${TUNABLE.join(', ')})`);
  const threadsArg = str('threads');
  const threads = threadsArg === undefined ? undefined : Number(threadsArg);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 1024)) throw new UsageError(`--threads must be an integer in [1, 1024], got '${threadsArg}'`);

  const op = str('op');
  const suites = list('suite');
  if (op && suites) throw new UsageError('--suite and --op are exclusive');
  const dtypes = parseDtypes(list('dtype'));
  const spec: ShapeSpec | undefined = shapeFlags(f, op, false);
  const cases = spec ? shapeCases(spec, dtypes) : suiteCases(suites ?? DEFAULT_SUITES, dtypes);
  const cacheFile = str('cache') ?? defaultTuneCacheFile();

  const report: TuneReport = { schema: TUNE_REPORT_SCHEMA, cacheFile, quick, devices: [] };
  for (const backend of backends) {
    let dev: Device;
    try {
      dev = await open({ backend: backend as 'cpu' | 'webgpu' | 'cuda' | 'musa', threads: backend === 'cpu' ? threads : undefined, autotune: true, tuneCache: cacheFile });
    } catch (e) {
      const why = (e as Error).message;
      report.devices.push({ device: `${backend}:0`, backend, skipped: why, results: [], sameClass: [] });
      notice(`${backend}: skipped: ${why}`);
      continue;
    }
    const entry: TuneReport['devices'][number] = { device: `${dev.info.backend}:${dev.info.index}`, backend, identity: tuneIdentity(dev.info, dev.threads), results: [], sameClass: [] };
    report.devices.push(entry);
    try {
      const seen = new Map<string, string>();
      for (const c of cases) {
        const desc = descOf(c, { p16: f.has('allow-p16'), tf32: f.has('allow-tf32') });
        if (!dev.supports(desc.op, desc).ok) {
          notice(`${entry.device} ${c.id}: skipped: ${dev.supports(desc.op, desc).reason}`);
          continue;
        }
        if (!tuneCandidates(dev.info, dev.threads, desc)) {
          entry.skipped = `${backend} has nothing to tune`;
          break;
        }
        const cls = tuneClass(variantOf(dev.info, desc).variant, desc);
        const earlier = seen.get(cls);
        if (earlier) {
          // one measurement per class: a later case of the same class would only re-measure it
          entry.sameClass.push({ case: c.id, shapeClass: cls });
          notice(`${entry.device} ${c.id}: same shape class as ${earlier} (${cls})`);
          continue;
        }
        if (!json) console.error(`tuning ${entry.device} ${c.id} (${shapeLabel(c)})...`);
        const r = await dev.tune(desc.op, desc, { quick });
        if (!r) continue;
        seen.set(cls, c.id);
        entry.results.push({ ...r, case: c.id, label: shapeLabel(c) });
      }
    } finally {
      dev.dispose();
    }
  }

  if (json) {
    log(JSON.stringify(report, null, 2));
    return 0;
  }
  for (const d of report.devices) {
    log('');
    if (d.skipped && d.results.length === 0) {
      log(`${d.device}: skipped: ${d.skipped}`);
      continue;
    }
    const id = d.identity!;
    log(`${d.device}  ${id.name} (${id.architecture}${id.threads !== undefined ? `, ${id.threads} threads` : ''}${id.driver ? `, ${id.driver}` : ''})`);
    log(tuneTable(d.results));
  }
  log(`\nwinners saved to ${cacheFile}; open({ autotune: true }) or open({ autotune: 'cache' }) uses them`);
  return 0;
}

/** One block of rows per case: its candidates with median times; the winner and the built-in marked. */
export function tuneTable(results: (TuneResult & { case: string; label: string })[]): string {
  const rows: (string | number)[][] = [];
  for (const r of results) {
    r.candidates.forEach((c, i) => {
      const isWinner = sameConfig(c.config, r.winner);
      const isDefault = sameConfig(c.config, r.default);
      const mark = [isWinner ? 'winner' : '', isDefault ? 'built-in' : ''].filter(Boolean).join(', ');
      rows.push([
        i === 0 ? r.case : '',
        i === 0 ? r.shapeClass : '',
        c.label,
        c.medianMs,
        (r.defaultMs / c.medianMs).toFixed(2) + 'x',
        mark,
      ]);
    });
    rows.push(['', '', `-> ${configLabel(r.winner)}`, r.winnerMs, `${r.speedup.toFixed(2)}x`, 'chosen']);
  }
  return table(['case', 'shape class', 'candidate', 'median ms', 'speed vs built-in', ''], rows);
}
