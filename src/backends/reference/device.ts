/**
 * The reference backend: float64 accumulation in plain TypeScript, the numerics oracle. It computes
 * synchronously on the calling thread, so `auto` never picks it. Shared by the Node and the browser
 * entries: the host memory limit comes in from the caller (index.ts: the machine's memory).
 */
import { decode, encode } from '../../dtype.js';
import type { AttentionPlan } from '../../ops/attention.js';
import type { MatmulPlan } from '../../ops/matmul.js';
import { byteSize } from '../../ops/shape.js';
import { referenceAttention } from '../../reference/attention.js';
import { referenceMatmul } from '../../reference/matmul.js';
import type { DeviceInfo, DType, HostData } from '../../types.js';
import type { BackendDevice, CopyRegion, KernelConfig, Storage } from '../backend.js';

/** The largest typed array engines allow (V8: 2^32 bytes on 64-bit hosts). */
export const MAX_TYPED_ARRAY_BYTES = 2 ** 32;

class HostStorage implements Storage {
  constructor(
    public data: HostData | undefined,
    readonly bytes: number,
  ) {}
}

export class ReferenceDevice implements BackendDevice {
  readonly threads = 1;
  /** @param memoryLimit the largest allocation accepted, in bytes (also capped by MAX_TYPED_ARRAY_BYTES). */
  constructor(
    readonly info: DeviceInfo,
    private readonly memoryLimit: number = MAX_TYPED_ARRAY_BYTES,
  ) {}

  upload(data: HostData): Storage {
    return new HostStorage(data.slice(), data.byteLength);
  }

  allocate(bytes: number): Storage {
    // Contents are created when first written (ops build their outputs whole); the size is still
    // checked now, so an impossible tensor fails here like on every other backend.
    const limit = Math.min(this.memoryLimit, MAX_TYPED_ARRAY_BYTES);
    if (bytes > limit) throw new RangeError(`cannot allocate ${bytes} bytes on the reference device (limit ${limit} bytes)`);
    return new HostStorage(undefined, bytes);
  }

  release(s: Storage): void {
    (s as HostStorage).data = undefined;
  }

  // Ops run when they are enqueued here: a write is ordered after them as it is.
  write(s: Storage, byteOffset: number, data: HostData): void {
    const h = s as HostStorage;
    const Ctor = data.constructor as new (n: number) => HostData;
    h.data ??= new Ctor(h.bytes / data.BYTES_PER_ELEMENT);
    h.data.set(data, byteOffset / data.BYTES_PER_ELEMENT);
  }

  copy(dst: Storage, src: Storage, r: CopyRegion): void {
    const [d, s] = [dst as HostStorage, src as HostStorage];
    if (!s.data && !d.data) return;  // storage with no data yet (an empty() tensor) reads as zeros
    d.data ??= new (s.data!.constructor as new (n: number) => HostData)(d.bytes / s.data!.BYTES_PER_ELEMENT);
    const to = new Uint8Array(d.data.buffer, d.data.byteOffset, d.bytes);
    const from = s.data ? new Uint8Array(s.data.buffer, s.data.byteOffset, s.bytes) : undefined;
    for (let i = 0; i < r.rows; i++) {
      const at = r.dstOffset + i * r.dstStride;
      if (from) to.set(from.subarray(r.srcOffset + i * r.srcStride, r.srcOffset + i * r.srcStride + r.bytes), at);
      else to.fill(0, at, at + r.bytes);
    }
  }

  async read(s: Storage, dst: HostData): Promise<void> {
    const src = (s as HostStorage).data;
    if (src) dst.set(src as never);
  }

  matmul(plan: MatmulPlan, a: Storage, b: Storage, bias?: Storage, residual?: Storage, _config?: KernelConfig, given?: Storage): Storage {
    if (!given) this.allocate(byteSize(plan.outShape, plan.outDtype)); // refuse an impossible output before computing
    const r = referenceMatmul(
      plan,
      values(a, plan.dtype),
      values(b, plan.dtype),
      bias ? values(bias, plan.bias!.dtype) : undefined,
      residual ? values(residual, plan.residual!.dtype) : undefined,
    );
    return into(result(r.out, plan.outDtype), given);
  }

  attention(plan: AttentionPlan, q: Storage, k: Storage, v: Storage, mask?: Storage, _config?: KernelConfig, given?: Storage): { out: Storage; lse?: Storage } {
    if (!given) this.allocate(byteSize(plan.outShape, plan.outDtype));
    const r = referenceAttention(plan, values(q, plan.dtype), values(k, plan.dtype), values(v, plan.dtype), mask ? values(mask, 'f32') : undefined);
    return { out: into(result(r.out, plan.outDtype), given), lse: plan.returnLse && r.lse ? result(r.lse, "f32") : undefined };
  }

  async sync(): Promise<void> {}

  pending(): number {
    return 0;
  }

  dispose(): void {}
}

function values(s: Storage, dtype: DType): Float64Array {
  const data = (s as HostStorage).data;
  if (!data) return new Float64Array(s.bytes / (dtype === 'f32' ? 4 : 2)); // an empty() tensor reads as zeros
  return decode(data, dtype);
}

/** The result in the caller's storage (its data replaced: every view of it sees the new values), or as is. */
function into(r: Storage, given: Storage | undefined): Storage {
  if (!given) return r;
  (given as HostStorage).data = (r as HostStorage).data;
  return given;
}

function result(v: Float64Array, dtype: DType): Storage {
  const data = encode(v, dtype);
  canonicalNaNs(v, data, dtype);
  return new HostStorage(data, data.byteLength);
}

/**
 * One quiet NaN for every NaN output. The bits of a NaN that JavaScript arithmetic produces are not
 * stable (V8's optimised code and its interpreter give different signs for the same expression), and
 * the oracle's output must be bitwise repeatable (validate's determinism check).
 */
function canonicalNaNs(v: Float64Array, data: HostData, dtype: DType): void {
  const bits = dtype === 'f32' ? new Uint32Array(data.buffer, data.byteOffset, data.length) : (data as Uint16Array);
  const nan = dtype === 'f32' ? 0x7fc00000 : dtype === 'f16' ? 0x7e00 : 0x7fc0;
  for (let i = 0; i < v.length; i++) if (v[i] !== v[i]) bits[i] = nan;
}
