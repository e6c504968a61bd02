/** `kernelport probe [--json]`: what each backend found, at a glance. */
import { measuredPeaks } from '../open.js';
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
    log(args.flags.has('json') ? JSON.stringify(withMeasured(devices), null, 2) : probeTable(devices));
    return 0;
  },
};

/** The JSON beside the table's figures: a device's `peak` (parts table or estimate) plus the cpu roofs
 * `bench --calibrate` measured, which the table shows in their place, as `measured`. */
export function withMeasured(devices: DeviceInfo[]): Array<DeviceInfo & { measured?: { flops: number; bandwidth: number } }> {
  return devices.map((d) => {
    const m = d.available ? measuredPeaks(d) : undefined;
    return m ? { ...d, measured: { flops: m.flops, bandwidth: m.bandwidth } } : d;
  });
}

export function probeTable(devices: DeviceInfo[]): string {
  // cpu roofs measured by `kernelport bench --calibrate` (cached per cpu, thread count and version) beat the estimate
  const measured = devices.map((d) => (d.available ? measuredPeaks(d) : undefined));
  const rows = devices.map((d, i) => {
    const cal = measured[i];
    const flops = cal?.flops ?? d.peak.flops.f32 ?? 0;
    const bw = cal?.bandwidth ?? d.peak.bandwidth;
    const src = cal ? 'measured' : d.peak.source;
    return [
      `${d.backend}:${d.index}`,
      d.available ? 'yes' : 'no',
      d.name,
      d.architecture,
      d.available ? String(d.computeUnits) : '',
      d.available ? fmtBytes(d.memoryBytes) : '',
      flops > 0 ? `${(flops / 1e9).toFixed(0)} (${src})` : '',
      bw > 0 ? `${(bw / 1e9).toFixed(bw < 100e9 ? 1 : 0)} (${src})` : '',
      d.available ? d.features.dtypes.join(',') : '',
      d.gpu && d.gpu.tpp > 0 ? `TPP ${d.gpu.tpp.toFixed(0)}${d.gpu.performanceDensity ? ` PD ${d.gpu.performanceDensity.toFixed(2)}` : ''}${d.gpu.exportClass ? ` ${d.gpu.exportClass}` : ''}` : '',
      d.available ? (d.cpu?.features.join(' ') ?? gpuFeatures(d)) : (d.reason ?? ''),
    ];
  });
  const variants = devices.filter((d) => d.available && d.variants.length > 0).map((d) => `  ${d.backend}:${d.index}  ${d.variants.join(', ')}`);
  return (
    table(['device', 'available', 'name', 'arch', 'units', 'memory', 'f32 GFLOP/s', 'read GB/s', 'dtypes', 'export (TPP/PD)', 'features / reason'], rows) +
    (variants.length ? `\n\nkernel variants compiled in:\n${variants.join('\n')}` : '') +
    (devices.some((d, i) => d.backend === 'cpu' && d.available && !measured[i]) ? '\n\ncpu roofs are estimates until `kernelport bench --calibrate` measures them on this machine.' : '')
  );
}

function gpuFeatures(d: DeviceInfo): string {
  const f = d.features;
  return [f.tensorCores ? 'tensor-cores' : '', f.subgroups ? 'subgroups' : '', f.shaderF16 ? 'shader-f16' : '', d.gpu?.warpSize ? `warp ${d.gpu.warpSize}` : '', f.software ? 'software adapter' : '']
    .filter(Boolean)
    .join(' ');
}
