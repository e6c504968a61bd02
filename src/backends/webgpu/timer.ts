/// <reference types="@webgpu/types" />
/**
 * GPU time of a run of ops from the adapter's `timestamp-query` feature (bench timing). While a
 * window is open every compute pass writes its end time to query 1 and the window's first pass also
 * its start time to query 0 (GpuContext.dispatch asks passWrites()), so the window measures the GPU
 * from the first kernel's start to the last one's end: kernel time, without the host's submit and
 * readback. Two queries per window, whatever the number of passes.
 */
export const QUERY_RESOLVE = 0x0200;
const MAP_READ = 0x0001;
const COPY_SRC = 0x0004;
const COPY_DST = 0x0008;

export class GpuTimer {
  private readonly set: GPUQuerySet;
  private readonly resolve: GPUBuffer;
  private readonly read: GPUBuffer;
  private open = false;
  private first = true;
  private passes = 0;

  constructor(private readonly device: GPUDevice) {
    this.set = device.createQuerySet({ type: 'timestamp', count: 2 });
    this.resolve = device.createBuffer({ size: 16, usage: QUERY_RESOLVE | COPY_SRC });
    this.read = device.createBuffer({ size: 16, usage: MAP_READ | COPY_DST });
  }

  /** The timestampWrites of the next compute pass, or undefined outside a window. */
  passWrites(): GPUComputePassTimestampWrites | undefined {
    if (!this.open) return undefined;
    this.passes++;
    const w: GPUComputePassTimestampWrites = { querySet: this.set, endOfPassWriteIndex: 1 };
    if (this.first) w.beginningOfPassWriteIndex = 0;
    this.first = false;
    return w;
  }

  /** Opens a window (a window left open by a failed run is simply restarted). */
  begin(): void {
    this.open = true;
    this.first = true;
    this.passes = 0;
  }

  /** Seconds of GPU time since begin() (call after the ops are submitted), or 0 when no kernel ran. */
  async end(): Promise<number> {
    if (!this.open) throw new Error('webgpu timer: no window is open');
    this.open = false;
    if (this.passes === 0) return 0;
    const enc = this.device.createCommandEncoder();
    enc.resolveQuerySet(this.set, 0, 2, this.resolve, 0);
    enc.copyBufferToBuffer(this.resolve, 0, this.read, 0, 16);
    this.device.queue.submit([enc.finish()]);
    await this.read.mapAsync(1 /* GPUMapMode.READ */, 0, 16);
    const [t0, t1] = new BigUint64Array(this.read.getMappedRange(0, 16).slice(0));
    this.read.unmap();
    const ns = Number(t1! - t0!);
    if (!(ns >= 0)) throw new Error(`webgpu timer: the timestamps went backwards (${t0} -> ${t1})`);
    return ns / 1e9;
  }

  destroy(): void {
    this.set.destroy();
    this.resolve.destroy();
    this.read.destroy();
  }
}
