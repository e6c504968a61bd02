/** One CSV line per row: case, shape, runner, statistics (ms) and metrics. */
import { shapeLabel } from '../suites.js';
import type { BenchReport } from '../types.js';

const COLUMNS = [
  'case', 'op', 'dtype', 'shape', 'runner', 'backend', 'status', 'median_ms', 'min_ms', 'p10_ms', 'p90_ms', 'spread', 'noisy', 'samples',
  'iters_per_sample', 'flops', 'bytes', 'flop_per_byte', 'gflops', 'gbytes_per_s', 'pct_peak_flops', 'pct_peak_bw', 'pct_roofline',
  'peak_source', 'ratios',
];

const q = (v: unknown): string => {
  const s = v === undefined || v === null ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function toCsv(r: BenchReport): string {
  const lines = [COLUMNS.join(',')];
  for (const row of r.rows) {
    const s = row.stats;
    const m = (x: number | undefined) => (x === undefined ? '' : (x * 1e3).toPrecision(6));
    const rf = row.roofline;
    lines.push(
      [
        row.case.id, row.case.op, row.case.dtype, shapeLabel(row.case), row.runner, row.backend,
        s ? 'ok' : row.skipped ? `skipped: ${row.skipped}` : `error: ${row.error ?? ''}`,
        m(s?.median), m(s?.min), m(s?.p10), m(s?.p90), s?.spread.toFixed(4), s?.noisy, s?.samples, s?.itersPerSample,
        row.flops, row.bytes, row.intensity.toFixed(3),
        row.flopsPerSec === undefined ? '' : (row.flopsPerSec / 1e9).toFixed(3),
        row.bytesPerSec === undefined ? '' : (row.bytesPerSec / 1e9).toFixed(3),
        rf?.pctCompute?.toFixed(2), rf?.pctBandwidth?.toFixed(2), rf?.pctRoofline?.toFixed(2),
        rf ? `flops:${rf.source.flops} bw:${rf.source.bandwidth}` : '',
        row.ratios ? Object.entries(row.ratios).map(([k, v]) => `${k}=${v.toFixed(3)}`).join(' ') : '',
      ].map(q).join(','),
    );
  }
  return lines.join('\n') + '\n';
}
