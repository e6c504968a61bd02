/** The terminal table: one row per case × runner, kernelport/peer ratios on kernelport rows. */
import { table } from '../../cli/table.js';
import { shapeLabel } from '../suites.js';
import type { BenchReport, BenchRow, DevicePeaks } from '../types.js';

const ms = (s: number) => (s * 1e3 >= 100 ? (s * 1e3).toFixed(1) : (s * 1e3).toFixed(3));
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${x.toFixed(x >= 10 ? 0 : 1)}%`);
const g = (x: number | undefined) => (x === undefined ? '-' : x >= 100e9 ? (x / 1e9).toFixed(0) : (x / 1e9).toFixed(1));

export function reportTable(r: BenchReport): string {
  const peers = r.peers.filter((p) => p.available).map((p) => p.name);
  const header = ['case', 'shape', 'dtype', 'runner', 'ms median', 'p10-p90 ms', 'GFLOP/s', 'GB/s', 'FLOP/B', '%peak FLOP', '%peak BW', '%roof', ...peers.map((p) => `kp/${short(p)}`)];
  const rows = r.rows.map((row) => line(row, peers));
  const out = [table(header, rows)];
  out.push('', roofsLine(r.peaks));
  out.push('kp/peer: the peer\'s median time ÷ kernelport\'s (> 1: kernelport is faster). %roof: achieved ÷ min(peak FLOP/s, FLOP/B × peak bandwidth).');
  if (r.rows.some((x) => x.flopsNote)) out.push('causal attention counts only the unmasked score/value products (FLOP and FLOP/B columns).');
  const clocks = [...new Set(r.rows.filter((x) => x.stats).map((x) => `${x.runner}:${x.backend}: ${x.clock}`))];
  if (clocks.length) out.push(`clocks: ${clocks.join('; ')}`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  return out.join('\n');
}

function line(row: BenchRow, peers: string[]): string[] {
  const who = `${row.runner === 'kernelport' ? 'kernelport' : row.runner}:${row.backend}`;
  const base = [row.case.id, shapeLabel(row.case), row.case.dtype, who];
  if (!row.stats) {
    const why = row.skipped ? `skipped: ${row.skipped}` : `FAILED: ${row.error ?? ''}`;
    return [...base, why, '', '', '', '', '', '', '', ...peers.map(() => '')];
  }
  const s = row.stats;
  const rf = row.roofline;
  return [
    ...base,
    `${ms(s.median)}${s.noisy ? ' ~' : ''}`,
    `${ms(s.p10)}-${ms(s.p90)}`,
    g(row.flopsPerSec),
    g(row.bytesPerSec),
    row.intensity.toFixed(row.intensity >= 100 ? 0 : 1),
    pct(rf?.pctCompute),
    pct(rf?.pctBandwidth),
    pct(rf?.pctRoofline),
    ...peers.map((p) => (row.ratios?.[p] !== undefined ? `${row.ratios[p]!.toFixed(2)}x` : '')),
  ];
}

export function roofsLine(peaks: DevicePeaks[]): string {
  return peaks
    .map((p) => {
      const cal = p.calibration as { activeIsa?: string; threads?: number } | undefined;
      const how = cal ? ` (${cal.activeIsa} FMA kernel, ${cal.threads} threads)` : '';
      const f = p.flops > 0 ? `${(p.flops / 1e9).toFixed(1)} GFLOP/s f32 [${p.source.flops}]${how}` : 'peak FLOP/s unknown';
      const b = p.bandwidth > 0 ? `${(p.bandwidth / 1e9).toFixed(1)} GB/s streaming read [${p.source.bandwidth}]` : 'peak bandwidth unknown (run --calibrate)';
      return `roofs for ${p.backend}: ${f}; ${b}`;
    })
    .join('\n');
}

const short = (p: string) => (p === 'onnxruntime-node' ? 'ort' : p);
