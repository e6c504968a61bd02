/** The cpu backend's host side: plans to C ABI descriptors, storage as native buffers. */
import { byteSize } from '../../ops/shape.js';
import type { AttentionPlan } from '../../ops/attention.js';
import type { MatmulPlan } from '../../ops/matmul.js';
import type { NativeAddon, NativeBuffer, NativeDevice } from '../../native.js';
import type { DeviceInfo, HostData } from '../../types.js';
import { ACTIVATION_CODE, CAUSAL_CODE, DTYPE_CODE, LAYOUT_CODE, type BackendDevice, type KernelConfig, type Storage } from '../backend.js';

class CpuStorage implements Storage {
  constructor(
    readonly buffer: NativeBuffer,
    readonly bytes: number,
  ) {}
}

const buf = (s: Storage | undefined): NativeBuffer | null => (s ? (s as CpuStorage).buffer : null);

export class CpuDevice implements BackendDevice {
  private readonly native: NativeDevice;
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
    this.native = new addon.Device(nativeBackend, threads);
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
      s.buffer.release();
      throw e;
    }
    return s;
  }

  release(s: Storage): void {
    (s as CpuStorage).buffer.release();
  }

  write(s: Storage, byteOffset: number, data: HostData): void {
    this.native.write((s as CpuStorage).buffer, data, byteOffset);
  }

  async read(s: Storage, dst: HostData): Promise<void> {
    await this.native.read((s as CpuStorage).buffer, dst);
  }

  nativeVariant(plan: MatmulPlan | AttentionPlan): string {
    return plan.op === 'matmul'
      ? this.native.explain('matmul', matmulDesc(plan))
      : this.native.explain('attention', attentionDesc(plan));
  }

  matmul(plan: MatmulPlan, a: Storage, b: Storage, bias?: Storage, residual?: Storage, config?: KernelConfig): Storage {
    const out = this.allocate(byteSize(plan.outShape, plan.outDtype));
    const desc = matmulDesc(plan, config);
    return this.enqueue([out], () => this.native.matmul(desc, buf(a)!, buf(b)!, buf(bias), buf(residual), buf(out)!));
  }

  attention(plan: AttentionPlan, q: Storage, k: Storage, v: Storage, mask?: Storage, config?: KernelConfig): { out: Storage; lse?: Storage } {
    const out = this.allocate(byteSize(plan.outShape, plan.outDtype));
    const lse = plan.returnLse ? this.allocate(byteSize(plan.lseShape, 'f32')) : undefined;
    const lengths = plan.kvLengths ? this.uploadRaw(plan.kvLengths) : undefined;
    const desc = attentionDesc(plan, config);
    const outputs = lse ? [out, lse] : [out];
    try {
      this.enqueue(outputs, () =>
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
  private enqueue(outputs: CpuStorage[], submit: () => void): CpuStorage {
    try {
      submit();
    } catch (e) {
      for (const o of outputs) o.buffer.release();
      throw e;
    }
    return outputs[0]!;
  }
}

/** The C ABI's kp_matmul_desc of a plan. */
function matmulDesc(plan: MatmulPlan, config?: KernelConfig) {
  return {
    dtype: DTYPE_CODE[plan.dtype],
    outDtype: DTYPE_CODE[plan.outDtype],
    transA: plan.transA ? 1 : 0,
    transB: plan.transB ? 1 : 0,
    m: plan.m,
    n: plan.n,
    k: plan.k,
    batchShape: plan.batchShape,
    aBatchStrides: plan.aBatchStrides,
    bBatchStrides: plan.bBatchStrides,
    alpha: plan.alpha,
    beta: plan.beta,
    activation: ACTIVATION_CODE[plan.activation],
    hasBias: plan.bias ? 1 : 0,
    biasDtype: DTYPE_CODE[plan.bias?.dtype ?? 'f32'],
    hasResidual: plan.residual ? 1 : 0,
    residualDtype: DTYPE_CODE[plan.residual?.dtype ?? 'f32'],
    rBatchStrides: plan.residual?.batchStrides ?? [],
    rRowStride: plan.residual?.rowStride ?? 0,
    rColStride: plan.residual?.colStride ?? 0,
    maxThreads: config?.threads ?? 0,
    allowTf32: plan.allowTf32 ? 1 : 0,
  };
}

/** The C ABI's kp_attention_desc of a plan (its optional operands: kvLengths, mask, lse). */
function attentionDesc(plan: AttentionPlan, config?: KernelConfig) {
  return {
    dtype: DTYPE_CODE[plan.dtype],
    outDtype: DTYPE_CODE[plan.outDtype],
    layout: LAYOUT_CODE[plan.layout],
    batch: plan.batch,
    hq: plan.hq,
    hkv: plan.hkv,
    sq: plan.sq,
    skv: plan.skv,
    d: plan.d,
    dv: plan.dv,
    scale: plan.scale,
    causal: CAUSAL_CODE[plan.causal],
    hasKvLengths: plan.kvLengths ? 1 : 0,
    hasMask: plan.mask ? 1 : 0,
    maskStrides: plan.mask?.strides ?? [0, 0, 0, 0],
    returnLse: plan.returnLse ? 1 : 0,
    maxThreads: config?.threads ?? 0,
    allowP16: plan.allowP16 ? 1 : 0,
  };
}
