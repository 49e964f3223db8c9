/**
 * A preload: `node --import 'file:///…/memwatch.mjs?out=/tmp/x.json&every=250' dist/cli.js …`.
 * Samples process.memoryUsage() and process.cpuUsage() every `every` ms (timer unref'd: it never
 * keeps the process alive) and writes the samples on exit, so the bench can tell live JS heap from
 * garbage V8 has not returned and from buffers outside the heap, and can read the CPU the process
 * used inside a time window (e.g. the sending window). It changes nothing in the tool.
 */
import { writeFileSync } from "node:fs";

export interface WatchSample {
  /** Seconds since the preload started. */
  t: number;
  epoch: number;
  /** process.cpuUsage() user + system, seconds. */
  cpu: number;
  /** MB. */
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const params = new URL(import.meta.url).searchParams;
const out = params.get("out");
const every = Number(params.get("every") ?? "250");
if (out) {
  const started = performance.now();
  const samples: WatchSample[] = [];
  const mb = (n: number): number => Math.round((n / 1048576) * 10) / 10;
  const sample = (): void => {
    const m = process.memoryUsage();
    const c = process.cpuUsage();
    samples.push({
      t: Math.round(performance.now() - started) / 1000,
      epoch: Date.now(),
      cpu: (c.user + c.system) / 1e6,
      rss: mb(m.rss),
      heapTotal: mb(m.heapTotal),
      heapUsed: mb(m.heapUsed),
      external: mb(m.external),
      arrayBuffers: mb(m.arrayBuffers),
    });
  };
  setInterval(sample, every).unref();
  process.on("exit", () => {
    sample();
    try {
      writeFileSync(out, JSON.stringify(samples));
    } catch {
      /* the bench reports the missing file */
    }
  });
}
