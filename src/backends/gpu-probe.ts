/**
 * What the cuda and musa backends share when they turn the native driver probe into DeviceInfo
 * records: one entry per device, or a single unavailable entry with the loader's exact reason.
 */
import { loadNative, type NativeGpuDevice } from '../native.js';
import type { DeviceInfo } from '../types.js';
import type { GpuProbe } from './cuda/parts.js';
import { unavailableInfo } from './info.js';

export interface GpuLibrary {
  loaded: boolean;
  reason: string;
  variants: string;
}

export function gpuInfos(
  backend: 'cuda' | 'musa',
  pretty: string,
  vendor: string,
  info: (d: NativeGpuDevice, lib: GpuLibrary) => DeviceInfo,
): DeviceInfo[] {
  const addon = loadNative();
  if (addon instanceof Error) return [unavailableInfo(backend, pretty, addon.message, vendor)];
  const p = addon.gpuProbe(backend);
  if (!p.available) return [unavailableInfo(backend, pretty, p.reason, vendor)];
  return p.devices.map((d) => info(d, p.library));
}

/** The driver's figures of a device, as the parts tables match and estimate them. */
export function driverFigures(d: NativeGpuDevice): GpuProbe {
  return {
    name: d.name,
    ccMajor: d.ccMajor,
    ccMinor: d.ccMinor,
    multiprocessors: d.multiprocessors,
    clockKhz: d.clockKhz,
    memoryClockKhz: d.memoryClockKhz,
    busWidthBits: d.busWidthBits,
    memoryBytes: d.memoryBytes,
  };
}

/** The driver-reported fields of DeviceInfo.gpu (the parts table adds peaks and export figures). */
export function driverGpuFields(d: NativeGpuDevice) {
  return {
    computeCapability: `${d.ccMajor}.${d.ccMinor}`,
    warpSize: d.warpSize,
    clockMHz: d.clockKhz / 1000,
    memoryClockMHz: d.memoryClockKhz / 1000,
    busWidthBits: d.busWidthBits,
    l2Bytes: d.l2Bytes,
    sharedPerBlockOptin: d.sharedPerBlockOptin,
    driverVersion: d.driverVersion,
  };
}
