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
    return this.uploadView(data);
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
    try {
      this.native.matmul(this.pack.matmul(matmulDesc(plan, config)), buf(a)!, buf(b)!, buf(bias), buf(residual), buf(out)!);
    } catch (e) {
      if (!given) this.release(out); // the op made it: nothing else will give it back
      throw e;
    }
    return out;
  }

  attention(plan: AttentionPlan, q: Storage, k: Storage, v: Storage, mask?: Storage, config?: KernelConfig, given?: Storage): { out: Storage; lse?: Storage } {
    // Buffers are ids in the addon's table, not collected objects: whatever this op made is given back
    // by hand if a later step throws (an allocation past the memory left, a refused descriptor).
    const fresh: CpuStorage[] = [];
    let lengths: CpuStorage | undefined;
    try {
      const out = (given as CpuStorage | undefined) ?? this.allocate(byteSize(plan.outShape, plan.outDtype));
      if (!given) fresh.push(out);
      const lse = plan.returnLse ? this.allocate(byteSize(plan.lseShape, 'f32')) : undefined;
      if (lse) fresh.push(lse);
      lengths = plan.kvLengths ? this.uploadView(plan.kvLengths) : undefined;
      const desc = this.pack.attention(attentionDesc(plan, config));
      this.native.attention(desc, buf(q)!, buf(k)!, buf(v)!, buf(lengths), buf(mask), buf(out)!, buf(lse));
      return { out, lse };
    } catch (e) {
      for (const o of fresh) this.release(o);
      throw e;
    } finally {
      if (lengths) this.release(lengths); // the queued op holds its own reference
    }
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

  private uploadView(data: ArrayBufferView): CpuStorage {
    const s = this.allocate(data.byteLength);
    try {
      this.native.write(s.buffer, data);
    } catch (e) {
      this.release(s);
      throw e;
    }
    return s;
  }
}
