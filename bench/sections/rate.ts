import { join } from "node:path";
import { freshCampaign, removeRunFiles, runFiles, runIssue, writeRecipientsCsv, type BenchContext } from "../lib/context.js";
import { startSimulator } from "../lib/proc.js";
import type { SectionResult } from "../lib/report.js";
import { fmt, round, spread } from "../lib/stats.js";

/**
 * 5. Rate accuracy: `--rate R` for D seconds (R × D rows), concurrency well above what R needs.
 * Achieved rate from the simulator's commit timestamps: (n − 1) ÷ (last − first); plus the largest
 * number of commits in any 1-second window (a burst check) and the tool's own figure.
 */

export interface RateSample {
  rep: number;
  rate: number;
  rows: number;
  achievedPerSecond: number;
  errorPercent: number;
  toolReportedPerSecond: number;
  maxInAnySecond: number;
  spanSeconds: number;
  exitCode: number | null;
}

export async function runRate(
  ctx: BenchContext,
  options: { rate?: number; seconds?: number; latencyMs?: number; concurrency?: number } = {},
): Promise<SectionResult> {
  const started = performance.now();
  const rate = options.rate ?? 20;
  const seconds = options.seconds ?? (ctx.quick ? 10 : 30);
  const latencyMs = options.latencyMs ?? 50;
  const c = options.concurrency ?? 4;
  const rows = rate * seconds;
  const csv = join(ctx.tmp, `rate-${rows}.csv`);
  await writeRecipientsCsv(csv, rows);
  const samples: RateSample[] = [];
  for (let rep = 1; rep <= ctx.reps; rep++) {
    await ctx.quiet();
    const sim = await startSimulator(ctx.cli, { latencyMs });
    const files = runFiles(ctx, `rate-r${rep}`);
    try {
      const run = await runIssue(ctx, {
        csv,
        url: sim.url,
        campaign: freshCampaign("rate"),
        concurrency: c,
        rate,
        ...files,
        timeoutMs: (seconds * 3 + 60) * 1000,
      });
      const times = (await sim.ledger()).commitTimes;
      const span = (times[times.length - 1]! - times[0]!) / 1000;
      const achieved = (times.length - 1) / span;
      let maxWindow = 0;
      for (let i = 0, j = 0; i < times.length; i++) {
        while (times[j]! < times[i]! - 999) j++;
        maxWindow = Math.max(maxWindow, i - j + 1);
      }
      const sample: RateSample = {
        rep,
        rate,
        rows: times.length,
        achievedPerSecond: round(achieved, 3),
        errorPercent: round(((achieved - rate) / rate) * 100, 2),
        toolReportedPerSecond: run.summary?.requestsPerSecond ?? Number.NaN,
        maxInAnySecond: maxWindow,
        spanSeconds: round(span, 3),
        exitCode: run.exitCode,
      };
      samples.push(sample);
      ctx.log(
        `  rate ${rate}/s rep ${rep}: achieved ${sample.achievedPerSecond}/s (${sample.errorPercent} %), max ${maxWindow} in any 1 s, tool says ${sample.toolReportedPerSecond}`,
      );
    } finally {
      await sim.stop();
      await removeRunFiles(files);
    }
  }
  const achieved = spread(samples.map((s) => s.achievedPerSecond));
  const error = spread(samples.map((s) => s.errorPercent));
  const worst = Math.max(...samples.map((s) => Math.abs(s.errorPercent)));
  return {
    id: "rate",
    title: "5. Rate accuracy (--rate)",
    params: { rate, seconds, rows, latencyMs, concurrency: c, reps: ctx.reps },
    samples,
    summary: {
      achieved,
      errorPercent: error,
      toolReported: spread(samples.map((s) => s.toolReportedPerSecond)),
      maxInAnySecond: spread(samples.map((s) => s.maxInAnySecond)),
    },
    targets: [
      {
        name: `--rate ${rate} over ${seconds} s`,
        target: `within ±5 % (${rate * 0.95}–${rate * 1.05}/s)`,
        measured: `${achieved.median.toFixed(2)}/s (${error.median >= 0 ? "+" : ""}${error.median.toFixed(2)} %)`,
        pass: Math.abs(error.median) <= 5 && worst <= 5,
        margin: `worst run ${worst.toFixed(2)} % off; ${(5 - worst).toFixed(2)} points of headroom`,
      },
    ],
    tables: [
      {
        title: `--rate ${rate}, ${rows} rows, c = ${c}, L = ${latencyMs} ms, median (min–max) of ${ctx.reps}`,
        columns: ["achieved rows/s (simulator commits)", "error %", "tool-reported rows/s", "max commits in any 1 s"],
        rows: [
          [fmt(achieved, 3), fmt(error, 2), fmt(spread(samples.map((s) => s.toolReportedPerSecond)), 2), fmt(spread(samples.map((s) => s.maxInAnySecond)), 0)],
        ],
      },
    ],
    notes: [
      "Achieved = (n − 1) ÷ (last commit − first commit), from the simulator's ledger (ms timestamps). The tool's figure divides n by first request → last answer, so it includes one latency.",
    ],
    seconds: (performance.now() - started) / 1000,
  };
}
