/**
 * The browser entry (package.json `exports` → `browser`): the demo page (examples/browser/) bundled
 * with esbuild through that condition, served on 127.0.0.1 and run in headless Chromium (the Debian
 * `chromium` package, driven by playwright-core). The page runs `validate --quick` (the same cases and
 * judging as Node) and a tiny bench, and publishes its results on window.kernelportDemo.
 *
 * Two runs of the page:
 * - with --enable-unsafe-webgpu, Chromium on Linux exposes a WebGPU adapter (SwiftShader, a CPU
 *   rasteriser, where there is no GPU): webgpu must pass validate --quick. Should this Chromium expose
 *   no adapter even so, the test asserts the fallback below instead and says so.
 * - without it, Chromium exposes no adapter: the page must still run the reference path and show
 *   WebGPU as unavailable with the reason.
 * Screenshots of both go to examples/browser/dist/ (gitignored, like the bundle).
 *
 * Needs `npm run build:ts` first (the bundle is built from dist/, as a user's bundler would).
 * Without /usr/bin/chromium the suite fails in CI (`CI` set) and is skipped elsewhere.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { buildDemo, DEMO_DIR, ROOT, serve } from '../scripts/browser-demo.mjs';

const CHROMIUM = '/usr/bin/chromium';
const OUT = join(DEMO_DIR, 'dist');
const haveChromium = existsSync(CHROMIUM);
const MISSING = `Chromium is not installed at ${CHROMIUM}: install the Debian package with \`apt-get install chromium\` (.ci/run does)`;

interface DemoState {
  status: 'running' | 'done' | 'error';
  error: string | null;
  probe: { backend: string; available: boolean; name: string; reason: string | null; kernelFeatures?: string[] }[];
  webgpu: { available: boolean; reason: string | null; name: string | null };
  validate: {
    pass: boolean;
    cases: number;
    backends: { name: string; available: boolean; detail: string }[];
    perBackend: Record<string, { cases: number; passed: number; failed: number; skipped: number; worstRatio: number }>;
    failures: number;
    failureList: unknown[];
    crossDisagreements: number;
    determinism: { backend: string; pass: boolean }[];
    determinismFailures: unknown[];
  };
  bench: { backends: string[]; rows: { case: string; backend: string; clock: string; ms: number | null; gflops: number | null; error: string | null; skipped: string | null }[] };
}

interface PageRun {
  state: DemoState;
  text: Record<string, string>;
  log: string[];
  screenshot: string;
  seconds: number;
}

let server: { url: string; close(): Promise<void> } | undefined;
let bundleInputs: string[] = [];

/** Loads the page in a fresh headless Chromium (own temporary profile) and waits for its results. */
async function runPage(name: string, extraArgs: string[], timeoutMs: number, query = ''): Promise<PageRun> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'kernelport-chromium-'));
  const log: string[] = [];
  const t0 = performance.now();
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', ...extraArgs],
  });
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    await page.goto(server!.url + query);
    await page.waitForFunction(() => (window as unknown as { kernelportDemo?: { status: string } }).kernelportDemo?.status !== 'running', null, {
      timeout: timeoutMs,
      polling: 500,
    });
    const state = (await page.evaluate(() => (window as unknown as { kernelportDemo: unknown }).kernelportDemo)) as DemoState;
    const text: Record<string, string> = {};
    for (const id of ['webgpu-availability', 'validate-status', 'validate-summary', 'validate-report', 'bench-status', 'bench-report'])
      text[id] = (await page.locator(`#${id}`).textContent()) ?? '';
    const screenshot = join(OUT, `screenshot-${name}.png`);
    await page.screenshot({ path: screenshot, fullPage: true });
    return { state, text, log, screenshot, seconds: (performance.now() - t0) / 1e3 };
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

const show = (r: PageRun) => `${r.state.error ?? ''}\n${r.log.join('\n')}\n${JSON.stringify(r.state.validate?.failureList ?? [], null, 1)}`;

/** What every run must show: probe lists every backend, the native ones unavailable with the reason. */
function checkProbe(r: PageRun): void {
  expect(r.state.status, show(r)).toBe('done');
  expect(r.state.probe.map((d) => d.backend).sort()).toEqual(['cpu', 'cuda', 'musa', 'reference', 'webgpu']);
  for (const b of ['cpu', 'cuda', 'musa']) {
    const d = r.state.probe.find((x) => x.backend === b)!;
    expect(d.available).toBe(false);
    expect(d.reason).toMatch(/native addon.*browser/);
  }
  expect(r.state.probe.find((d) => d.backend === 'reference')!.available).toBe(true);
}

/** The reference-only path: WebGPU shown unavailable with its reason, reference validated and benched. */
function checkReferencePath(r: PageRun): void {
  expect(r.state.webgpu.available).toBe(false);
  expect(r.state.webgpu.reason).toMatch(/adapter|navigator\.gpu/);
  expect(r.text['webgpu-availability']).toContain('WebGPU: unavailable');
  expect(r.text['webgpu-availability']).toContain(r.state.webgpu.reason!);
  expect(r.state.validate.backends.map((b) => b.name)).toEqual(['reference']);
  expect(r.state.validate.pass, show(r)).toBe(true);
  expect(r.state.validate.perBackend.reference!.failed).toBe(0);
  expect(r.state.validate.perBackend.reference!.passed).toBe(r.state.validate.cases);
  expect(r.text['validate-status']).toBe('pass');
  expect(r.state.bench.backends).toEqual(['reference']);
  for (const row of r.state.bench.rows) expect(row.error, row.case).toBeNull();
  expect(r.state.bench.rows.filter((x) => x.ms !== null).length).toBeGreaterThan(0);
}

if (!haveChromium) {
  if (process.env.CI)
    describe('browser entry in CI', () => {
      it('has Chromium (a skip is a failure in CI)', () => {
        expect.fail(MISSING);
      });
    });
  else console.log(`test/browser.test.ts: skipped. ${MISSING}`);
}

describe.skipIf(!haveChromium)('browser entry in headless Chromium', () => {
  beforeAll(async () => {
    const built = await buildDemo(OUT);
    bundleInputs = built.inputs;
    server = await serve(OUT);
  }, 120_000);
  afterAll(async () => {
    await server?.close();
  });

  it('bundles through the `browser` export condition with no native addon and no Node modules', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.exports['.'].browser.default).toBe('./dist/browser/index.js');
    const ours = bundleInputs.filter((f) => f.startsWith('dist/'));
    expect(ours).toContain('dist/browser/index.js');
    expect(ours).toContain('dist/browser/assets.js'); // the WGSL, inlined at build time
    for (const nodeOnly of ['dist/index.js', 'dist/native.js', 'dist/probe.js', 'dist/open.js', 'dist/backends/webgpu/gpu.js', 'dist/backends/webgpu/shaders-node.js', 'dist/bench/runner.js'])
      expect(ours).not.toContain(nodeOnly);
    expect(ours.some((f) => f.startsWith('dist/backends/cpu/'))).toBe(false);
    expect(bundleInputs.some((f) => f.startsWith('node:') || f.includes('node_modules/webgpu/'))).toBe(false);
    const js = readFileSync(join(OUT, 'main.js'), 'utf8');
    expect(js).not.toMatch(/\bfrom\s*["']node:|require\(["']node:|kernelport\.node/);
  });

  it(
    'with --enable-unsafe-webgpu: webgpu passes validate --quick in the page (or, with no adapter, the reference path runs)',
    async () => {
      const r = await runPage('webgpu', ['--enable-unsafe-webgpu'], 540_000);
      checkProbe(r);
      if (!r.state.webgpu.available) {
        console.log(`test/browser.test.ts: Chromium exposed no WebGPU adapter even with --enable-unsafe-webgpu (${r.state.webgpu.reason}); asserted the reference path`);
        checkReferencePath(r);
        return;
      }
      console.log(`test/browser.test.ts: Chromium exposed a WebGPU adapter (${r.state.webgpu.name}); validate --quick ran in ${r.seconds.toFixed(0)} s`);
      expect(r.text['webgpu-availability']).toContain('WebGPU: available');
      const v = r.state.validate;
      expect(v.backends.map((b) => b.name).sort()).toEqual(['reference', 'webgpu']);
      // the kernels use every optional feature the adapter has (SwiftShader: subgroups): that path is judged here
      const uses = r.state.probe.find((d) => d.backend === 'webgpu')!.kernelFeatures ?? [];
      console.log(`test/browser.test.ts: webgpu kernel features in use: ${uses.join(', ') || 'none'}`);
      expect(v.backends.find((b) => b.name === 'webgpu')!.detail).toContain(`kernel features: ${uses.length ? uses.join(', ') : 'none'}`);
      expect(v.pass, show(r)).toBe(true);
      expect(v.perBackend.webgpu!.failed, show(r)).toBe(0);
      expect(v.perBackend.webgpu!.skipped).toBe(0);
      expect(v.perBackend.webgpu!.passed).toBe(v.cases);
      expect(v.perBackend.webgpu!.worstRatio).toBeLessThanOrEqual(1);
      expect(v.crossDisagreements).toBe(0);
      expect(v.determinism.every((d) => d.pass)).toBe(true);
      expect(r.text['validate-status']).toBe('pass');
      expect(r.text['validate-report']).toMatch(/^PASS in /m);
      expect(r.state.bench.backends).toEqual(['webgpu']);
      expect(r.state.bench.rows).toHaveLength(2);
      // timestamp-query where the adapter has it (SwiftShader does): the bench times kernels on the GPU clock
      const clock = uses.includes('timestamp-query') ? /^device: WebGPU timestamp-query/ : /^host: performance\.now\(\)/;
      for (const row of r.state.bench.rows) {
        expect(row.error, row.case).toBeNull();
        expect(row.ms).toBeGreaterThan(0);
        expect(row.clock).toMatch(clock);
      }
      console.log(`test/browser.test.ts: bench clock: ${r.state.bench.rows[0]!.clock}; ${r.state.bench.rows.map((x) => `${x.case} ${x.ms!.toFixed(2)} ms`).join(', ')}`);
      expect(r.text['bench-report']).toMatch(/tiny\/matmul-256/);
    },
    600_000,
  );

  it(
    'with --enable-unsafe-webgpu and webgpuDisable: the fallback kernels (no subgroups) pass the f32 matmul cases',
    async (ctx) => {
      const r = await runPage('webgpu-fallback', ['--enable-unsafe-webgpu'], 240_000, '?disable=subgroups&filter=matmul/f32/normal&skipBench=1');
      checkProbe(r);
      if (!r.state.webgpu.available) {
        console.log(`test/browser.test.ts: fallback run skipped: Chromium exposed no WebGPU adapter (${r.state.webgpu.reason})`);
        ctx.skip();
      }
      const v = r.state.validate;
      const detail = v.backends.find((b) => b.name === 'webgpu')!.detail;
      expect(detail).toMatch(/kernel features: /);
      expect(detail).not.toMatch(/kernel features: .*subgroups/);
      expect(v.cases).toBeGreaterThan(20);
      expect(v.pass, show(r)).toBe(true);
      expect(v.perBackend.webgpu!.passed).toBe(v.cases);
    },
    300_000,
  );

  it(
    'without WebGPU: the page runs the reference path and shows WebGPU as unavailable with the reason',
    async () => {
      const r = await runPage('no-webgpu', [], 240_000);
      checkProbe(r);
      checkReferencePath(r);
    },
    300_000,
  );
});
