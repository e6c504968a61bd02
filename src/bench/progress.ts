/**
 * A one-line progress bar on stderr, shown only when it helps: a TTY on stdout and stderr, not in
 * --json mode, and only once the run has lasted longer than `after` seconds.
 */
import type { BenchProgress } from './runner.js';

export interface Progress {
  update(p: BenchProgress): void;
  done(): void;
}

export function progressBar(enabled: boolean, after = 2, stream: NodeJS.WriteStream = process.stderr): Progress {
  const start = performance.now();
  let shown = false;
  let last: BenchProgress | undefined;
  const draw = () => {
    if (!last) return;
    const elapsed = (performance.now() - start) / 1e3;
    if (elapsed < after) return;
    const width = 28;
    const frac = last.total > 0 ? last.done / last.total : 0;
    const fill = Math.round(frac * width);
    const cols = stream.columns ?? 100;
    const text = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${last.done}/${last.total} ${fmt(elapsed)} ${last.label}`;
    stream.write(`\r${text.slice(0, cols - 1).padEnd(cols - 1)}`);
    shown = true;
  };
  const timer = enabled ? setInterval(draw, 250) : undefined;
  timer?.unref();
  return {
    update(p) {
      last = p;
      if (enabled) draw();
    },
    done() {
      if (timer) clearInterval(timer);
      if (shown) stream.write(`\r${' '.repeat((stream.columns ?? 100) - 1)}\r`);
    },
  };
}

const fmt = (s: number) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
