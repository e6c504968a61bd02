/** `kernelport bench`: ops × shapes × dtypes × backends, with peers in the same run. See bench/README.md. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { calibrateCpu, calibrationKey } from '../bench/calibrate.js';
import { compareReports, comparisonTable } from '../bench/compare.js';
import { BenchInputError } from '../bench/errors.js';
import { reportTable } from '../bench/output/table.js';
import { parseReport, toJson } from '../bench/output/json.js';
import { toCsv } from '../bench/output/csv.js';
import { toSvg } from '../bench/output/svg.js';
import { progressBar } from '../bench/progress.js';
import { bench, type BenchOptions } from '../bench/runner.js';
import { SUITES, type ShapeSpec } from '../bench/suites.js';
import type { BenchReport } from '../bench/types.js';
import { open } from '../open.js';
import { packageRoot } from '../native.js';
import { join } from 'node:path';
import { flagReaders, shapeFlags, UsageError, type Command, type Parsed } from './args.js';

const s = (help: string) => ({ type: 'string' as const, help });
const b = (help: string) => ({ type: 'bool' as const, help });

export const benchCommand: Command = {
  name: 'bench',
  summary: 'time matmul/attention over suites or shapes, beside peers (onnxruntime-node), with roofline %',
  flags: {
    suite: s(`named suites, comma-separated: ${Object.keys(SUITES).join(', ')} (default: all, when no --op)`),
    op: s('matmul | attention: bench the shapes given by the flags below'),
    m: s('matmul M list, e.g. 1,512'),
    k: s('matmul K list'),
    n: s('matmul N list'),
    activation: s('matmul epilogue: none | relu | gelu | gelu_tanh | silu'),
    bias: b('matmul: add a bias [N]'),
    batch: s('attention B list (default 1)'),
    heads: s('attention query heads list (default 32)'),
    'kv-heads': s('attention kv heads list (default = heads; fewer = GQA)'),
    sq: s('attention query length list'),
    skv: s('attention key/value length list (default = sq)'),
    d: s('attention head dim list (default 128)'),
    causal: b('attention: bottom-right causal'),
    dtype: s('f32,f16,bf16 (default f32)'),
    backend: s('kernelport backends, comma-separated (default cpu; reference only with small shapes)'),
    backends: s('the same as --backend (the spelling validate uses)'),
    peer: s("peers, comma-separated (default onnxruntime-node; 'none' for none)"),
    'peer-module': s('a JS module whose default export is a Peer (see bench/README.md)'),
    threads: s('cpu threads for kernelport and peers (default: usable cores)'),
    'min-time': s('seconds of measured time per case and runner (default 1)'),
    warmup: s('seconds of warm-up per case and runner (default 0.2)'),
    json: b('print the JSON report (schema in bench/README.md)'),
    csv: b('print CSV'),
    out: s('also write the JSON report to this file'),
    plot: s('write a roofline + scaling chart as SVG to this file'),
    compare: s('a baseline JSON report: speedup/regression per row; exit 1 past the threshold'),
    threshold: s('smallest relative change that counts in --compare (default 0.05; widened by noise)'),
    calibrate: b("measure this machine's peak FLOP/s and bandwidth now and cache them (alone: only that)"),
    'no-calibrate': b('never measure peaks: use cached or table/estimate peaks'),
  },
  async run(args, log) {
    return runBench(args, log);
  },
};

async function runBench(args: Parsed, log: (line: string) => void): Promise<number> {
  const f = args.flags;
  const { str, list } = flagReaders(f);
  const num = (name: string): number | undefined => {
    const v = str(name);
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!Number.isFinite(x) || x <= 0) throw new UsageError(`--${name} must be a positive number, got '${v}'`);
    return x;
  };
  const json = f.has('json');
  const csv = f.has('csv');
  if (json && csv) throw new UsageError('--json and --csv are exclusive');
  if (f.has('calibrate') && f.has('no-calibrate')) throw new UsageError('--calibrate and --no-calibrate are exclusive');
  const threads = num('threads');
  if (threads !== undefined && !Number.isInteger(threads)) throw new UsageError(`--threads must be an integer, got '${str('threads')}'`);
  const notice = json || csv ? (line: string) => console.error(line) : log;

  try {
    // A bad baseline is a usage error before anything runs.
    let baseline: BenchReport | undefined;
    const cmpPath = str('compare');
    if (cmpPath) {
      if (!existsSync(cmpPath)) throw new BenchInputError(`--compare: no such file '${cmpPath}'`);
      baseline = parseReport(readFileSync(cmpPath, 'utf8'), cmpPath);
    }
    const threshold = num('threshold');

    const op = str('op');
    const shapes: ShapeSpec | undefined = shapeFlags(f, op, true);
    const suites = list('suite');
    if (f.has('backend') && f.has('backends')) throw new UsageError('--backend and --backends are the same flag: give one');

    if (f.has('calibrate') && !op && !suites) return await calibrateOnly(threads, json, log);

    const peerNames = list('peer') ?? ['onnxruntime-node'];
    const peers: BenchOptions['peers'] = peerNames.includes('none') ? [] : [...peerNames];
    const mod = str('peer-module');
    if (mod) {
      const { loadPeerModule } = await import('../bench/peers/index.js');
      peers.push(await loadPeerModule(mod));
    }
    const progress = progressBar(!json && !csv && !!process.stdout.isTTY && !!process.stderr.isTTY);
    let report: BenchReport;
    try {
      report = await bench({
        suites,
        shapes,
        dtypes: list('dtype') as BenchOptions['dtypes'],
        backends: list('backend') ?? list('backends'),
        peers,
        threads,
        minTime: num('min-time'),
        warmup: str('warmup') === '0' ? 0 : num('warmup'),
        calibrate: f.has('calibrate') ? 'force' : f.has('no-calibrate') ? 'never' : 'auto',
        onProgress: (p) => progress.update(p),
        log: notice,
      });
    } finally {
      progress.done();
    }

    if (json) log(toJson(report).trimEnd());
    else if (csv) log(toCsv(report).trimEnd());
    else log(reportTable(report));
    const out = str('out');
    if (out) writeFileSync(out, toJson(report));
    const plot = str('plot');
    if (plot) {
      writeFileSync(plot, toSvg(report));
      notice(`wrote ${plot}`);
    }
    if (baseline) {
      const c = compareReports(report, baseline, { threshold });
      notice(`\ncompared with ${cmpPath}:\n${comparisonTable(c)}`);
      if (c.regressions > 0) return 1;
    }
    return report.rows.some((r) => r.error) ? 1 : 0;
  } catch (e) {
    if (e instanceof BenchInputError) throw new UsageError(e.message);
    throw e;
  }
}

async function calibrateOnly(threads: number | undefined, json: boolean, log: (line: string) => void): Promise<number> {
  const dev = await open({ backend: 'cpu', threads });
  const version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  try {
    const key = calibrationKey(dev.info, version, dev.threads);
    const cal = await calibrateCpu(key, dev.threads);
    if (json) {
      log(JSON.stringify(cal, null, 2));
      return 0;
    }
    log(`calibrated ${key}:`);
    for (const i of cal.isas) log(`  ${i.isa.padEnd(8)} FMA throughput ${(i.flopsF32 / 1e9).toFixed(1)} GFLOP/s f32${i.isa === cal.activeIsa ? '  (the cpu backend runs this path)' : ''}`);
    log(`  streaming read ${(cal.readBandwidth / 1e9).toFixed(1)} GB/s over ${(cal.bufferBytes / 2 ** 20).toFixed(0)} MiB`);
    log(`  took ${cal.seconds.toFixed(1)} s on ${cal.threads} threads; cached in ${(await import('../bench/calibrate.js')).cacheFile()}`);
    return 0;
  } finally {
    dev.dispose();
  }
}
