#!/usr/bin/env node
/**
 * validate --full on the browser's WebGPU adapter: the demo page (examples/browser/) with
 * ?size=full&skipBench=1 in headless Chromium (--enable-unsafe-webgpu: SwiftShader where there is no
 * GPU). Opt-in (`npm run test:browser-full`), not part of `npm test`: the full suite is ~3x the quick
 * one (1053 cases vs 366) and SwiftShader compiles every kernel specialisation in 1-2 s, which would
 * put CI past its time budget. test/browser.test.ts runs the quick suite in CI.
 *
 *   npm run build:ts && node scripts/browser-validate-full.mjs [--seed N] [--timeout-min 60] [--json out.json]
 *
 * Prints cases, pass/fail, the worst error as a multiple of its bound and the wall time; exit 1 on any
 * failure (or when Chromium exposes no WebGPU adapter: there is nothing to validate then).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDemo, serve } from './browser-demo.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const seed = Number(arg('seed', '1'));
const timeoutMs = Number(arg('timeout-min', '60')) * 60_000;
const jsonOut = arg('json', undefined);

const { chromium } = await import('playwright-core');
const out = mkdtempSync(join(tmpdir(), 'kernelport-demo-full-')); // not examples/browser/dist: test/browser.test.ts builds there
await buildDemo(out);
const server = await serve(out);
const profile = mkdtempSync(join(tmpdir(), 'kernelport-chromium-'));
const t0 = performance.now();
let code = 1;
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run', '--enable-unsafe-webgpu'],
});
try {
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  page.on('pageerror', (e) => console.error(`pageerror: ${e.message}`));
  await page.goto(`${server.url}?size=full&skipBench=1&seed=${seed}`);
  let last = '';
  const timer = setInterval(async () => {
    const t = await page.locator('#validate-summary').textContent().catch(() => '');
    if (t && t !== last) process.stderr.write(`\r${(last = t).slice(0, 120)}`.padEnd(122));
  }, 5000);
  try {
    await page.waitForFunction(() => window.kernelportDemo?.status !== 'running', null, { timeout: timeoutMs, polling: 1000 });
  } finally {
    clearInterval(timer);
    process.stderr.write('\n');
  }
  const state = await page.evaluate(() => window.kernelportDemo);
  const seconds = (performance.now() - t0) / 1e3;
  if (state.status !== 'done') throw new Error(`the page failed: ${state.error}`);
  if (!state.webgpu.available) throw new Error(`Chromium exposed no WebGPU adapter: ${state.webgpu.reason}`);
  const v = state.validate;
  const w = v.perBackend.webgpu;
  const adapter = state.probe.find((d) => d.backend === 'webgpu');
  console.log(`adapter: ${adapter?.name}`);
  console.log(`validate --full (seed ${seed}) on webgpu in Chromium: ${w.passed}/${w.cases} passed, ${w.failed} failed, ${w.skipped} skipped; worst error ${w.worstRatio.toFixed(3)}x its bound; cross-backend disagreements ${v.crossDisagreements}; determinism ${v.determinism.every((d) => d.pass) ? 'pass' : 'FAIL'}; ${seconds.toFixed(0)} s wall (page ${(v.ms / 1e3).toFixed(0)} s)`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ seconds, adapter, validate: v }, null, 1));
  if (!v.pass) console.log(JSON.stringify(v.failureList, null, 1));
  code = v.pass && w.failed === 0 && w.skipped === 0 ? 0 : 1;
} catch (e) {
  console.error(`browser-validate-full: ${e.message}`);
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
  await server.close();
  rmSync(out, { recursive: true, force: true });
}
process.exit(code);
