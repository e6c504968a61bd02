/**
 * What a backend implements. Plans arrive already checked by src/ops; a backend allocates, copies
 * and computes, nothing else. Storage is opaque to everything above the backend.
 */
import type { AttentionPlan } from '../ops/attention.js';
import type { MatmulPlan } from '../ops/matmul.js';
import type { DeviceInfo, DType, HostData } from '../types.js';

/**
 * A tuned kernel configuration for one op (src/tune): cpu `{ threads }` (a per-op thread cap);
 * webgpu matmul `{ TM, TN, WGX, WGY, BK }`, GEMV `{ WG }`, attention `{ BQ, BK }`. Absent: the
 * backend's built-in heuristics. Backends that tune nothing ignore it.
 */
export type KernelConfig = Readonly<Record<string, number>>;

export interface Storage {
  readonly bytes: number;
}

/** What Device.copy asks of a backend, in bytes: `rows` runs of `bytes`, each stride after the one before. */
export interface CopyRegion {
  dstOffset: number;
  dstStride: number;
  srcOffset: number;
  srcStride: number;
  bytes: number;
  rows: number;
}

export interface BackendDevice {
  readonly info: DeviceInfo;
  /** Worker threads (cpu) or 1. */
  readonly threads: number;
  upload(data: HostData, dtype: DType): Storage;
  allocate(bytes: number): Storage;
  release(s: Storage): void;
  /** Copies `data` into `s` from `byteOffset`, after every op already enqueued that uses `s`. */
  write(s: Storage, byteOffset: number, data: HostData): void;
  /** Copies src into dst on the device, ordered like an op: `rows` runs of `bytes` (nothing written overlaps what is read). */
  copy(dst: Storage, src: Storage, region: CopyRegion): void;
  /** Copies into dst after every op enqueued before; rejects with the error of the op that wrote s. */
  read(s: Storage, dst: HostData): Promise<void>;
  /** Into `out` when given (of the plan's output size, no input's storage), else into new storage. */
  matmul(plan: MatmulPlan, a: Storage, b: Storage, bias: Storage | undefined, residual: Storage | undefined, config?: KernelConfig, out?: Storage): Storage;
  attention(plan: AttentionPlan, q: Storage, k: Storage, v: Storage, mask: Storage | undefined, config?: KernelConfig, out?: Storage): { out: Storage; lse?: Storage };
  /** Resolves when every op enqueued so far is done; rejects with the first error since the last sync. */
  sync(): Promise<void>;
  /** Ops enqueued and not finished (0 for synchronous backends). */
  pending(): number;
  /**
   * A device clock for bench timing, where the device has one (webgpu with timestamp-query):
   * begin(), enqueue ops, sync, then end() gives their device time in seconds.
   */
  deviceTimer?(): { clock: string; begin(): void; end(): Promise<number> } | undefined;
  /** The kernel variant the backend's native planner picks for a plan, run with `config` ('' or absent: it has none). */
  nativeVariant?(plan: MatmulPlan | AttentionPlan, config?: KernelConfig): string;
  dispose(): void;
}

/** Numeric codes shared with the C ABI (kernelport.h). */
export const DTYPE_CODE = { f32: 0, f16: 1, bf16: 2 } as const;
export const ACTIVATION_CODE = { none: 0, relu: 1, gelu: 2, gelu_tanh: 3, silu: 4 } as const;
export const CAUSAL_CODE = { none: 0, 'bottom-right': 1, 'top-left': 2 } as const;
export const LAYOUT_CODE = { bhsd: 0, bshd: 1 } as const;
