/** The cpu backend's host side: plans to C ABI descriptors, storage as native buffers. */
import { byteSize } from '../../ops/shape.js';
import type { AttentionPlan } from '../../ops/attention.js';
import type { MatmulPlan } from '../../ops/matmul.js';
import type { NativeAddon, NativeBuffer, NativeDevice } from '../../native.js';
import type { DeviceInfo, HostData } from '../../types.js';
import type { BackendDevice, CopyRegion, KernelConfig, Storage } from '../backend.js';
import { attentionDesc, descriptorPacker, matmulDesc, type DescriptorPacker } from './descriptors.js';

class CpuStorage implements Storage {
  constructor(
    readonly buffer: NativeBuffer,
    readonly bytes: number,
  ) {}
}

const buf = (s: Storage | undefined): NativeBuffer | null => (s ? (s as CpuStorage).buffer : null);

export class CpuDevice implements BackendDevice {
  private readonly native: NativeDevice;
  private readonly addon: NativeAddon;
  private readonly pack: DescriptorPacker;
  readonly threads: number;

  /**
   * nativeBackend: the C ABI's device name. The same host code drives every native device: 'cpu', and
   * the GPU backends' devices ('cuda:N'), whose storage is device memory behind the same buffers.
   */
  constructor(
    addon: NativeAddon,
    readonly info: DeviceInfo,
    threads: number,
    nativeBackend = 'cpu',
  ) {
    this.addon = addon;
    this.native = new addon.Device(nativeBackend, threads);
    this.pack = descriptorPacker(addon);
    this.threads = this.native.threads();
  }

  allocate(bytes: number): CpuStorage {
    try {
      return new CpuStorage(this.native.createBuffer(bytes), bytes);
    } catch (e) {
      if ((e as { code?: string }).code === 'KP_ERR_OUT_OF_MEMORY')
        throw new RangeError(`cannot allocate ${bytes} bytes on ${this.info.backend}:${this.info.index} (${(e as Error).message})`);
      throw e;
    }
  }

  upload(data: HostData): CpuStorage {
    const s = this.allocate(data.byteLength);
    try {
      this.native.write(s.buffer, data);
    } catch (e) {
      this.addon.releaseBuffer(s.buffer);
      throw e;
    }
    return s;
  }

  release(s: Storage): void {
    this.addon.releaseBuffer((s as CpuStorage).buffer);
  }

  write(s: Storage, byteOffset: number, data: HostData): void {
    this.native.write((s as CpuStorage).buffer, data, byteOffset);
  }

  copy(dst: Storage, src: Storage, r: CopyRegion): void {
    this.native.copy((dst as CpuStorage).buffer, r.dstOffset, r.dstStride, (src as CpuStorage).buffer, r.srcOffset, r.srcStride, r.bytes, r.rows);
  }

  async read(s: Storage, dst: HostData): Promise<void> {
    await this.native.read((s as CpuStorage).buffer, dst);
  }

  nativeVariant(plan: MatmulPlan | AttentionPlan, config?: KernelConfig): string {
    return plan.op === 'matmul'
      ? this.native.explain('matmul', this.pack.matmul(matmulDesc(plan, config)))
      : this.native.explain('attention', this.pack.attention(attentionDesc(plan, config)));
  }

  matmul(plan: MatmulPlan, a: Storage, b: Storage, bias?: Storage, residual?: Storage, config?: KernelConfig, given?: Storage): Storage {
    const out = (given as CpuStorage | undefined) ?? this.allocate(byteSize(plan.outShape, plan.outDtype));
    const desc = this.pack.matmul(matmulDesc(plan, config));
    this.enqueue(given ? [] : [out], () => this.native.matmul(desc, buf(a)!, buf(b)!, buf(bias), buf(residual), buf(out)!));
    return out;
  }

  attention(plan: AttentionPlan, q: Storage, k: Storage, v: Storage, mask?: Storage, config?: KernelConfig, given?: Storage): { out: Storage; lse?: Storage } {
    const out = (given as CpuStorage | undefined) ?? this.allocate(byteSize(plan.outShape, plan.outDtype));
    const lse = plan.returnLse ? this.allocate(byteSize(plan.lseShape, 'f32')) : undefined;
    const lengths = plan.kvLengths ? this.uploadRaw(plan.kvLengths) : undefined;
    const desc = this.pack.attention(attentionDesc(plan, config));
    const fresh = [...(given ? [] : [out]), ...(lse ? [lse] : [])];
    try {
      this.enqueue(fresh, () =>
        this.native.attention(desc, buf(q)!, buf(k)!, buf(v)!, buf(lengths), buf(mask), buf(out)!, buf(lse)),
      );
    } finally {
      if (lengths) this.release(lengths); // the queued op holds its own reference
    }
    return { out, lse };
  }

  sync(): Promise<void> {
    return this.native.sync();
  }

  pending(): number {
    return this.native.pending();
  }

  dispose(): void {
    this.native.close();
  }

  private uploadRaw(data: Int32Array): CpuStorage {
    const s = this.allocate(data.byteLength);
    this.native.write(s.buffer, data);
    return s;
  }

  /** Runs `submit`; if it throws, the outputs allocated for it are released before rethrowing. */
  /** Runs submit; if it throws, the outputs this op allocated (`fresh`, not a caller's out) go back. */
  private enqueue(fresh: CpuStorage[], submit: () => void): void {
    try {
      submit();
    } catch (e) {
      for (const o of fresh) this.addon.releaseBuffer(o.buffer);
      throw e;
    }
  }
}
