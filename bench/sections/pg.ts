import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import type { LevelResult } from "../checkpoint-micro.js";
import type { WatchSample } from "../memwatch.js";
import type { PgLevelResult } from "../pg-micro.js";
import { freshCampaign, removeRunFiles, runFiles, runIssue, writeRecipientsCsv, type BenchContext } from "../lib/context.js";
import { cleanEnv, startSimulator } from "../lib/proc.js";
import { relMargin, type SectionResult, type Target } from "../lib/report.js";
import { fmt, round, spread } from "../lib/stats.js";

/**
 * 8. Campaign state in PostgreSQL, beside the file journal in the same run:
 * (a) group commit: the real PgStore driven by k concurrent rows (bench/pg-micro.ts), against the
 *     JournalStore's microbenchmark (bench/checkpoint-micro.ts) run just before it;
 * (b) loading a plan's input of the largest size into the rows table (COPY), as `issue` does;
 * (c) `issue` throughput at c = 64, L = 50 ms: a PostgreSQL run and a file run in each round;
 * (d) peak RSS of `issue --state postgresql://…` at two sizes a decade apart (L = 0, c = 64).
 * The server: PCB_BENCH_PG_URL, else PCB_TEST_PG_URL, else postgresql://root@127.0.0.1:5432/test.
 * Every run gets a schema of its own, dropped after it.
 */

const PG_URL = process.env.PCB_BENCH_PG_URL ?? process.env.PCB_TEST_PG_URL ?? "postgresql://root@127.0.0.1:5432/test";
const LEVELS = [1, 4, 16, 64, 256];

function schemaUrl(schema: string): string {
  const u = new URL(PG_URL);
  u.searchParams.set("schema", schema);
  return u.href;
}

function freshSchema(): string {
  return `pcb_bench_${randomBytes(5).toString("hex")}`;
}

async function sql(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dropSchema(schema: string): Promise<void> {
  await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
}

async function runJson<T>(args: string[]): Promise<T> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"], env: cleanEnv() });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`${args[0]} exited ${code}`);
  return JSON.parse(out) as T;
}

interface PgMicro {
  groupCommit: PgLevelResult[];
  load?: { rows: number; seconds: number; cpuSeconds: number; rowsPerSecond: number };
}

interface ThroughputSample {
  rep: number;
  store: "file" | "postgresql";
  rows: number;
  rowsPerSecond: number;
  wallSeconds: number;
  exitCode: number | null;
}

interface RssSample {
  rep: number;
  rows: number;
  maxRssMb: number;
  wallSeconds: number;
  rowsPerSecond: number;
  peakAtSeconds: number;
  heapUsedAtPeakMb: number;
  maxHeapUsedMb: number;
  issued: number;
  exitCode: number | null;
  /** Killed at the section's time limit: its peak covers only the part of the run before the kill. */
  timedOut: boolean;
}

export async function runPg(ctx: BenchContext): Promise<SectionResult> {
  const started = performance.now();
  await sql("SELECT 1");
  const sizes = ctx.quick ? [20_000, 100_000] : [100_000, 1_000_000];
  const largest = Math.max(...sizes);
  const csvs = new Map<number, string>();
  for (const rows of sizes) {
    const csv = join(ctx.tmp, `pg-${rows}.csv`);
    await writeRecipientsCsv(csv, rows);
    csvs.set(rows, csv);
  }

  // (a) + (b): each microbenchmark in its own process, the journal's first, then PostgreSQL's.
  const seconds = ctx.quick ? 1 : 2;
  const fileMicro: LevelResult[][] = [];
  const pgMicro: PgMicro[] = [];
  for (let rep = 1; rep <= ctx.reps; rep++) {
    await ctx.quiet();
    const dir = join(ctx.tmp, "pg-file-micro");
    await mkdir(dir, { recursive: true });
    fileMicro.push((await runJson<{ groupCommit: LevelResult[] }>([ctx.micro, "--dir", dir, "--seconds", String(seconds)])).groupCommit);
    await rm(dir, { recursive: true, force: true });
    await ctx.quiet();
    const schema = freshSchema();
    try {
      // The largest load once: it takes a while and the figure is a single bound.
      const load = rep === 1 ? ["--load-csv", csvs.get(largest)!] : [];
      pgMicro.push(
        await runJson<PgMicro>([ctx.pgMicro, "--url", PG_URL, "--schema", schema, "--seconds", String(seconds), "--levels", LEVELS.join(","), ...load]),
      );
    } finally {
      await dropSchema(schema);
    }
    const m = pgMicro.at(-1)!;
    ctx.log(
      `  pg micro rep ${rep}: ${m.groupCommit.map((l) => `k=${l.workers}: ${l.rowsPerSecond.toFixed(0)} rows/s, ${l.opsPerTransaction.toFixed(1)} ops/tx`).join("; ")}` +
        (m.load ? `; load ${m.load.rows} rows in ${m.load.seconds.toFixed(1)} s` : ""),
    );
  }
  const levelSummary = LEVELS.map((k, i) => ({
    workers: k,
    pgRowsPerSecond: spread(pgMicro.map((m) => m.groupCommit[i]!.rowsPerSecond)),
    pgWallUsPerRow: spread(pgMicro.map((m) => m.groupCommit[i]!.wallUsPerRow)),
    pgCpuUsPerRow: spread(pgMicro.map((m) => m.groupCommit[i]!.cpuUsPerRow)),
    pgOpsPerTransaction: spread(pgMicro.map((m) => m.groupCommit[i]!.opsPerTransaction)),
    pgOutcomeMs: spread(pgMicro.map((m) => m.groupCommit[i]!.outcomeLatencyMedianMs)),
    fileRowsPerSecond: spread(fileMicro.map((m) => m.find((l) => l.workers === k)?.rowsPerSecond ?? Number.NaN)),
    fileWallUsPerRow: spread(fileMicro.map((m) => m.find((l) => l.workers === k)?.wallUsPerRow ?? Number.NaN)),
    ratio: spread(pgMicro.map((m, r) => m.groupCommit[i]!.rowsPerSecond / (fileMicro[r]?.find((l) => l.workers === k)?.rowsPerSecond ?? Number.NaN))),
  }));
  const load = pgMicro.find((m) => m.load)?.load;

  // (c) throughput at c = 64, L = 50 ms: file and PostgreSQL in each round, on one simulator per run.
  const c = 64;
  const latencyMs = 50;
  const tputRows = ctx.quick ? 5_000 : 10_000;
  const tputCsv = join(ctx.tmp, `pg-tput-${tputRows}.csv`);
  await writeRecipientsCsv(tputCsv, tputRows);
  const throughput: ThroughputSample[] = [];
  for (let rep = 1; rep <= ctx.reps; rep++) {
    for (const store of ["file", "postgresql"] as const) {
      await ctx.quiet();
      const sim = await startSimulator(ctx.cli, { latencyMs });
      const files = runFiles(ctx, `pg-tput-${store}-r${rep}`);
      const schema = freshSchema();
      try {
        const state = store === "file" ? files.state : schemaUrl(schema);
        const run = await runIssue(ctx, {
          csv: tputCsv,
          url: sim.url,
          campaign: freshCampaign("pgtput"),
          concurrency: c,
          out: files.out,
          state,
          timeoutMs: 300_000,
        });
        const sample: ThroughputSample = {
          rep,
          store,
          rows: tputRows,
          rowsPerSecond: run.summary?.requestsPerSecond ?? Number.NaN,
          wallSeconds: round(run.wallSeconds, 2),
          exitCode: run.exitCode,
        };
        throughput.push(sample);
        ctx.log(
          `  throughput ${store} rep ${rep}: ${sample.rowsPerSecond} rows/s sending (c=${c}, L=${latencyMs} ms), wall ${sample.wallSeconds} s, exit ${run.exitCode}`,
        );
      } finally {
        await sim.stop();
        await removeRunFiles(files);
        if (store === "postgresql") await dropSchema(schema);
      }
    }
  }
  const perRound = Array.from({ length: ctx.reps }, (_, i) => {
    const f = throughput.find((s) => s.rep === i + 1 && s.store === "file")?.rowsPerSecond ?? Number.NaN;
    const p = throughput.find((s) => s.rep === i + 1 && s.store === "postgresql")?.rowsPerSecond ?? Number.NaN;
    return p / f;
  });
  const tputRatio = spread(perRound);
  const fileTput = spread(throughput.filter((s) => s.store === "file").map((s) => s.rowsPerSecond));
  const pgTput = spread(throughput.filter((s) => s.store === "postgresql").map((s) => s.rowsPerSecond));

  // (d) peak RSS with PostgreSQL at two sizes.
  const rss: RssSample[] = [];
  for (const rows of sizes) {
    const reps = rows === largest && rows >= 1_000_000 ? 1 : ctx.reps;
    for (let rep = 1; rep <= reps; rep++) {
      await ctx.quiet();
      const sim = await startSimulator(ctx.cli, { latencyMs: 0 });
      const files = runFiles(ctx, `pg-mem-${rows}-r${rep}`);
      const schema = freshSchema();
      try {
        ctx.log(`  pg memory ${rows} rows rep ${rep}: running (c=${c}, L=0)…`);
        const run = await runIssue(ctx, {
          csv: csvs.get(rows)!,
          url: sim.url,
          campaign: freshCampaign("pgmem"),
          concurrency: c,
          out: files.out,
          state: schemaUrl(schema),
          // On a loaded machine a million rows at a few hundred rows/s takes most of an hour.
          timeoutMs: 3_600_000,
          watchEveryMs: 250,
        });
        const watch = run.watch ?? [];
        const peak = watch.reduce<WatchSample | undefined>((best, p) => (best === undefined || p.rss > best.rss ? p : best), undefined);
        const sample: RssSample = {
          rep,
          rows,
          maxRssMb: round(run.maxRssKb / 1024, 1),
          wallSeconds: round(run.wallSeconds, 2),
          rowsPerSecond: run.summary?.requestsPerSecond ?? Number.NaN,
          peakAtSeconds: peak?.t ?? Number.NaN,
          heapUsedAtPeakMb: peak?.heapUsed ?? Number.NaN,
          maxHeapUsedMb: Math.max(...watch.map((w) => w.heapUsed)),
          issued: run.summary?.issued ?? 0,
          exitCode: run.exitCode,
          timedOut: run.timedOut,
        };
        rss.push(sample);
        ctx.log(
          `  pg memory ${rows} rows rep ${rep}: peak RSS ${sample.maxRssMb} MB (at ${sample.peakAtSeconds} s of ${sample.wallSeconds} s; heap used there ${sample.heapUsedAtPeakMb} MB), ${sample.rowsPerSecond} rows/s sending, ${sample.issued} issued, exit ${run.exitCode}`,
        );
      } finally {
        await sim.stop();
        await removeRunFiles(files);
        await dropSchema(schema);
      }
    }
  }
  const rssSummary = sizes.map((rows) => {
    const mine = rss.filter((s) => s.rows === rows);
    return {
      rows,
      maxRssMb: spread(mine.map((s) => s.maxRssMb)),
      wallSeconds: spread(mine.map((s) => s.wallSeconds)),
      rowsPerSecond: spread(mine.map((s) => s.rowsPerSecond)),
      heapUsedAtPeakMb: spread(mine.map((s) => s.heapUsedAtPeakMb)),
      maxHeapUsedMb: spread(mine.map((s) => s.maxHeapUsedMb)),
      peakShareOfWall: spread(mine.map((s) => s.peakAtSeconds / s.wallSeconds)),
      allIssued: mine.every((s) => s.issued === rows && s.exitCode === 0),
    };
  });
  const small = rssSummary[0]!;
  const big = rssSummary[rssSummary.length - 1]!;
  const growth = big.maxRssMb.median / small.maxRssMb.median;
  const loadBound = (30 * largest) / 1_000_000;

  const targets: Target[] = [
    {
      name: `issue throughput, PostgreSQL ÷ file store, c=${c}, L=${latencyMs} ms (same round)`,
      target: "≥ 0.95",
      measured: tputRatio.median.toFixed(3),
      pass: tputRatio.median >= 0.95,
      margin: relMargin(tputRatio.median, 0.95),
    },
    {
      name: `loading ${largest.toLocaleString("en-US")} rows (the plan's input, COPY)`,
      target: `≤ ${loadBound} s`,
      measured: load ? `${load.seconds.toFixed(1)} s` : "not measured",
      pass: load !== undefined && load.rows === largest && load.seconds <= loadBound,
      margin: load ? relMargin(load.seconds, loadBound) : "",
    },
    {
      name: `PostgreSQL: flat peak RSS, ${big.rows.toLocaleString("en-US")} ÷ ${small.rows.toLocaleString("en-US")} rows`,
      target: "≤ 1.10",
      measured: `${growth.toFixed(3)} (${big.maxRssMb.median.toFixed(0)} ÷ ${small.maxRssMb.median.toFixed(0)} MB)`,
      pass: growth <= 1.1 && rssSummary.every((p) => p.allIssued),
      margin: relMargin(growth, 1.1),
    },
  ];
  return {
    id: "pg",
    title: "8. Campaign state in PostgreSQL",
    params: { server: new URL(PG_URL).host, levels: LEVELS, microSeconds: seconds, reps: ctx.reps, throughput: { c, latencyMs, rows: tputRows }, sizes },
    samples: { fileMicro, pgMicro, throughput, rss } as unknown as unknown[],
    summary: { levels: levelSummary, load, throughput: { file: fileTput, postgresql: pgTput, ratio: tputRatio }, rss: rssSummary, growth: round(growth, 3) },
    targets,
    tables: [
      {
        title: `Group commit with k rows in flight (sent → a macrotask → outcome per row), median (min–max) of ${ctx.reps}`,
        columns: [
          "k",
          "PgStore rows/s",
          "wall µs/row",
          "client CPU µs/row",
          "operations per transaction",
          "outcome committed after (ms, median)",
          "JournalStore rows/s (same round)",
          "JournalStore wall µs/row",
          "PgStore ÷ JournalStore",
        ],
        rows: levelSummary.map((l) => [
          String(l.workers),
          fmt(l.pgRowsPerSecond, 0),
          fmt(l.pgWallUsPerRow, 0),
          fmt(l.pgCpuUsPerRow, 0),
          fmt(l.pgOpsPerTransaction, 1),
          fmt(l.pgOutcomeMs, 1),
          fmt(l.fileRowsPerSecond, 0),
          fmt(l.fileWallUsPerRow, 0),
          fmt(l.ratio, 2),
        ]),
      },
      {
        title: `issue at c=${c}, L=${latencyMs} ms, ${tputRows.toLocaleString("en-US")} rows: sending rows/s, median (min–max) of ${ctx.reps}`,
        columns: ["file store", "PostgreSQL", "PostgreSQL ÷ file (per round)"],
        rows: [[fmt(fileTput, 0), fmt(pgTput, 0), fmt(tputRatio, 3)]],
      },
      {
        title: "Peak RSS of issue with --state postgresql://… (L = 0, c = 64)",
        columns: [
          "rows",
          "runs",
          "peak RSS (MB)",
          "JS heap used at the peak (MB)",
          "max JS heap used (MB)",
          "peak at (share of wall)",
          "wall (s)",
          "sending rows/s",
        ],
        rows: rssSummary.map((p) => [
          p.rows.toLocaleString("en-US"),
          String(p.maxRssMb.n),
          fmt(p.maxRssMb, 0),
          fmt(p.heapUsedAtPeakMb, 0),
          fmt(p.maxHeapUsedMb, 0),
          fmt(p.peakShareOfWall, 2),
          fmt(p.wallSeconds, 1),
          fmt(p.rowsPerSecond, 0),
        ]),
      },
    ],
    notes: [
      `Server ${new URL(PG_URL).host} on this machine: PostgreSQL shares the 2 cores with the tool and the simulator. Every run had a schema of its own, dropped after it.`,
      load
        ? `Loading ${load.rows.toLocaleString("en-US")} rows (read the snapshot, derive requestIds, COPY into the rows table in one transaction): ${load.seconds.toFixed(1)} s, ${load.rowsPerSecond.toFixed(0)} rows/s; the tool's own CPU ${load.cpuSeconds.toFixed(1)} s of it.`
        : "The load was not measured.",
      "Group commit: operations per transaction is (sent + outcome) ÷ transactions; each transaction also reads the campaign's generation (the fence). The JournalStore columns come from bench/checkpoint-micro.ts run in the same round.",
      `The largest size runs once (it takes minutes); smaller sizes ${ctx.reps} times.`,
      ...rss
        .filter((r) => r.timedOut || r.exitCode !== 0)
        .map(
          (r) =>
            `The ${r.rows.toLocaleString("en-US")}-row run ${r.timedOut ? `was killed at the time limit after ${r.wallSeconds} s` : `exited ${r.exitCode}`}: its peak RSS covers only the part before, and the flatness target counts as missed.`,
        ),
    ],
    seconds: (performance.now() - started) / 1000,
  };
}
