/** Built-in peers by name, and loading a peer module (the hook for others). */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BenchInputError } from '../errors.js';
import { OnnxRuntimePeer } from './onnxruntime.js';
import { isPeer, type Peer } from './peer.js';

export type { CaseInputs, Peer, PeerRun } from './peer.js';
export { ORT_INSTALL_HINT } from './onnxruntime.js';

export const BUILTIN_PEERS: Record<string, () => Peer> = {
  'onnxruntime-node': () => new OnnxRuntimePeer(),
};

export function builtinPeer(name: string): Peer {
  const make = BUILTIN_PEERS[name];
  if (!make) throw new BenchInputError(`unknown peer '${name}' (built in: ${Object.keys(BUILTIN_PEERS).join(', ')}; others: --peer-module)`);
  return make();
}

/** A module whose default export (or `peer` export) is a Peer, or a function returning one. */
export async function loadPeerModule(path: string): Promise<Peer> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (e) {
    throw new BenchInputError(`--peer-module ${path}: cannot load it (${(e as Error).message})`);
  }
  let p = mod.default ?? mod.peer;
  if (typeof p === 'function' && !isPeer(p)) p = await (p as () => unknown)();
  if (!isPeer(p)) throw new BenchInputError(`--peer-module ${path}: the default export is not a Peer (needs name, clock, backend, init, supports, prepare; see bench/README.md)`);
  return p;
}
