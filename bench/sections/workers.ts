import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { freshCampaign, GROUP_ID, writeRecipientsCsv, type BenchContext } from "../lib/context.js";
import { runTimed, startSimulator } from "../lib/proc.js";
import type { SectionResult } from "../lib/report.js";
import { fmt, round, spread } from "../lib/stats.js";

/**
 * Workers (issue #14): N `work` processes on one campaign in PostgreSQL, each at concurrency c,
 * against a simulator with latency L (latency-bound: no rate limit). Ideal throughput is N·c/L;
 * achieved = (n − 1) ÷ (last commit − first commit) from the simulator's ledger. Claim cost per row:
 * the time workers spent in claim round trips (FOR UPDATE SKIP LOCKED batches) per row claimed.
 * PostgreSQL: PCB_BENCH_PG_URL, else postgresql://root@127.0.0.1:5432/test; a schema per run.
 */

const PG_URL = process.env.PCB_BENCH_PG_URL ?? "postgresql://root@127.0.0.1:5432/test";

interface WorkerSummary {
  claimed: number;
  claims: { trips: number; ms: number };
  requests: number;
}

export interface WorkersSample {
  rep: number;
  workers: number;
  rows: number;
  idealPerSecond: number;
  achievedPerSecond: number;
  ratio: number;
  claimMsPerRow: number;
  claimTripsPerRow: number;
  exitCodes: Array<number | null>;
}

async function sql(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

export async function runWorkers(
  ctx: BenchContext,
  options: { counts?: number[]; latencyMs?: number; concurrency?: number; seconds?: number } = {},
): Promise<SectionResult> {
  const started = performance.now();
  const counts = options.counts ?? [1, 2, 4];
  const latencyMs = options.latencyMs ?? 200;
  const c = options.concurrency ?? 8;
  const seconds = options.seconds ?? (ctx.quick ? 8 : 15);
  const samples: WorkersSample[] = [];
  for (const n of counts) {
    const ideal = (n * c * 1000) / latencyMs;
    const rows = Math.round(ideal * seconds);
    const csv = join(ctx.tmp, `workers-${rows}.csv`);
    await writeRecipientsCsv(csv, rows);
    for (let rep = 1; rep <= ctx.reps; rep++) {
      await ctx.quiet();
      const schema = `pcb_bench_${randomBytes(5).toString("hex")}`;
      const url = new URL(PG_URL);
      url.searchParams.set("schema", schema);
      const sim = await startSimulator(ctx.cli, { latencyMs });
      const campaign = freshCampaign("workers");
      try {
        const load = await runTimed(
          [
            ctx.cli,
            "load",
            csv,
            "--base-url",
            sim.url,
            "--campaign",
            campaign,
            "--name",
            "bench",
            "--group-id",
            GROUP_ID,
            "--start-at",
            "2094-04-01",
            "--end-at",
            "2094-06-30",
            "--value",
            "100",
            "--state",
            url.href,
            "--out",
            join(ctx.tmp, `${campaign}.csv`),
          ],
          { timeoutMs: 120_000, tmpDir: ctx.tmp },
        );
        if (load.exitCode !== 0) throw new Error(`load exited ${load.exitCode}: ${load.stderr.slice(0, 500)}`);
        const files = Array.from({ length: n }, (_, i) => join(ctx.tmp, `${campaign}-w${i}.json`));
        const runs = await Promise.all(
          files.map((file) =>
            runTimed(
              [
                ctx.cli,
                "work",
                "--state",
                url.href,
                "--campaign",
                campaign,
                "--base-url",
                sim.url,
                "--concurrency",
                String(c),
                "--summary-json",
                file,
                "--log-level",
                "warn",
              ],
              {
                timeoutMs: (seconds * 4 + 60) * 1000,
                tmpDir: ctx.tmp,
              },
            ),
          ),
        );
        const summaries = await Promise.all(files.map(async (f) => JSON.parse(await readFile(f, "utf8")) as WorkerSummary));
        const times = (await sim.ledger()).commitTimes;
        const achieved = (times.length - 1) / ((times[times.length - 1]! - times[0]!) / 1000);
        const claimed = summaries.reduce((a, s) => a + s.claimed, 0);
        const sample: WorkersSample = {
          rep,
          workers: n,
          rows: times.length,
          idealPerSecond: ideal,
          achievedPerSecond: round(achieved, 2),
          ratio: round(achieved / ideal, 3),
          claimMsPerRow: round(summaries.reduce((a, s) => a + s.claims.ms, 0) / claimed, 3),
          claimTripsPerRow: round(summaries.reduce((a, s) => a + s.claims.trips, 0) / claimed, 3),
          exitCodes: runs.map((r) => r.exitCode),
        };
        samples.push(sample);
        ctx.log(
          `  ${n} worker(s) rep ${rep}: ${sample.achievedPerSecond}/s of ideal ${ideal}/s (${sample.ratio}), claim ${sample.claimMsPerRow} ms and ${sample.claimTripsPerRow} trips per row, exits ${sample.exitCodes.join(",")}`,
        );
      } finally {
        await sim.stop();
        await sql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      }
    }
  }
  const byCount = counts.map((n) => ({ n, s: samples.filter((x) => x.workers === n) }));
  return {
    id: "workers",
    title: "Workers: N processes on one campaign in PostgreSQL (latency-bound)",
    params: { counts, latencyMs, concurrency: c, seconds, reps: ctx.reps },
    samples,
    summary: Object.fromEntries(
      byCount.map(({ n, s }) => [`workers${n}`, { ratio: spread(s.map((x) => x.ratio)), claimMsPerRow: spread(s.map((x) => x.claimMsPerRow)) }]),
    ),
    targets: byCount.map(({ n, s }) => {
      const ratio = spread(s.map((x) => x.ratio));
      const worst = Math.min(...s.map((x) => x.ratio));
      return {
        name: `${n} worker(s), c = ${c}, L = ${latencyMs} ms`,
        target: `≥ 0.9 of N·c/L = ${(n * c * 1000) / latencyMs}/s`,
        measured: `${ratio.median.toFixed(3)} of ideal`,
        pass: worst >= 0.9 && s.every((x) => x.exitCodes.every((e) => e === 0)),
        margin: `worst run ${worst.toFixed(3)}`,
      };
    }),
    tables: [
      {
        title: `N workers, c = ${c} each, L = ${latencyMs} ms, median (min–max) of ${ctx.reps}`,
        columns: ["workers", "ideal rows/s", "achieved rows/s", "ratio", "claim ms per row", "claim trips per row"],
        rows: byCount.map(({ n, s }) => [
          String(n),
          String((n * c * 1000) / latencyMs),
          fmt(spread(s.map((x) => x.achievedPerSecond)), 2),
          fmt(spread(s.map((x) => x.ratio)), 3),
          fmt(spread(s.map((x) => x.claimMsPerRow)), 3),
          fmt(spread(s.map((x) => x.claimTripsPerRow)), 3),
        ]),
      },
    ],
    notes: [
      "Achieved = (n − 1) ÷ (last commit − first commit), from the simulator's ledger. Claim ms per row is wall time in the claim round trip (including waiting for a pooled connection and the event loop), summed over workers, divided by rows claimed.",
    ],
    seconds: (performance.now() - started) / 1000,
  };
}
