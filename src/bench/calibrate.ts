/**
 * Peaks for the roofline: measured (kp_cpu_calibrate, cached) when present, else the probe's
 * table/estimate figures, labelled which. The cache lives in $KERNELPORT_CACHE_DIR, else
 * $XDG_CACHE_HOME/kernelport, else ~/.cache/kernelport, keyed by CPU model + library version
 * + threads + kernel path.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { requireNative, type NativeCpuPeaks } from '../native.js';
import type { DeviceInfo } from '../types.js';
import type { DevicePeaks } from './types.js';

export interface CpuCalibration extends NativeCpuPeaks {
  key: string;
  measuredAt: string;
}

export function cacheDir(): string {
  const env = process.env.KERNELPORT_CACHE_DIR;
  if (env) return env;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.cache'), 'kernelport');
}

export const cacheFile = (): string => join(cacheDir(), 'peaks.json');

export function calibrationKey(info: DeviceInfo, version: string, threads: number): string {
  return [info.cpu?.model || info.name, info.cpu?.isa ?? info.architecture, `threads=${threads}`, `kernelport@${version}`].join(' | ');
}

type CacheFile = { schema: 'kernelport-peaks/1'; entries: Record<string, CpuCalibration> };

function readCache(): CacheFile {
  try {
    const j = JSON.parse(readFileSync(cacheFile(), 'utf8')) as CacheFile;
    if (j && j.schema === 'kernelport-peaks/1' && typeof j.entries === 'object') return j;
  } catch {
    // missing or unreadable: start over
  }
  return { schema: 'kernelport-peaks/1', entries: {} };
}

export function cachedCalibration(key: string): CpuCalibration | undefined {
  return readCache().entries[key];
}

/** Measures (a few seconds) and caches. */
export async function calibrateCpu(key: string, threads: number, secondsPerKernel = 0.5): Promise<CpuCalibration> {
  const peaks = await requireNative().cpuCalibrate(threads, secondsPerKernel);
  const cal: CpuCalibration = { ...peaks, key, measuredAt: new Date().toISOString() };
  const c = readCache();
  c.entries[key] = cal;
  try {
    const dir = cacheDir();
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    const tmp = `${cacheFile()}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(c, null, 2) + '\n');
    renameSync(tmp, cacheFile());
  } catch {
    // an unwritable cache only costs a re-measure next time
  }
  return cal;
}

/** Roofs for a device: measured where calibrated, else what probe() says (table or estimate). */
export function devicePeaks(info: DeviceInfo, cal: CpuCalibration | undefined): DevicePeaks {
  const probeSource = info.peak.source;
  const flops = cal ? cal.flopsF32 : (info.peak.flops.f32 ?? 0);
  const bandwidth = cal ? cal.readBandwidth : info.peak.bandwidth;
  return {
    backend: info.backend,
    flops,
    bandwidth,
    source: {
      flops: cal ? 'measured' : flops > 0 ? probeSource : 'none',
      bandwidth: cal ? 'measured' : bandwidth > 0 ? probeSource : 'none',
    },
    calibration: cal,
  };
}
