/** The browser ShaderSource: kernels/wgsl/*.wgsl as inlined at build time (assets.d.ts). */
import type { ShaderSource } from '../backends/webgpu/specialise.js';
import { WGSL_SOURCES } from './assets.js';

export const browserShaderSource: ShaderSource = (file) => {
  const s = WGSL_SOURCES[file];
  if (s === undefined)
    throw new Error(`webgpu: ${file} is not among the inlined WGSL sources (${Object.keys(WGSL_SOURCES).join(', ')}); rebuild with \`npm run build:ts\``);
  return s;
};
