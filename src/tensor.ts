/** A tensor: a shape, a dtype and storage on one device. Reading waits for the ops that write it. */
import type { BackendDevice, Storage } from './backends/backend.js';
import { bytesPerElement } from './dtype.js';
import { checkShape, describe, fmt, numel } from './ops/shape.js';
import type { DType, HostData, Shape } from './types.js';

/** One storage and the tensors that use it (a tensor and its reshape views): freed with the last. */
class SharedStorage {
  refs = 1;
  constructor(
    readonly backend: BackendDevice,
    readonly storage: Storage,
  ) {}
  drop(): void {
    if (--this.refs > 0) return;
    try {
      this.backend.release(this.storage);
    } catch {
      // the device may already be gone; its memory went with it
    }
  }
}

// Safety net only: a tensor that is garbage collected without dispose() gives its reference back.
const registry = new FinalizationRegistry<{ shared: SharedStorage; live: { v: boolean } }>((held) => {
  if (held.live.v) {
    held.live.v = false;
    held.shared.drop();
  }
});

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** @internal */ readonly owner: object;
  #shared: SharedStorage;
  /** Whether this tensor still holds its reference to the storage (not disposed, not collected). */
  #live = { v: true };

  /** @internal Created by Device.tensor / Device.empty and by ops (and reshape, sharing `shared`). */
  constructor(owner: object, backend: BackendDevice, storage: Storage, shape: Shape, dtype: DType, shared?: SharedStorage) {
    this.owner = owner;
    this.#shared = shared ?? new SharedStorage(backend, storage);
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    registry.register(this, { shared: this.#shared, live: this.#live }, this);
  }

  get size(): number {
    return numel(this.shape);
  }

  get disposed(): boolean {
    return !this.#live.v;
  }

  /** @internal */
  storage(where: string, name: string): Storage {
    if (!this.#live.v) throw new TypeError(`${where}: ${name} (shape ${fmt(this.shape)}, ${this.dtype}) has been disposed`);
    return this.#shared.storage;
  }

  /** Waits for the ops that produce this tensor, then copies it out (f32 → Float32Array, f16/bf16 → Uint16Array bits). */
  async read(): Promise<HostData> {
    const s = this.storage('read', 'the tensor');
    this.#deviceLive('read', '; read results before disposing their device');
    const out = this.dtype === 'f32' ? new Float32Array(this.size) : new Uint16Array(this.size);
    await this.#shared.backend.read(s, out);
    return out;
  }

  /**
   * Copies host values into this tensor from element `offset` (row-major; f32: a Float32Array, f16/bf16:
   * a Uint16Array of bits), after every op already enqueued that uses it and before every later one. A
   * fixed-capacity KV cache takes each decode step's rows this way, with kvLengths saying how many
   * are valid. webgpu writes whole 4-byte words: there a 16-bit write needs an even offset and count.
   */
  write(data: HostData, offset = 0): void {
    const s = this.storage('write', 'the tensor');
    this.#deviceLive('write');
    const want = this.dtype === 'f32' ? Float32Array : Uint16Array;
    if (!(data instanceof want)) throw new TypeError(`write: a ${this.dtype} tensor takes a ${want.name}, got ${describe(data)}`);
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new (typeof offset === 'number' ? RangeError : TypeError)(`write: offset must be a non-negative integer (elements), got ${describe(offset)}`);
    if (offset + data.length > this.size)
      throw new RangeError(`write: ${data.length} elements at offset ${offset} do not fit the ${this.size} of ${fmt(this.shape)}`);
    this.#shared.backend.write(s, offset * bytesPerElement(this.dtype), data);
  }

  // The same answer on every backend, whatever the timing: a disposed device's tensors are not used.
  #deviceLive(where: string, hint = ''): void {
    const owner = this.owner as { disposed?: boolean; info?: { backend: string } };
    if (owner.disposed) throw new TypeError(`${where}: the tensor's ${owner.info?.backend ?? ''} device has been disposed${hint}`);
  }

  /**
   * The same memory under another shape of as many elements, row-major (one dimension may be -1: the
   * rest of the elements). No copy and no op: an attention output in layout 'bshd', [B, S, H, D], is
   * a [B·S, H·D] matmul operand as it is. The tensor and its views are disposed independently; the
   * memory goes with the last of them.
   */
  reshape(shape: readonly number[]): Tensor {
    const s = this.storage('reshape', 'the tensor');
    if (!Array.isArray(shape)) throw new TypeError(`reshape: shape must be an array of dimensions, got ${describe(shape)}`);
    const free = shape.filter((d) => d === -1).length;
    if (free > 1) throw new RangeError(`reshape: at most one dimension may be -1, got ${fmt(shape)}`);
    const bad = shape.findIndex((d) => typeof d === 'number' && d < 0 && d !== -1);
    if (bad >= 0) throw new RangeError(`reshape: dimension ${bad} must be a non-negative integer or -1 (inferred), got ${shape[bad]} in ${fmt(shape)}`);
    const known = shape.reduce((p: number, d) => (d === -1 ? p : p * d), 1);
    const inferred = known > 0 && this.size % known === 0 ? this.size / known : -1;
    if (free && inferred < 0) throw new RangeError(`reshape: the ${this.size} elements of ${fmt(this.shape)} do not fill ${fmt(shape)} for any -1`);
    const resolved = checkShape('reshape', shape.map((d) => (d === -1 ? inferred : d)));
    if (numel(resolved) !== this.size)
      throw new RangeError(`reshape: shape ${fmt(shape)} does not hold the ${this.size} elements of ${fmt(this.shape)}`);
    this.#shared.refs++;
    return new Tensor(this.owner, this.#shared.backend, s, resolved, this.dtype, this.#shared);
  }

  /** Gives this tensor's reference to its memory back now (the memory goes when no view holds it either).
   *  Ops already enqueued that use it still complete. Idempotent. */
  dispose(): void {
    if (!this.#live.v) return;
    registry.unregister(this);
    this.#live.v = false;
    this.#shared.drop();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor(${fmt(this.shape)}, ${this.dtype}${this.disposed ? ', disposed' : ''})`;
  }
}
