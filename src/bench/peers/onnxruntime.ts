/**
 * onnxruntime-node as a peer: an optional peer dependency, loaded only if installed. The models are
 * built in code (onnx-proto.ts): MatMul [+ Add] [+ Gelu/Relu/Sigmoid·Mul], and the opset-23
 * Attention op (4-D, GQA through K's head count, is_causal). All operands are graph inputs, fed
 * the same host arrays as kernelport (no constant-weight prepacking on either side).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { BenchCase, PeerInfo } from '../types.js';
import { ElemType, encodeModel, type NodeSpec } from './onnx-proto.js';
import type { CaseInputs, Peer, PeerRun } from './peer.js';

export const ORT_INSTALL_HINT =
  'install it next to kernelport without making it a dependency: `npm run bench:peer` (= ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node)';

// The parts of onnxruntime-node's API used here (it is optional, so no compile-time types).
interface OrtTensor {
  readonly dims: readonly number[];
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>, fetches?: Record<string, OrtTensor> | string[]): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface OrtModule {
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options: object): Promise<OrtSession> };
}

export class OnnxRuntimePeer implements Peer {
  readonly name = 'onnxruntime-node';
  readonly clock = 'host: performance.now() around session.run (synchronous ORT call)';
  readonly backend = 'cpu';
  private ort: OrtModule | undefined;
  private threads = 1;

  async init(options: { threads: number }): Promise<PeerInfo> {
    this.threads = Math.max(1, options.threads);
    const specifier = 'onnxruntime-node';
    try {
      const mod = (await import(specifier)) as OrtModule & { default?: OrtModule };
      this.ort = mod.InferenceSession ? mod : mod.default;
      if (!this.ort?.InferenceSession) throw new Error('the module has no InferenceSession');
    } catch (e) {
      const missing = (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(String(e));
      return {
        name: this.name,
        available: false,
        reason: missing ? `onnxruntime-node is not installed; ${ORT_INSTALL_HINT}` : `onnxruntime-node failed to load (${(e as Error).message}); ${ORT_INSTALL_HINT}`,
      };
    }
    return { name: this.name, available: true, version: ortVersion(), detail: `CPU execution provider, intra-op threads ${this.threads}, graph optimization 'all'` };
  }

  supports(c: BenchCase): string | undefined {
    if (c.dtype !== 'f32') return `${this.name} peer runs f32 only (its CPU provider lacks ${c.dtype} kernels for these ops)`;
    if (c.op === 'attention' && c.causal && c.sq !== c.skv && c.sq !== 1)
      return 'ONNX Attention is_causal is top-left aligned; with Sq != Skv it differs from bottom-right causal';
    return undefined;
  }

  async prepare(c: BenchCase, inputs: CaseInputs): Promise<PeerRun> {
    const ort = this.ort;
    if (!ort) throw new Error(`${this.name} is not initialised`);
    const { model, feeds, output, outShape } = build(ort, c, inputs);
    const session = await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: this.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    // A pre-allocated output keeps a per-run copy out of the timing where the binding supports it.
    const outData = new Float32Array(outShape.reduce((a, b) => a * b, 1));
    let fetches: Record<string, OrtTensor> | undefined = { [output]: new ort.Tensor('float32', outData, outShape) };
    try {
      await session.run(feeds, fetches);
    } catch {
      fetches = undefined;
      await session.run(feeds);
    }
    return {
      async time(iters: number): Promise<number> {
        const t0 = performance.now();
        for (let i = 0; i < iters; i++) await (fetches ? session.run(feeds, fetches) : session.run(feeds));
        return (performance.now() - t0) / 1e3;
      },
      async dispose() {
        await session.release();
      },
      async output() {
        if (fetches) return outData;
        const r = await session.run(feeds);
        return (r[output] as unknown as { data: Float32Array }).data;
      },
    };
  }
}

function ortVersion(): string | undefined {
  try {
    const req = createRequire(join(process.cwd(), 'noop.js'));
    return (req('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    try {
      return (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
    } catch {
      return undefined;
    }
  }
}

interface Built {
  model: Uint8Array;
  feeds: Record<string, OrtTensor>;
  output: string;
  outShape: number[];
}

const F = ElemType.FLOAT;

function build(ort: OrtModule, c: BenchCase, inputs: CaseInputs): Built {
  if (c.op === 'matmul' && inputs.op === 'matmul') {
    const nodes: NodeSpec[] = [{ opType: 'MatMul', inputs: ['A', 'B'], outputs: ['mm'] }];
    let last = 'mm';
    const feeds: Record<string, OrtTensor> = { A: new ort.Tensor('float32', inputs.a, [c.m, c.k]), B: new ort.Tensor('float32', inputs.b, [c.k, c.n]) };
    const graphInputs = [
      { name: 'A', elemType: F, shape: [c.m, c.k] },
      { name: 'B', elemType: F, shape: [c.k, c.n] },
    ];
    if (c.bias) {
      if (!inputs.bias) throw new Error('matmul case with bias but no bias input');
      nodes.push({ opType: 'Add', inputs: [last, 'bias'], outputs: ['biased'] });
      last = 'biased';
      feeds.bias = new ort.Tensor('float32', inputs.bias, [c.n]);
      graphInputs.push({ name: 'bias', elemType: F, shape: [c.n] });
    }
    switch (c.activation) {
      case 'none':
        break;
      case 'relu':
        nodes.push({ opType: 'Relu', inputs: [last], outputs: ['act'] });
        last = 'act';
        break;
      case 'gelu':
      case 'gelu_tanh':
        nodes.push({ opType: 'Gelu', inputs: [last], outputs: ['act'], attributes: { approximate: c.activation === 'gelu' ? 'none' : 'tanh' } });
        last = 'act';
        break;
      case 'silu':
        nodes.push({ opType: 'Sigmoid', inputs: [last], outputs: ['sig'] }, { opType: 'Mul', inputs: [last, 'sig'], outputs: ['act'] });
        last = 'act';
        break;
    }
    nodes.push({ opType: 'Identity', inputs: [last], outputs: ['Y'] });
    const outShape = [c.m, c.n];
    const model = encodeModel({
      irVersion: 9,
      opsets: [{ domain: '', version: 20 }],
      graphName: 'kernelport_bench_matmul',
      nodes,
      inputs: graphInputs,
      outputs: [{ name: 'Y', elemType: F, shape: outShape }],
    });
    return { model, feeds, output: 'Y', outShape };
  }
  if (c.op === 'attention' && inputs.op === 'attention') {
    const qShape = [c.batch, c.hq, c.sq, c.d];
    const kShape = [c.batch, c.hkv, c.skv, c.d];
    // Bottom-right causal with Sq = Skv is ONNX's (top-left) is_causal; with Sq = 1 it masks nothing.
    const isCausal = c.causal && c.sq === c.skv ? 1 : 0;
    const outShape = [c.batch, c.hq, c.sq, c.d];
    const model = encodeModel({
      irVersion: 11,
      opsets: [{ domain: '', version: 23 }],
      graphName: 'kernelport_bench_attention',
      nodes: [{ opType: 'Attention', inputs: ['Q', 'K', 'V'], outputs: ['Y'], attributes: { is_causal: isCausal, scale: { float: 1 / Math.sqrt(c.d) } } }],
      inputs: [
        { name: 'Q', elemType: F, shape: qShape },
        { name: 'K', elemType: F, shape: kShape },
        { name: 'V', elemType: F, shape: kShape },
      ],
      outputs: [{ name: 'Y', elemType: F, shape: outShape }],
    });
    const feeds = {
      Q: new ort.Tensor('float32', inputs.q, qShape),
      K: new ort.Tensor('float32', inputs.k, kShape),
      V: new ort.Tensor('float32', inputs.v, kShape),
    };
    return { model, feeds, output: 'Y', outShape };
  }
  throw new Error('case and inputs disagree on the op');
}
