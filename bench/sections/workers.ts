import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { freshCampaign, GROUP_ID, writeRecipientsCsv, type BenchContext } from "../lib/context.js";
import { runTimed, startSimulator, type LedgerSnapshot } from "../lib/proc.js";
import type { SectionResult, Target } from "../lib/report.js";
import { fmt, round, spread } from "../lib/stats.js";

/**
 * Workers (issue #14): N `work` processes on one campaign in PostgreSQL.
 *
 * - Latency-bound: each at concurrency c, against a simulator with latency L and no rate limit.
 *   Ideal throughput is N·c/L; achieved = (n − 1) ÷ (last commit − first commit) from the
 *   simulator's ledger. Claim cost per row: the time workers spent in claim round trips (FOR UPDATE
 *   SKIP LOCKED batches) per row claimed.
 * - Rate-bound (`--rate auto`): N workers, each `--rate auto`, against a simulator that admits R
 *   requests/s (token bucket, burst R, no Retry-After) at 20 ms. Achieved ÷ R from the ledger, and
 *   the share of 429s over every worker's requests.
 *
 * PostgreSQL: PCB_BENCH_PG_URL, else postgresql://root@127.0.0.1:5432/test; a schema per run.
 */

const PG_URL = process.env.PCB_BENCH_PG_URL ?? "postgresql://root@127.0.0.1:5432/test";

interface WorkerSummary {
  claimed: number;
  claims: { trips: number; ms: number };
  requests: number;
  throttled: number;
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

export interface AutoRateSample {
  rep: number;
  workers: number;
  limit: number;
  rows: number;
  achievedPerSecond: number;
  ratio: number;
  requests: number;
  throttled: number;
  throttledShare: number;
  repeatedCalls: number;
  exitCodes: Array<number | null>;
}

interface Round {
  summaries: WorkerSummary[];
  ledger: LedgerSnapshot;
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

/** One campaign: `load` it into a fresh schema, then run N `work` processes on it at once. */
async function runRound(
  ctx: BenchContext,
  o: { csv: string; workers: number; latencyMs: number; simExtra?: string[]; workArgs: string[]; timeoutMs: number; label: string },
): Promise<Round> {
  const schema = `pcb_bench_${randomBytes(5).toString("hex")}`;
  const url = new URL(PG_URL);
  url.searchParams.set("schema", schema);
  const sim = await startSimulator(ctx.cli, { latencyMs: o.latencyMs, extra: o.simExtra });
  const campaign = freshCampaign(o.label);
  try {
    const target = ["--base-url", sim.url, "--state", url.href, "--campaign", campaign];
    const load = await runTimed(
      [
        ctx.cli,
        "load",
        o.csv,
        ...target,
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
        "--out",
        join(ctx.tmp, `${campaign}.csv`),
      ],
      { timeoutMs: 120_000, tmpDir: ctx.tmp },
    );
    if (load.exitCode !== 0) throw new Error(`load exited ${load.exitCode}: ${load.stderr.slice(0, 500)}`);
    const files = Array.from({ length: o.workers }, (_, i) => join(ctx.tmp, `${campaign}-w${i}.json`));
    const runs = await Promise.all(
      files.map((file) =>
        runTimed([ctx.cli, "work", ...target, ...o.workArgs, "--summary-json", file, "--log-level", "warn"], {
          timeoutMs: o.timeoutMs,
          tmpDir: ctx.tmp,
        }),
      ),
    );
    const summaries = await Promise.all(files.map(async (f) => JSON.parse(await readFile(f, "utf8")) as WorkerSummary));
    return { summaries, ledger: await sim.ledger(), exitCodes: runs.map((r) => r.exitCode) };
  } finally {
    await sim.stop();
    await sql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  }
}

function perSecond(times: number[]): number {
  return (times.length - 1) / ((times[times.length - 1]! - times[0]!) / 1000);
}

export async function runWorkers(
  ctx: BenchContext,
  options: {
    counts?: number[];
    latencyMs?: number;
    concurrency?: number;
    seconds?: number;
    autoLimit?: number;
    autoWorkers?: number;
    autoSeconds?: number;
  } = {},
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
      const round_ = await runRound(ctx, {
        csv,
        workers: n,
        latencyMs,
        workArgs: ["--concurrency", String(c)],
        timeoutMs: (seconds * 4 + 60) * 1000,
        label: "workers",
      });
      const times = round_.ledger.commitTimes;
      const achieved = perSecond(times);
      const claimed = round_.summaries.reduce((a, s) => a + s.claimed, 0);
      const sample: WorkersSample = {
        rep,
        workers: n,
        rows: times.length,
        idealPerSecond: ideal,
        achievedPerSecond: round(achieved, 2),
        ratio: round(achieved / ideal, 3),
        claimMsPerRow: round(round_.summaries.reduce((a, s) => a + s.claims.ms, 0) / claimed, 3),
        claimTripsPerRow: round(round_.summaries.reduce((a, s) => a + s.claims.trips, 0) / claimed, 3),
        exitCodes: round_.exitCodes,
      };
      samples.push(sample);
      ctx.log(
        `  ${n} worker(s) rep ${rep}: ${sample.achievedPerSecond}/s of ideal ${ideal}/s (${sample.ratio}), claim ${sample.claimMsPerRow} ms and ${sample.claimTripsPerRow} trips per row, exits ${sample.exitCodes.join(",")}`,
      );
    }
  }

  const autoLimit = options.autoLimit ?? 40;
  const autoWorkers = options.autoWorkers ?? 4;
  const autoSeconds = options.autoSeconds ?? (ctx.quick ? 30 : 60);
  const autoSamples: AutoRateSample[] = [];
  const autoRows = autoLimit * autoSeconds;
  const autoCsv = join(ctx.tmp, `workers-auto-${autoRows}.csv`);
  await writeRecipientsCsv(autoCsv, autoRows);
  for (let rep = 1; rep <= Math.min(ctx.reps, 2); rep++) {
    await ctx.quiet();
    const r = await runRound(ctx, {
      csv: autoCsv,
      workers: autoWorkers,
      latencyMs: 20,
      simExtra: ["--limit-rate", String(autoLimit), "--limit-burst", String(autoLimit)],
      workArgs: ["--concurrency", "8", "--rate", "auto"],
      timeoutMs: (autoSeconds * 4 + 120) * 1000,
      label: "workers-auto",
    });
    const requests = r.summaries.reduce((a, s) => a + s.requests, 0);
    const throttled = r.summaries.reduce((a, s) => a + s.throttled, 0);
    const achieved = perSecond(r.ledger.commitTimes);
    const sample: AutoRateSample = {
      rep,
      workers: autoWorkers,
      limit: autoLimit,
      rows: r.ledger.commitTimes.length,
      achievedPerSecond: round(achieved, 2),
      ratio: round(achieved / autoLimit, 3),
      requests,
      throttled,
      throttledShare: round((throttled / requests) * 100, 2),
      repeatedCalls: r.ledger.repeatedCalls,
      exitCodes: r.exitCodes,
    };
    autoSamples.push(sample);
    ctx.log(
      `  --rate auto, ${autoWorkers} workers, R=${autoLimit} rep ${rep}: ${sample.achievedPerSecond}/s = ${sample.ratio} R; 429s ${throttled}/${requests} = ${sample.throttledShare} %; ${sample.rows} codes for ${autoRows} rows; exits ${sample.exitCodes.join(",")}`,
    );
  }

  const byCount = counts.map((n) => ({ n, s: samples.filter((x) => x.workers === n) }));
  const latencyTargets: Target[] = byCount.map(({ n, s }) => {
    const ratio = spread(s.map((x) => x.ratio));
    const worst = Math.min(...s.map((x) => x.ratio));
    return {
      name: `${n} worker(s), c = ${c}, L = ${latencyMs} ms`,
      target: `≥ 0.9 of N·c/L = ${(n * c * 1000) / latencyMs}/s`,
      measured: `${ratio.median.toFixed(3)} of ideal`,
      pass: worst >= 0.9 && s.every((x) => x.exitCodes.every((e) => e === 0)),
      margin: `worst run ${worst.toFixed(3)}`,
    };
  });
  const worstAuto = Math.min(...autoSamples.map((x) => x.ratio));
  const worstShare = Math.max(...autoSamples.map((x) => x.throttledShare));
  const autoTarget: Target = {
    name: `--rate auto, ${autoWorkers} workers, server limited to R = ${autoLimit}/s`,
    target: "≥ 0.85 R, ≤ 5 % 429s",
    measured: `${spread(autoSamples.map((x) => x.ratio)).median.toFixed(3)} R, ${spread(autoSamples.map((x) => x.throttledShare)).median.toFixed(2)} % 429s`,
    pass: worstAuto >= 0.85 && worstShare <= 5 && autoSamples.every((x) => x.rows === autoRows && x.exitCodes.every((e) => e === 0)),
    margin: `worst run ${worstAuto.toFixed(3)} R, ${worstShare.toFixed(2)} % 429s`,
  };
  return {
    id: "workers",
    title: "9. Workers: N processes on one campaign in PostgreSQL",
    params: { counts, latencyMs, concurrency: c, seconds, reps: ctx.reps, autoLimit, autoWorkers, autoSeconds },
    samples: [...samples, ...autoSamples],
    summary: {
      ...Object.fromEntries(
        byCount.map(({ n, s }) => [`workers${n}`, { ratio: spread(s.map((x) => x.ratio)), claimMsPerRow: spread(s.map((x) => x.claimMsPerRow)) }]),
      ),
      auto: { ratio: spread(autoSamples.map((x) => x.ratio)), throttledShare: spread(autoSamples.map((x) => x.throttledShare)) },
    },
    targets: [...latencyTargets, autoTarget],
    tables: [
      {
        title: `Latency-bound: N workers, c = ${c} each, L = ${latencyMs} ms, median (min–max) of ${ctx.reps}`,
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
      {
        title: `Rate-bound: ${autoWorkers} workers, each --rate auto --concurrency 8, server limited to R = ${autoLimit}/s (burst R), L = 20 ms`,
        columns: ["rep", "codes", "achieved/s", "÷ R", "429s / requests", "429 share", "repeated requestIds", "exits"],
        rows: autoSamples.map((x) => [
          String(x.rep),
          String(x.rows),
          x.achievedPerSecond.toFixed(2),
          x.ratio.toFixed(3),
          `${x.throttled}/${x.requests}`,
          `${x.throttledShare.toFixed(2)} %`,
          String(x.repeatedCalls),
          x.exitCodes.join(","),
        ]),
      },
    ],
    notes: [
      "Achieved = (n − 1) ÷ (last commit − first commit), from the simulator's ledger. Claim ms per row is wall time in the claim round trip (including waiting for a pooled connection and the event loop), summed over workers, divided by rows claimed.",
      "Repeated requestIds are resends of a 429'd request with the same requestId (the server refused it before committing), not duplicates.",
    ],
    seconds: (performance.now() - started) / 1000,
  };
}
