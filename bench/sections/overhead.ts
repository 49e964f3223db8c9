import { join } from "node:path";
import { freshCampaign, removeRunFiles, runFiles, runIssue, runNaive, writeRecipientsCsv, type BenchContext } from "../lib/context.js";
import { startSimulator } from "../lib/proc.js";
import { relMargin, type SectionResult } from "../lib/report.js";
import { fmt, median, round, spread } from "../lib/stats.js";

/**
 * 2. Overhead vs a naive baseline (bench/naive-baseline.ts: p-limit + fetch + the same HMAC; no
 * checkpoint, no retries, no result file). Same rows, same simulator settings, same concurrency;
 * the two run back to back in alternating order, each against a fresh simulator, and the ratio is
 * taken per round so both sides of a ratio saw the same machine.
 */

export interface OverheadSample {
  rep: number;
  latencyMs: number;
  tool: "points-code-batch" | "naive";
  order: number;
  rows: number;
  wallSeconds: number;
  cpuSeconds: number;
  cpuSecondsPer1000: number;
  maxRssMb: number;
  sendingRowsPerSecond: number;
  /** First request to last answer. */
  sendingSeconds: number;
  /** Wall minus the sending window: start-up, reading/validating, budget read, result file (tool). */
  outsideSendingSeconds: number;
  simulatorCpuSeconds: number;
  /** CPU (cores) used by processes other than this client and the simulator during the run. */
  otherCores: number;
  issued: number;
  exitCode: number | null;
}

export async function runOverhead(ctx: BenchContext, options: { latencies?: number[]; concurrency?: number; rows?: number } = {}): Promise<SectionResult> {
  const started = performance.now();
  const latencies = options.latencies ?? [0, 20];
  const c = options.concurrency ?? 32;
  const rows = options.rows ?? (ctx.quick ? 4_000 : 15_000);
  const reps = ctx.reps;
  const csv = join(ctx.tmp, `overhead-${rows}.csv`);
  await writeRecipientsCsv(csv, rows);
  const samples: OverheadSample[] = [];
  const ratios: Array<{ latencyMs: number; rep: number; wallRatio: number; cpuRatio: number }> = [];

  for (let rep = 1; rep <= reps; rep++) {
    for (const latencyMs of latencies) {
      const order: Array<"points-code-batch" | "naive"> = rep % 2 === 1 ? ["points-code-batch", "naive"] : ["naive", "points-code-batch"];
      const round_: Partial<Record<"points-code-batch" | "naive", OverheadSample>> = {};
      for (const [i, tool] of order.entries()) {
        await ctx.quiet();
        const sim = await startSimulator(ctx.cli, { latencyMs });
        const files = runFiles(ctx, `ovh-${tool}-${latencyMs}-${rep}`);
        try {
          const cpu0 = sim.cpuSeconds() ?? 0;
          // Either client, reduced to what a sample needs.
          const measured =
            tool === "points-code-batch"
              ? await runIssue(ctx, { csv, url: sim.url, campaign: freshCampaign("ovh"), concurrency: c, ...files, timeoutMs: 300_000 }).then((run) => ({
                  run,
                  rowsPerSecond: run.summary?.requestsPerSecond ?? Number.NaN,
                  sendingSeconds: run.summary ? run.summary.requests / run.summary.requestsPerSecond : Number.NaN,
                  issued: run.summary?.issued ?? 0,
                }))
              : await runNaive(ctx, {
                  csv,
                  url: sim.url,
                  campaign: freshCampaign("naive"),
                  concurrency: c,
                  summary: `${files.out}.naive.json`,
                  timeoutMs: 300_000,
                }).then((run) => ({
                  run,
                  rowsPerSecond: run.summary?.requestsPerSecond ?? Number.NaN,
                  sendingSeconds: run.summary?.sendingSeconds ?? Number.NaN,
                  issued: run.summary?.issued ?? 0,
                }));
          const { run } = measured;
          const simulatorCpuSeconds = (sim.cpuSeconds() ?? cpu0) - cpu0;
          const sample: OverheadSample = {
            rep,
            latencyMs,
            tool,
            order: i,
            rows,
            wallSeconds: round(run.wallSeconds, 3),
            cpuSeconds: round(run.cpuSeconds, 3),
            cpuSecondsPer1000: round((run.cpuSeconds * 1000) / rows, 4),
            maxRssMb: round(run.maxRssKb / 1024, 1),
            sendingRowsPerSecond: round(measured.rowsPerSecond, 2),
            sendingSeconds: round(measured.sendingSeconds, 3),
            outsideSendingSeconds: round(run.wallSeconds - measured.sendingSeconds, 3),
            simulatorCpuSeconds: round(simulatorCpuSeconds, 3),
            otherCores: round(Math.max(0, run.busyCoresBesidesClient - simulatorCpuSeconds / run.wallSeconds), 3),
            issued: measured.issued,
            exitCode: run.exitCode,
          };
          samples.push(sample);
          round_[tool] = sample;
          ctx.log(
            `  overhead L=${latencyMs} rep ${rep} ${tool}: wall ${sample.wallSeconds} s, cpu ${sample.cpuSeconds} s (${sample.cpuSecondsPer1000} s/1000), ${sample.sendingRowsPerSecond} rows/s sending, others ${sample.otherCores} cores`,
          );
        } finally {
          await sim.stop();
          await removeRunFiles(files);
        }
      }
      const t = round_["points-code-batch"]!;
      const n = round_.naive!;
      ratios.push({ latencyMs, rep, wallRatio: round(t.wallSeconds / n.wallSeconds, 4), cpuRatio: round(t.cpuSeconds / n.cpuSeconds, 4) });
    }
  }

  const spreads = (of: OverheadSample[]) => ({
    wallSeconds: spread(of.map((s) => s.wallSeconds)),
    cpuSecondsPer1000: spread(of.map((s) => s.cpuSecondsPer1000)),
    sendingRowsPerSecond: spread(of.map((s) => s.sendingRowsPerSecond)),
    sendingSeconds: spread(of.map((s) => s.sendingSeconds)),
    outsideSendingSeconds: spread(of.map((s) => s.outsideSendingSeconds)),
    maxRssMb: spread(of.map((s) => s.maxRssMb)),
    simulatorCpuSeconds: spread(of.map((s) => s.simulatorCpuSeconds)),
    otherCores: spread(of.map((s) => s.otherCores)),
  });
  const summary = latencies.map((latencyMs) => {
    const of = (tool: string) => samples.filter((s) => s.latencyMs === latencyMs && s.tool === tool);
    const t = of("points-code-batch");
    const n = of("naive");
    const r = ratios.filter((x) => x.latencyMs === latencyMs);
    return {
      latencyMs,
      limitPerSecond: latencyMs > 0 ? (c * 1000) / latencyMs : null,
      tool: spreads(t),
      naive: spreads(n),
      wallRatio: spread(r.map((x) => x.wallRatio)),
      cpuRatio: spread(r.map((x) => x.cpuRatio)),
      wallRatioOfMedians: round(median(t.map((s) => s.wallSeconds)) / median(n.map((s) => s.wallSeconds)), 4),
    };
  });

  const targets = summary
    .filter((p) => p.latencyMs === 20)
    .map((p) => ({
      name: `wall time ÷ naive, L=20 ms, c=${c}`,
      target: "≤ 1.05",
      measured: p.wallRatio.median.toFixed(3),
      pass: p.wallRatio.median <= 1.05,
      margin: relMargin(p.wallRatio.median, 1.05),
    }));

  return {
    id: "overhead",
    title: "2. Overhead vs a naive baseline (p-limit + fetch + HMAC)",
    params: { concurrency: c, rows, latencies, reps },
    samples: { runs: samples, ratios } as unknown as unknown[],
    summary,
    targets,
    tables: [
      {
        title: `c = ${c}, ${rows} rows, median (min–max) of ${reps}; ratios per round (same round, alternating order)`,
        columns: [
          "L (ms)",
          "tool wall (s)",
          "naive wall (s)",
          "wall ratio tool/naive",
          "tool CPU s /1000 codes",
          "naive CPU s /1000 codes",
          "CPU ratio",
          "tool sending rows/s",
          "naive sending rows/s",
          "tool s outside sending",
          "naive s outside sending",
          "tool peak RSS MB",
          "naive peak RSS MB",
          "other load (cores) tool / naive runs",
        ],
        rows: summary.map((p) => [
          String(p.latencyMs),
          fmt(p.tool.wallSeconds, 2),
          fmt(p.naive.wallSeconds, 2),
          fmt(p.wallRatio, 3),
          fmt(p.tool.cpuSecondsPer1000, 3),
          fmt(p.naive.cpuSecondsPer1000, 3),
          fmt(p.cpuRatio, 3),
          fmt(p.tool.sendingRowsPerSecond, 0),
          fmt(p.naive.sendingRowsPerSecond, 0),
          fmt(p.tool.outsideSendingSeconds, 2),
          fmt(p.naive.outsideSendingSeconds, 2),
          fmt(p.tool.maxRssMb, 0),
          fmt(p.naive.maxRssMb, 0),
          `${fmt(p.tool.otherCores, 2)} / ${fmt(p.naive.otherCores, 2)}`,
        ]),
      },
    ],
    notes: [
      "Wall time is the whole process, start to exit: the tool's includes start-up, validation pass, budget read, the checkpoint and the result CSV; the baseline's includes reading the CSV and nothing else.",
      "The baseline is bundled with esbuild and run by plain node, like the compiled tool, so neither pays tsx start-up.",
      "CPU is user + system of the client process (GNU time), over its whole life.",
    ],
    seconds: (performance.now() - started) / 1000,
  };
}
