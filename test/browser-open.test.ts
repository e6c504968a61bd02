// The browser entry's open() ranks devices exactly as Node's does (src/select/rank.ts). Run here in
// Node 20, which has no navigator.gpu: webgpu is unavailable with its reason and only the float64
// reference can open — the situation of a browser without WebGPU. (test/browser.test.ts runs the
// entry in Chromium, where WebGPU is available.)
import { describe, expect, it } from 'vitest';
// the built entry: its WGSL sources are bundled into dist/browser/assets.js by npm run build:ts
import { open } from '../dist/browser/open.js';
import { probe } from '../dist/browser/probe.js';

describe('browser open() selection (no WebGPU adapter)', () => {
  it('probe: webgpu unavailable with the reason; the native backends say why they cannot run in a browser', async () => {
    const d = await probe();
    expect(d.find((x) => x.backend === 'webgpu')!.available).toBe(false);
    expect(d.find((x) => x.backend === 'webgpu')!.reason).toMatch(/navigator/);
    expect(d.find((x) => x.backend === 'cpu')!.reason).toMatch(/native addon|browser/i);
  });

  it("auto never picks the reference and says why nothing else can run", async () => {
    await expect(open()).rejects.toThrow(/no compute backend is available in this browser \(.*reference:0: the float64 reference is never chosen automatically.*webgpu:0: unavailable: no navigator/);
  });

  it('prefer: [reference] picks it, with the reason recorded; require filters; policy is checked', async () => {
    const dev = await open({ prefer: ['reference'] });
    expect(dev.info.backend).toBe('reference');
    expect(dev.info.selection).toMatchObject({ by: 'auto', policy: 'auto' });
    expect(dev.info.selection!.why).toMatch(/prefer/);
    dev.dispose();
    const f16 = await open({ prefer: ['reference'], require: { dtype: 'f16', ops: ['attention'] } });
    expect(f16.info.backend).toBe('reference');
    f16.dispose();
    await expect(open({ policy: 'fastest' as never })).rejects.toThrow(/policy must be one of auto, prefer-gpu, prefer-cpu, got 'fastest'/);
    await expect(open('webgpu')).rejects.toThrow(/the webgpu backend is unavailable: .*Available here: reference/);
    const explicit = await open('reference');
    expect(explicit.info.selection!.why).toBe("explicit choice 'reference'");
    explicit.dispose();
  });
});
