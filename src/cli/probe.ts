/** `kernelport probe [--json]`: what each backend found, at a glance. */
import { probe } from '../probe.js';
import type { DeviceInfo } from '../types.js';
import type { Command } from './args.js';
import { fmtBytes, table } from './table.js';

export const probeCommand: Command = {
  name: 'probe',
  summary: 'every backend and device, available or not, with the reason',
  flags: { json: { type: 'bool', help: 'machine-readable output' } },
  async run(args, log) {
    const devices = await probe();
    log(args.flags.has('json') ? JSON.stringify(devices, null, 2) : probeTable(devices));
    return 0;
  },
};

export function probeTable(devices: DeviceInfo[]): string {
  const rows = devices.map((d) => [
    `${d.backend}:${d.index}`,
    d.available ? 'yes' : 'no',
    d.name,
    d.architecture,
    d.available ? String(d.computeUnits) : '',
    d.available ? fmtBytes(d.memoryBytes) : '',
    d.peak.flops.f32 ? `${(d.peak.flops.f32 / 1e9).toFixed(0)} (${d.peak.source})` : '',
    d.available ? d.features.dtypes.join(',') : '',
    d.gpu && d.gpu.tpp > 0 ? `TPP ${d.gpu.tpp.toFixed(0)}${d.gpu.performanceDensity ? ` PD ${d.gpu.performanceDensity.toFixed(2)}` : ''}${d.gpu.exportClass ? ` ${d.gpu.exportClass}` : ''}` : '',
    d.available ? (d.cpu?.features.join(' ') ?? '') : (d.reason ?? ''),
  ]);
  return table(['device', 'available', 'name', 'arch', 'units', 'memory', 'f32 GFLOP/s', 'dtypes', 'export (TPP/PD)', 'features / reason'], rows);
}
