/**
 * An SVG with two charts: the roofline (achieved GFLOP/s against arithmetic intensity, under the
 * compute and bandwidth roofs) and scaling (GFLOP/s against problem size, one line per runner and op).
 * Plain SVG 1.1, no scripts or external fonts: any renderer (rsvg-convert, browsers) draws it.
 */
import { ridge } from '../metrics.js';
import type { BenchReport, BenchRow, DevicePeaks } from '../types.js';

const W = 1240;
const H = 560;
const PANEL = { w: 520, h: 400, top: 70 };
const LEFT = [80, 700];
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '0');

interface Axis {
  lo: number;
  hi: number;
  log: boolean;
}
function scale(a: Axis, px0: number, px1: number) {
  return (v: number) => {
    const t = a.log ? (Math.log10(v) - Math.log10(a.lo)) / (Math.log10(a.hi) - Math.log10(a.lo)) : (v - a.lo) / (a.hi - a.lo);
    return px0 + t * (px1 - px0);
  };
}
function logRange(values: number[]): Axis {
  const v = values.filter((x) => x > 0 && Number.isFinite(x));
  if (v.length === 0) return { lo: 1, hi: 10, log: true };
  return { lo: 10 ** Math.floor(Math.log10(Math.min(...v))), hi: 10 ** Math.ceil(Math.log10(Math.max(...v)) + 1e-9), log: true };
}
function ticks(a: Axis): number[] {
  if (a.log) {
    const out: number[] = [];
    for (let e = Math.round(Math.log10(a.lo)); e <= Math.round(Math.log10(a.hi)); e++) out.push(10 ** e);
    return out;
  }
  const step = niceStep((a.hi - a.lo) / 5);
  const out: number[] = [];
  for (let v = Math.ceil(a.lo / step) * step; v <= a.hi + 1e-9; v += step) out.push(v);
  return out;
}
function niceStep(x: number): number {
  const e = 10 ** Math.floor(Math.log10(x));
  const m = x / e;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * e;
}
const tickLabel = (v: number) => (v >= 1e4 || (v < 0.01 && v > 0) ? v.toExponential(0) : String(Number(v.toPrecision(3))));

function frame(x0: number, title: string, xa: Axis, ya: Axis, xlabel: string, ylabel: string): { parts: string[]; sx: (v: number) => number; sy: (v: number) => number } {
  const { w, h, top } = PANEL;
  const sx = scale(xa, x0, x0 + w);
  const sy = scale(ya, top + h, top);
  const parts = [`<rect x="${x0}" y="${top}" width="${w}" height="${h}" fill="#ffffff" stroke="#444444"/>`];
  for (const t of ticks(xa)) {
    const x = sx(t);
    if (x < x0 - 0.5 || x > x0 + w + 0.5) continue;
    parts.push(`<line x1="${f(x)}" y1="${top}" x2="${f(x)}" y2="${top + h}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${f(x)}" y="${top + h + 18}" font-size="12" text-anchor="middle">${esc(tickLabel(t))}</text>`);
  }
  for (const t of ticks(ya)) {
    const y = sy(t);
    if (y < top - 0.5 || y > top + h + 0.5) continue;
    parts.push(`<line x1="${x0}" y1="${f(y)}" x2="${x0 + w}" y2="${f(y)}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${x0 - 6}" y="${f(y + 4)}" font-size="12" text-anchor="end">${esc(tickLabel(t))}</text>`);
  }
  parts.push(`<rect x="${x0}" y="${top}" width="${w}" height="${h}" fill="none" stroke="#444444"/>`);
  parts.push(`<text x="${x0 + w / 2}" y="${top - 14}" font-size="16" font-weight="bold" text-anchor="middle">${esc(title)}</text>`);
  parts.push(`<text x="${x0 + w / 2}" y="${top + h + 40}" font-size="13" text-anchor="middle">${esc(xlabel)}</text>`);
  parts.push(`<text x="${x0 - 55}" y="${top + h / 2}" font-size="13" text-anchor="middle" transform="rotate(-90 ${x0 - 55} ${top + h / 2})">${esc(ylabel)}</text>`);
  return { parts, sx, sy };
}

const seriesOf = (r: BenchRow) => `${r.runner === 'kernelport' ? 'kernelport' : r.runner}:${r.backend}`;

function marker(op: string, x: number, y: number, color: string): string {
  if (op === 'attention')
    return `<path d="M${f(x)} ${f(y - 6)} L${f(x + 6)} ${f(y + 5)} L${f(x - 6)} ${f(y + 5)} Z" fill="${color}" fill-opacity="0.85" stroke="#222222" stroke-width="0.6"/>`;
  return `<circle cx="${f(x)}" cy="${f(y)}" r="5" fill="${color}" fill-opacity="0.85" stroke="#222222" stroke-width="0.6"/>`;
}

export function toSvg(r: BenchReport): string {
  const rows = r.rows.filter((x) => x.stats && x.flopsPerSec && x.flopsPerSec > 0);
  const series = [...new Set(rows.map(seriesOf))];
  const color = (s: string) => PALETTE[series.indexOf(s) % PALETTE.length]!;
  const peaks: DevicePeaks | undefined = r.peaks.find((p) => p.flops > 0);
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="26" font-size="18" text-anchor="middle">${esc(`kernelport ${r.kernelport.version} bench on ${r.machine.cpuModel || r.machine.arch} (${r.settings.threads} threads), ${r.createdAt.slice(0, 10)}`)}</text>`,
  ];

  // Roofline.
  const ai = rows.map((x) => x.intensity);
  const gf = rows.map((x) => x.flopsPerSec! / 1e9);
  const rp = peaks ? ridge(peaks) : Infinity;
  const xa = logRange([...ai, ...(Number.isFinite(rp) ? [rp] : [])]);
  const ya = logRange([...gf, ...(peaks ? [peaks.flops / 1e9 * 1.5] : [])]);
  const roof = frame(LEFT[0]!, 'Roofline', xa, ya, 'arithmetic intensity (FLOP/byte)', 'GFLOP/s');
  out.push(...roof.parts);
  if (peaks) {
    const pf = peaks.flops / 1e9;
    const pb = peaks.bandwidth / 1e9;
    const pts: string[] = [];
    if (pb > 0) {
      const xStart = Math.max(xa.lo, ya.lo / pb);
      pts.push(`${f(roof.sx(xStart))},${f(roof.sy(pb * xStart))}`, `${f(roof.sx(rp))},${f(roof.sy(pf))}`);
    } else pts.push(`${f(roof.sx(xa.lo))},${f(roof.sy(pf))}`);
    pts.push(`${f(roof.sx(xa.hi))},${f(roof.sy(pf))}`);
    out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="#333333" stroke-width="2.5"/>`);
    out.push(`<text x="${f(roof.sx(xa.hi) - 6)}" y="${f(roof.sy(pf) - 7)}" font-size="12" text-anchor="end">${esc(`${pf.toFixed(0)} GFLOP/s f32 (${peaks.source.flops})`)}</text>`);
    if (pb > 0) {
      // Along the slanted roof, just above it.
      const x1 = Math.max(xa.lo, ya.lo / pb);
      const xm = Math.sqrt(x1 * rp);
      const ang = (Math.atan2(roof.sy(pf) - roof.sy(pb * x1), roof.sx(rp) - roof.sx(x1)) * 180) / Math.PI;
      const [tx, ty] = [roof.sx(xm), roof.sy(pb * xm) - 7];
      out.push(`<text x="${f(tx)}" y="${f(ty)}" font-size="12" text-anchor="middle" transform="rotate(${ang.toFixed(1)} ${f(tx)} ${f(ty)})">${esc(`${pb.toFixed(1)} GB/s (${peaks.source.bandwidth})`)}</text>`);
    }
  }
  for (const x of rows) out.push(marker(x.case.op, roof.sx(x.intensity), roof.sy(x.flopsPerSec! / 1e9), color(seriesOf(x))));

  // Scaling: GFLOP/s against the op's GFLOP, one line per runner and op.
  const sxa = logRange(rows.map((x) => x.flops / 1e9));
  const maxG = Math.max(1, ...gf);
  const sya: Axis = { lo: 0, hi: niceStep(maxG / 5) * Math.ceil((maxG * 1.08) / niceStep(maxG / 5)), log: false };
  const sc = frame(LEFT[1]!, 'Scaling', sxa, sya, 'problem size (GFLOP per call)', 'GFLOP/s');
  out.push(...sc.parts);
  for (const s of series)
    for (const op of ['matmul', 'attention']) {
      const pts = rows.filter((x) => seriesOf(x) === s && x.case.op === op).sort((a, b) => a.flops - b.flops);
      if (pts.length === 0) continue;
      const d = pts.map((x, i) => `${i ? 'L' : 'M'}${f(sc.sx(x.flops / 1e9))} ${f(sc.sy(x.flopsPerSec! / 1e9))}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${color(s)}" stroke-width="1.8"${op === 'attention' ? ' stroke-dasharray="6 4"' : ''}/>`);
      for (const x of pts) out.push(marker(op, sc.sx(x.flops / 1e9), sc.sy(x.flopsPerSec! / 1e9), color(s)));
    }

  // Legend.
  let lx = LEFT[0]!;
  const ly = H - 22;
  for (const s of series) {
    out.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="14" fill="${color(s)}"/>`, `<text x="${lx + 20}" y="${ly + 2}" font-size="13">${esc(s)}</text>`);
    lx += 30 + s.length * 8;
  }
  out.push(marker('matmul', lx + 10, ly - 3, '#999999'), `<text x="${lx + 20}" y="${ly + 2}" font-size="13">matmul (solid)</text>`);
  lx += 140;
  out.push(marker('attention', lx + 10, ly - 3, '#999999'), `<text x="${lx + 20}" y="${ly + 2}" font-size="13">attention (dashed)</text>`);
  if (rows.length === 0) out.push(`<text x="${W / 2}" y="${H / 2}" font-size="16" text-anchor="middle">no successful measurements to plot</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
