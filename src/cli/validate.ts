/**
 * `kernelport validate`: numerics validation of every available backend (or --backends) against the
 * float64 reference, across backends and for determinism. Exit 0 all passed, 1 any failure, 2 bad usage.
 */
import { writeFileSync } from 'node:fs';
import { DTYPES } from '../dtype.js';
import { OPS, type Op } from '../validate/cases.js';
import { formatJson, formatMarkdown, formatTerminal } from '../validate/report.js';
import { validate } from '../validate/index.js';
import type { DType, WebGpuOptionalFeature } from '../types.js';
import { UsageError, type Command } from './args.js';

const BACKENDS = ['cpu', 'cuda', 'musa', 'webgpu', 'reference'];
const WEBGPU_FEATURES: readonly WebGpuOptionalFeature[] = ['subgroups', 'timestamp-query'];

function names<T extends string>(flag: string, value: string | true | undefined, known: readonly T[]): T[] | undefined {
  if (value === undefined) return undefined;
  if (value === true) throw new UsageError(`--${flag} needs a value`);
  const list = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new UsageError(`--${flag} needs a comma-separated list (${known.join(', ')})`);
  for (const x of list) if (!known.includes(x as T)) throw new UsageError(`--${flag}: unknown '${x}' (known: ${known.join(', ')})`);
  return list as T[];
}

export const validateCommand: Command = {
  name: 'validate',
  summary: 'numerics validation: every backend vs the float64 reference, backends vs each other, determinism',
  flags: {
    backends: { type: 'string', help: `comma-separated (${BACKENDS.join(', ')}); default: every available one` },
    ops: { type: 'string', help: 'matmul,attention (default both)' },
    dtypes: { type: 'string', help: 'f32,f16,bf16 (default all)' },
    quick: { type: 'bool', help: 'CI-sized suite, under a minute on a CPU (the default)' },
    full: { type: 'bool', help: 'the full suite: more shapes, longer K and Skv, more random cases' },
    seed: { type: 'string', help: 'seed of all values (default 1); a failure is reproduced with it' },
    case: { type: 'string', help: 'run only the cases whose name contains this text' },
    json: { type: 'bool', help: 'print the whole report as JSON' },
    md: { type: 'string', help: 'also write a Markdown report to this file' },
    'webgpu-disable': { type: 'string', help: 'webgpu: optional adapter features not to use (subgroups,timestamp-query): the fallback kernels' },
  },
  async run(args, log) {
    const f = args.flags;
    if (f.has('quick') && f.has('full')) throw new UsageError('--quick and --full exclude each other');
    const seedFlag = f.get('seed');
    let seed: number | undefined;
    if (seedFlag !== undefined) {
      seed = Number(seedFlag);
      if (seedFlag === true || !/^\d+$/.test(seedFlag) || !Number.isSafeInteger(seed)) throw new UsageError(`--seed must be a non-negative integer, got '${String(seedFlag)}'`);
    }
    const md = f.get('md');
    const filter = f.get('case');
    const json = f.has('json');
    const progress = !json && process.stderr.isTTY;
    const report = await validate({
      backends: names('backends', f.get('backends'), BACKENDS),
      ops: names<Op>('ops', f.get('ops'), OPS),
      dtypes: names<DType>('dtypes', f.get('dtypes'), DTYPES),
      size: f.has('full') ? 'full' : 'quick',
      ...(seed !== undefined ? { seed } : {}),
      ...(typeof filter === 'string' ? { filter } : {}),
      ...(f.has('webgpu-disable') ? { webgpuDisable: names<WebGpuOptionalFeature>('webgpu-disable', f.get('webgpu-disable'), WEBGPU_FEATURES) } : {}),
      ...(progress ? { onProgress: (done: number, total: number) => process.stderr.write(`\r${done}/${total} cases`) } : {}),
    });
    if (progress) process.stderr.write('\r\x1b[K');
    if (typeof md === 'string') writeFileSync(md, formatMarkdown(report));
    log(json ? formatJson(report) : formatTerminal(report));
    if (typeof md === 'string' && !json) log(`Markdown report written to ${md}`);
    return report.pass ? 0 : 1;
  },
};
