/**
 * The reference backend in Node: the shared float64 device (device.ts), allocations limited by the
 * machine's memory.
 */
import { totalmem } from 'node:os';
import type { DeviceInfo } from '../../types.js';
import { ReferenceDevice as SharedReferenceDevice } from './device.js';

export class ReferenceDevice extends SharedReferenceDevice {
  constructor(info: DeviceInfo) {
    super(info, totalmem());
  }
}
