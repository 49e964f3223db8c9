import { join } from "node:path";
import type { WatchSample } from "../memwatch.js";
import { runFiles, runIssue, writeRecipientsCsv, type BenchContext } from "../lib/context.js";
import { startSimulator } from "../lib/proc.js";
import { relMargin, type SectionResult } from "../lib/report.js";
import { fmt, round, spread } from "../lib/stats.js";

/**
 * 3. Memory: peak RSS (GNU time's "Maximum resident set size") of the `issue` process sending N
 * rows at L = 0 and high concurrency, for two N a decade apart. Also samples VmRSS over the run, so
 * the phase that holds the memory (planning, sending, result file) can be read off the timeline.
 * The last finished run of each size is kept for the resume section.
 */

export interface MemorySample {
  rep: number;
  rows: number;
  concurrency: number;
  maxRssMb: number;
  wallSeconds: number;
  cpuSeconds: number;
  sendingSeconds: number;
  rowsPerSecond: number;
  /** When the peak was first reached, seconds since the process started. */
  peakAtSeconds: number;
  /** The simulator's RSS at the end (it keeps every code it issued; not the tool's memory). */
  simulatorRssMb: number;
  issued: number;
  /** process.memoryUsage() (MB) at the sample with the highest RSS. */
  atPeak?: WatchSample;
  maxHeapUsedMb: number;
  exitCode: number | null;
  timeline: WatchSample[];
}

export async function runMemory(ctx: BenchContext, options: { sizes?: number[]; concurrency?: number } = {}): Promise<SectionResult> {
  const started = performance.now();
  const sizes = options.sizes ?? (ctx.quick ? [20_000, 100_000] : [100_000, 1_000_000]);
  const c = options.concurrency ?? 64;
  const largest = Math.max(...sizes);
  const samples: MemorySample[] = [];
  for (const rows of sizes) {
    const csv = join(ctx.tmp, `mem-${rows}.csv`);
    await writeRecipientsCsv(csv, rows);
    // The largest size takes minutes per run: once. The others: ctx.reps times.
    const reps = rows === largest && rows >= 1_000_000 ? 1 : ctx.reps;
    for (let rep = 1; rep <= reps; rep++) {
      await ctx.quiet();
      const sim = await startSimulator(ctx.cli, { latencyMs: 0 });
      const files = runFiles(ctx, `mem-${rows}-r${rep}`);
      try {
        ctx.log(`  memory ${rows} rows rep ${rep}: running (c=${c}, L=0)…`);
        const run = await runIssue(ctx, { csv, url: sim.url, campaign: `mem-${rows}`, concurrency: c, ...files, timeoutMs: 1_500_000, watchEveryMs: 250 });
        const watch = run.watch ?? [];
        if (run.watch === undefined) ctx.log("  ! no memwatch samples");
        const peakSample = watch.reduce<WatchSample | undefined>((best, p) => (best === undefined || p.rss > best.rss ? p : best), undefined);
        const peak: [number, number] = [peakSample?.t ?? Number.NaN, peakSample?.rss ?? Number.NaN];
        const s = run.summary;
        const sample: MemorySample = {
          rep,
          rows,
          concurrency: c,
          maxRssMb: round(run.maxRssKb / 1024, 1),
          wallSeconds: round(run.wallSeconds, 2),
          cpuSeconds: round(run.cpuSeconds, 2),
          sendingSeconds: s && s.requestsPerSecond > 0 ? round(s.requests / s.requestsPerSecond, 2) : Number.NaN,
          rowsPerSecond: s?.requestsPerSecond ?? Number.NaN,
          peakAtSeconds: peak[0],
          simulatorRssMb: round((sim.rssKb() ?? 0) / 1024, 1),
          atPeak: peakSample,
          maxHeapUsedMb: Math.max(...watch.map((w) => w.heapUsed)),
          issued: s?.issued ?? 0,
          exitCode: run.exitCode,
          timeline: downsample(watch, 120),
        };
        samples.push(sample);
        ctx.log(
          `  memory ${rows} rows rep ${rep}: peak RSS ${sample.maxRssMb} MB (at ${sample.peakAtSeconds} s of ${sample.wallSeconds} s; heap used/total there ${peakSample?.heapUsed}/${peakSample?.heapTotal} MB, max heap used ${sample.maxHeapUsedMb} MB), ${sample.rowsPerSecond} rows/s sending, exit ${run.exitCode}`,
        );
        if (rep === reps && run.exitCode === 0) ctx.artifacts.set(rows, { csv, ...files, campaign: `mem-${rows}` });
      } finally {
        await sim.stop();
      }
    }
  }

  const summary = sizes.map((rows) => {
    const mine = samples.filter((s) => s.rows === rows);
    return {
      rows,
      maxRssMb: spread(mine.map((s) => s.maxRssMb)),
      wallSeconds: spread(mine.map((s) => s.wallSeconds)),
      rowsPerSecond: spread(mine.map((s) => s.rowsPerSecond)),
      cpuMsPerRow: spread(mine.map((s) => (s.cpuSeconds * 1000) / rows)),
      peakShareOfWall: spread(mine.map((s) => s.peakAtSeconds / s.wallSeconds)),
      heapUsedAtPeakMb: spread(mine.map((s) => s.atPeak?.heapUsed ?? Number.NaN)),
      heapTotalAtPeakMb: spread(mine.map((s) => s.atPeak?.heapTotal ?? Number.NaN)),
      maxHeapUsedMb: spread(mine.map((s) => s.maxHeapUsedMb)),
      externalAtPeakMb: spread(mine.map((s) => s.atPeak?.external ?? Number.NaN)),
      arrayBuffersAtPeakMb: spread(mine.map((s) => s.atPeak?.arrayBuffers ?? Number.NaN)),
      arrayBuffersEndOfSendingMb: spread(mine.map((s) => arrayBuffersBeforeResults(s))),
    };
  });
  const small = summary[0]!;
  const big = summary[summary.length - 1]!;
  const growth = big.maxRssMb.median / small.maxRssMb.median;
  const perExtraRowBytes = ((big.maxRssMb.median - small.maxRssMb.median) * 1024 * 1024) / (big.rows - small.rows);
  const targets = [
    ...summary.map((p) => ({
      name: `peak RSS at ${p.rows.toLocaleString("en-US")} rows`,
      target: "≤ 256 MB",
      measured: `${p.maxRssMb.median.toFixed(0)} MB`,
      pass: p.maxRssMb.median <= 256,
      margin: relMargin(p.maxRssMb.median, 256),
    })),
    {
      name: `flat: peak at ${big.rows.toLocaleString("en-US")} ÷ peak at ${small.rows.toLocaleString("en-US")}`,
      target: "≤ 1.20",
      measured: growth.toFixed(2),
      pass: growth <= 1.2,
      margin: relMargin(growth, 1.2),
    },
  ];
  return {
    id: "memory",
    title: "3. Memory: peak RSS of `issue`",
    params: { sizes, concurrency: c, latencyMs: 0 },
    samples,
    summary: { points: summary, growth: round(growth, 3), bytesPerExtraRow: round(perExtraRowBytes, 1) },
    targets,
    tables: [
      {
        title: "Peak RSS of the issue process, median (min–max)",
        columns: [
          "rows",
          "runs",
          "peak RSS (MB)",
          "JS heap used / total at the peak (MB)",
          "external / of which ArrayBuffers at the peak (MB)",
          "ArrayBuffers before the result file (max over the first 85 % of the run, MB)",
          "max JS heap used (MB)",
          "peak reached at (share of wall)",
          "wall (s)",
          "sending rows/s",
          "client ms CPU/row",
        ],
        rows: summary.map((p) => [
          p.rows.toLocaleString("en-US"),
          String(p.maxRssMb.n),
          fmt(p.maxRssMb, 0),
          `${fmt(p.heapUsedAtPeakMb, 0)} / ${fmt(p.heapTotalAtPeakMb, 0)}`,
          `${fmt(p.externalAtPeakMb, 0)} / ${fmt(p.arrayBuffersAtPeakMb, 0)}`,
          fmt(p.arrayBuffersEndOfSendingMb, 0),
          fmt(p.maxHeapUsedMb, 0),
          fmt(p.peakShareOfWall, 2),
          fmt(p.wallSeconds, 1),
          fmt(p.rowsPerSecond, 0),
          fmt(p.cpuMsPerRow, 3),
        ]),
      },
    ],
    notes: [
      `At the peak of the largest run: RSS ${big.maxRssMb.median.toFixed(0)} MB = JS heap (total) ${big.heapTotalAtPeakMb.median.toFixed(0)} + external ${big.externalAtPeakMb.median.toFixed(0)} (ArrayBuffers ${big.arrayBuffersAtPeakMb.median.toFixed(0)}: the typed-array checkpoint index and I/O buffers) + ${(big.maxRssMb.median - big.heapTotalAtPeakMb.median - big.externalAtPeakMb.median).toFixed(0)} of everything else (code, V8 and Node internals, allocator). ArrayBuffers before the result file grow from ${small.arrayBuffersEndOfSendingMb.median.toFixed(0)} to ${big.arrayBuffersEndOfSendingMb.median.toFixed(0)} MB between the sizes: the per-row index.`,
      `Growth between the sizes: ${(perExtraRowBytes).toFixed(0)} bytes of peak RSS per extra row (${growth.toFixed(2)}×).`,
      "Every run carries a preload (bench/memwatch.ts) sampling process.memoryUsage() every 250 ms; the timeline (MB vs seconds) is in latest.json under memory.samples[].timeline. Peak RSS itself is GNU time's.",
      `The largest size runs once (it takes minutes); smaller sizes ${ctx.reps} times.`,
    ],
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * ArrayBuffers (MB) before the result file is written: the largest value over the first 85 % of the
 * run (the result file takes roughly the last 10–15 % here, with transient read/write buffers).
 * During sending, ArrayBuffers are the typed-array checkpoint index plus small I/O buffers.
 */
function arrayBuffersBeforeResults(sample: MemorySample): number {
  const inside = sample.timeline.filter((w) => w.t <= sample.wallSeconds * 0.85);
  return inside.length > 0 ? Math.max(...inside.map((w) => w.arrayBuffers)) : Number.NaN;
}

function downsample<T>(values: T[], max: number): T[] {
  if (values.length <= max) return values;
  const step = values.length / max;
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(values[Math.floor(i * step)]!);
  out.push(values[values.length - 1]!);
  return out;
}
