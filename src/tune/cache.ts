/**
 * The tune cache file (Node): winners of `kernelport tune` / `open({ autotune: true })`, keyed by the
 * device's identity (backend, name, architecture, driver, kernelport version, cpu threads), then by
 * shape class. Default `$KERNELPORT_TUNE_CACHE`, else `tune.json` in the cache directory of the
 * calibration (`$KERNELPORT_CACHE_DIR`, else `$XDG_CACHE_HOME/kernelport`, else `~/.cache/kernelport`).
 *
 * A file that is not JSON or not this schema, or an entry of the same device measured by another
 * kernelport version or driver, is ignored with one warning (process.emitWarning, codes
 * KERNELPORT_TUNE_CACHE_CORRUPT / KERNELPORT_TUNE_CACHE_STALE) that names the file and what is wrong;
 * the next save rewrites it. Writes go to a temporary file renamed over the old one, so a reader
 * never sees half a file.
 */
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cacheDir } from '../bench/calibrate.js';
import type { DeviceIdentity, TuneEntry, TuneStore } from './tuner.js';

export const TUNE_SCHEMA = 'kernelport-tune/1';

export interface TuneCacheFile {
  schema: typeof TUNE_SCHEMA;
  devices: Record<string, { device: DeviceIdentity; classes: Record<string, TuneEntry> }>;
}

/** The cache file used when neither open({ tuneCache }) nor --cache names one. */
export function defaultTuneCacheFile(): string {
  const env = process.env.KERNELPORT_TUNE_CACHE;
  return env && env.length > 0 ? env : join(cacheDir(), 'tune.json');
}

/** The key of a device's entry: every field of its identity. */
export function deviceKey(d: DeviceIdentity): string {
  return [d.backend, d.name, d.architecture, `driver=${d.driver ?? '-'}`, `threads=${d.threads ?? '-'}`, `kernelport@${d.kernelport}`].join(' | ');
}

/** The same device, whatever the version and driver: an entry that matches here but not on deviceKey is stale. */
const sameHardware = (a: DeviceIdentity, b: DeviceIdentity): boolean =>
  a.backend === b.backend && a.name === b.name && a.architecture === b.architecture && (a.threads ?? null) === (b.threads ?? null);

const warned = new Set<string>();
function warn(file: string, code: string, what: string): void {
  const key = `${file}\0${code}\0${what}`;
  if (warned.has(key)) return;
  warned.add(key);
  process.emitWarning(`kernelport: ignoring the tune cache ${file}: ${what}; tuned winners there are not used, and the file is rewritten on the next save`, {
    code,
    type: 'KernelportWarning',
  });
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isConfig = (x: unknown): boolean => isObj(x) && Object.values(x).every((v) => Number.isInteger(v) && (v as number) > 0);

/** What is wrong with a parsed file, or undefined. */
function problem(j: unknown): string | undefined {
  if (!isObj(j)) return 'it is not a JSON object';
  if (j.schema !== TUNE_SCHEMA) return `its schema is ${JSON.stringify(j.schema)}, expected "${TUNE_SCHEMA}"`;
  if (!isObj(j.devices)) return 'it has no "devices" object';
  for (const [k, d] of Object.entries(j.devices)) {
    if (!isObj(d) || !isObj(d.device) || !isObj(d.classes)) return `devices[${JSON.stringify(k)}] lacks "device" or "classes"`;
    const id = d.device;
    if (typeof id.backend !== 'string' || typeof id.name !== 'string' || typeof id.kernelport !== 'string') return `devices[${JSON.stringify(k)}].device is incomplete`;
    for (const [c, e] of Object.entries(d.classes)) {
      const where = `devices[${JSON.stringify(k)}].classes[${JSON.stringify(c)}]`;
      if (!isObj(e) || !isConfig(e.config)) return `${where}.config is not an object of positive integers`;
      if (!Array.isArray(e.candidates) || !e.candidates.every((x) => isObj(x) && isConfig(x.config) && typeof x.medianMs === 'number'))
        return `${where}.candidates is not a list of { config, medianMs }`;
      if (typeof e.measuredAt !== 'string') return `${where}.measuredAt is missing`;
    }
  }
  return undefined;
}

export class FileTuneStore implements TuneStore {
  constructor(readonly file: string) {}

  /** The parsed file; an empty one (after a warning) when it is unreadable as a tune cache; undefined when there is none. */
  private read(): TuneCacheFile | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') warn(this.file, 'KERNELPORT_TUNE_CACHE_CORRUPT', `it cannot be read (${(e as Error).message})`);
      return undefined;
    }
    let j: unknown;
    try {
      j = JSON.parse(text);
    } catch (e) {
      warn(this.file, 'KERNELPORT_TUNE_CACHE_CORRUPT', `it is not valid JSON (${(e as Error).message})`);
      return undefined;
    }
    const p = problem(j);
    if (p) {
      warn(this.file, 'KERNELPORT_TUNE_CACHE_CORRUPT', p);
      return undefined;
    }
    return j as TuneCacheFile;
  }

  load(device: DeviceIdentity): Record<string, TuneEntry> {
    const f = this.read();
    if (!f) return {};
    const mine = f.devices[deviceKey(device)];
    for (const d of Object.values(f.devices))
      if (d !== mine && sameHardware(d.device, device)) {
        const was = [d.device.kernelport !== device.kernelport ? `kernelport ${d.device.kernelport} (this is ${device.kernelport})` : '', (d.device.driver ?? '-') !== (device.driver ?? '-') ? `driver ${d.device.driver ?? 'none'} (this is ${device.driver ?? 'none'})` : '']
          .filter(Boolean)
          .join(' and ');
        warn(this.file, 'KERNELPORT_TUNE_CACHE_STALE', `the entry for ${device.backend} '${device.name}' was measured with ${was}`);
      }
    return mine ? { ...mine.classes } : {};
  }

  /** Adds or replaces winners of `device`; drops its stale entries and anything unreadable. */
  save(device: DeviceIdentity, entries: Record<string, TuneEntry>): void {
    const f: TuneCacheFile = this.read() ?? { schema: TUNE_SCHEMA, devices: {} };
    const key = deviceKey(device);
    for (const [k, d] of Object.entries(f.devices)) if (k !== key && sameHardware(d.device, device)) delete f.devices[k];
    const slot = (f.devices[key] ??= { device, classes: {} });
    slot.device = device;
    Object.assign(slot.classes, entries);
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.${Date.now()}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(f, null, 2) + '\n');
      renameSync(tmp, this.file);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        // nothing to clean up
      }
      throw e;
    }
  }
}
