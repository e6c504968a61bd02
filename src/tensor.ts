/** A tensor: a shape, a dtype and storage on one device. Reading waits for the ops that write it. */
import type { BackendDevice, Storage } from './backends/backend.js';
import { fmt, numel } from './ops/shape.js';
import type { DType, HostData, Shape } from './types.js';

// Safety net only: a tensor that is garbage collected without dispose() gives its memory back.
const registry = new FinalizationRegistry<{ backend: BackendDevice; storage: Storage; live: { v: boolean } }>((held) => {
  if (held.live.v) {
    held.live.v = false;
    try {
      held.backend.release(held.storage);
    } catch {
      // the device may already be gone; its memory went with it
    }
  }
});

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** @internal */ readonly owner: object;
  #backend: BackendDevice;
  #storage: Storage | undefined;
  #live = { v: true };

  /** @internal Created by Device.tensor / Device.empty and by ops. */
  constructor(owner: object, backend: BackendDevice, storage: Storage, shape: Shape, dtype: DType) {
    this.owner = owner;
    this.#backend = backend;
    this.#storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    registry.register(this, { backend, storage, live: this.#live }, this);
  }

  get size(): number {
    return numel(this.shape);
  }

  get disposed(): boolean {
    return this.#storage === undefined;
  }

  /** @internal */
  storage(where: string, name: string): Storage {
    if (!this.#storage) throw new TypeError(`${where}: ${name} (shape ${fmt(this.shape)}, ${this.dtype}) has been disposed`);
    return this.#storage;
  }

  /** Waits for the ops that produce this tensor, then copies it out (f32 → Float32Array, f16/bf16 → Uint16Array bits). */
  async read(): Promise<HostData> {
    const s = this.storage('read', 'the tensor');
    // The same answer on every backend, whatever the timing: a disposed device's tensors are not read.
    const owner = this.owner as { disposed?: boolean; info?: { backend: string } };
    if (owner.disposed)
      throw new TypeError(`read: the tensor's ${owner.info?.backend ?? ''} device has been disposed; read results before disposing their device`);
    const out = this.dtype === 'f32' ? new Float32Array(this.size) : new Uint16Array(this.size);
    await this.#backend.read(s, out);
    return out;
  }

  /** Frees the memory now. Ops already enqueued that use this tensor still complete. Idempotent. */
  dispose(): void {
    if (!this.#storage) return;
    registry.unregister(this);
    this.#live.v = false;
    const s = this.#storage;
    this.#storage = undefined;
    this.#backend.release(s);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor(${fmt(this.shape)}, ${this.dtype}${this.disposed ? ', disposed' : ''})`;
  }
}
