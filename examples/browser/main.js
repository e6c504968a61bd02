// The demo page's script: `import ... from 'kernelport'` resolves to the package's browser entry when
// bundled for the browser (`npm run demo:browser` bundles it with esbuild and serves this folder).
// Results go to the page and to window.kernelportDemo (read by test/browser.test.ts).
import { bench, formatTerminal, probe, reportTable, validate } from 'kernelport';

const $ = (id) => document.getElementById(id);
const state = { status: 'running', probe: null, webgpu: null, validate: null, bench: null, error: null };
window.kernelportDemo = state;

function badge(id, cls, text) {
  const el = $(id);
  el.className = `badge ${cls}`;
  el.textContent = text;
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  if (cls) {
    const b = document.createElement('span');
    b.className = `badge ${cls}`;
    b.textContent = text;
    td.append(b);
  } else td.textContent = text;
  tr.append(td);
}

async function main() {
  const params = new URLSearchParams(location.search);
  const devices = await probe();
  state.probe = devices.map((d) => ({ backend: d.backend, available: d.available, name: d.name, reason: d.reason ?? null, kernelFeatures: d.features.kernelFeatures ?? [] }));
  const body = $('backends').querySelector('tbody');
  for (const d of devices) {
    const tr = document.createElement('tr');
    tr.dataset.backend = d.backend;
    cell(tr, d.backend);
    cell(tr, d.available ? 'yes' : 'no', d.available ? 'yes' : 'no');
    cell(tr, d.available ? `${d.name}${d.vendor ? ` (${d.vendor}${d.architecture ? `, ${d.architecture}` : ''})` : ''}` : '');
    const extra = d.backend === 'webgpu' && d.available ? ` featureLevel ${d.features.featureLevel}; features: ${(d.features.adapterFeatures ?? []).filter((f) => ['shader-f16', 'subgroups', 'timestamp-query'].includes(f)).join(', ') || 'none of shader-f16/subgroups/timestamp-query'}` : '';
    cell(tr, [d.reason, extra.trim()].filter(Boolean).join('. '));
    body.append(tr);
  }
  badge('probe-status', 'pass', 'done');

  const webgpu = devices.find((d) => d.backend === 'webgpu');
  state.webgpu = { available: !!webgpu?.available, reason: webgpu?.reason ?? null, name: webgpu?.name ?? null };
  const note = document.createElement('div');
  note.className = webgpu?.available ? 'note' : 'note warn';
  note.id = 'webgpu-availability';
  note.textContent = webgpu?.available
    ? `WebGPU: available — ${webgpu.name || 'adapter'}${webgpu.features.software ? ' (a software adapter: correctness only, timings mean little)' : ''}. validate runs webgpu and the reference.`
    : `WebGPU: unavailable — ${webgpu?.reason ?? 'not probed'}. Running the reference path only.`;
  $('webgpu-note').append(note);

  // validate --quick (or ?size=full, scripts/browser-validate-full.mjs): every available backend
  // (webgpu where there is an adapter, and reference).
  badge('validate-status', 'running', 'running…');
  const size = params.get('size') === 'full' ? 'full' : 'quick';
  const seed = Number(params.get('seed') ?? 1);
  const filter = params.get('filter') ?? undefined; // e.g. ?filter=attention (a subset while debugging)
  // ?disable=subgroups: the fallback kernels on an adapter that has the feature
  const webgpuDisable = params.get('disable')?.split(',').filter(Boolean);
  const report = await validate({
    size,
    seed,
    filter,
    webgpuDisable,
    onProgress: (done, total, name) => {
      $('validate-summary').textContent = `case ${done}/${total}: ${name}`;
    },
  });
  const backends = report.backends.map((b) => b.name);
  const perBackend = {};
  for (const name of backends) {
    const rows = report.summary.filter((r) => r.backend === name);
    perBackend[name] = {
      cases: rows.reduce((s, r) => s + r.cases, 0),
      passed: rows.reduce((s, r) => s + r.passed, 0),
      failed: rows.reduce((s, r) => s + r.failed, 0),
      skipped: rows.reduce((s, r) => s + r.skipped, 0),
      worstRatio: Math.max(0, ...rows.map((r) => r.worstRatio)),
    };
  }
  state.validate = {
    size,
    pass: report.pass,
    cases: report.cases,
    backends: report.backends,
    perBackend,
    failures: report.failures.length,
    failureList: report.failures.slice(0, 20).map((f) => ({
      case: f.case,
      backend: f.backend,
      status: f.status,
      worstRatio: f.worstRatio,
      error: f.error ?? null,
      worst: [f.out, f.lse].filter((r) => r && !r.pass).map((r) => r.worst.slice(0, 3).map((e) => `[${e.index.join(',')}] got ${e.got} expected ${e.expected}`).join('; ')),
    })),
    crossDisagreements: report.cross.reduce((s, r) => s + r.disagreements, 0),
    determinism: report.determinism.map((r) => ({ backend: r.backend, pass: r.pass })),
    determinismFailures: report.determinismFailures.slice(0, 10),
    ms: report.ms,
  };
  if (params.get('skipBench') === '1') {
    state.status = 'done';
    return;
  }
  $('validate-summary').textContent = `${report.cases} cases on ${backends.join(', ')} in ${(report.ms / 1e3).toFixed(1)} s: ` +
    backends.map((b) => `${b} ${perBackend[b].passed}/${perBackend[b].cases - perBackend[b].skipped} pass (worst error ${perBackend[b].worstRatio.toFixed(3)}× its bound)`).join('; ');
  $('validate-report').textContent = formatTerminal(report);
  badge('validate-status', report.pass ? 'pass' : 'fail', report.pass ? 'pass' : 'FAIL');

  // A tiny bench on the device validate just judged (webgpu if available, else reference).
  badge('bench-status', 'running', 'running…');
  const b = await bench({
    cases: [
      { op: 'matmul', id: 'tiny/matmul-256', m: 256, k: 256, n: 256, bias: true, activation: 'gelu', dtype: 'f32' },
      { op: 'attention', id: 'tiny/attention-causal', batch: 1, hq: 4, hkv: 2, sq: 128, skv: 128, d: 64, causal: true, dtype: 'f32' },
    ],
    minTime: 0.25,
    warmup: 0.05,
    minSamples: 3,
  });
  state.bench = {
    backends: b.settings.backends,
    rows: b.rows.map((r) => ({ case: r.case.id, backend: r.backend, clock: r.clock, ms: r.stats ? r.stats.median * 1e3 : null, gflops: r.flopsPerSec ? r.flopsPerSec / 1e9 : null, error: r.error ?? null, skipped: r.skipped ?? null })),
  };
  $('bench-report').textContent = reportTable(b);
  const ok = b.rows.every((r) => r.stats);
  badge('bench-status', ok ? 'pass' : 'fail', ok ? `done (${b.settings.backends.join(', ')})` : 'errors');
  state.status = 'done';
}

main().catch((e) => {
  state.status = 'error';
  state.error = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
  const pre = document.createElement('pre');
  pre.id = 'error';
  pre.textContent = state.error;
  document.body.prepend(pre);
});
