#!/usr/bin/env node
/**
 * The browser demo (examples/browser/): bundles main.js with esbuild for the browser, which resolves
 * `import ... from 'kernelport'` through this package's `browser` export condition (dist/browser/,
 * so run `npm run build:ts` first), and serves the page on 127.0.0.1. WebGPU needs a secure context:
 * http://127.0.0.1 is one, a file:// page is not.
 *
 *   npm run demo:browser                   # builds into examples/browser/dist and serves it
 *   node scripts/browser-demo.mjs --port 8080 [--out DIR] [--build-only]
 *
 * test/browser.test.ts uses buildDemo() and serve() from here.
 */
import { copyFileSync, createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEMO_DIR = join(ROOT, 'examples', 'browser');

/** Bundles the demo into outDir (index.html + main.js); throws with esbuild's message on any error. */
export async function buildDemo(outDir = join(DEMO_DIR, 'dist')) {
  if (!existsSync(join(ROOT, 'dist', 'browser', 'index.js')) || !existsSync(join(ROOT, 'dist', 'browser', 'assets.js')))
    throw new Error('the browser entry is not built (dist/browser/index.js, dist/browser/assets.js): run `npm run build:ts` first');
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch (e) {
    throw new Error(`esbuild (installed with vitest/vite) cannot be loaded: ${e.message}. Run \`npm ci\`.`);
  }
  mkdirSync(outDir, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [join(DEMO_DIR, 'main.js')],
    outfile: join(outDir, 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser', // conditions: browser, import, default; Node built-ins do not resolve
    target: 'es2022',
    sourcemap: true,
    metafile: true,
    logLevel: 'silent',
  });
  copyFileSync(join(DEMO_DIR, 'index.html'), join(outDir, 'index.html'));
  return { outDir, inputs: Object.keys(result.metafile.inputs), warnings: result.warnings };
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json', '.json': 'application/json', '.png': 'image/png', '.css': 'text/css' };

/** A static server for dir on 127.0.0.1 (port 0: any free port). */
export function serve(dir, port = 0) {
  const base = resolve(dir);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file = normalize(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(403).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      const { port: p } = server.address();
      ok({ url: `http://127.0.0.1:${p}/`, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
  };
  const out = resolve(opt('--out', join(DEMO_DIR, 'dist')));
  const { outDir } = await buildDemo(out);
  console.log(`built the demo into ${outDir}`);
  if (!args.includes('--build-only')) {
    const { url } = await serve(outDir, Number(opt('--port', 8080)));
    console.log(`serving ${url}  (Chromium on Linux exposes WebGPU with --enable-unsafe-webgpu; Ctrl-C stops)`);
  }
}
