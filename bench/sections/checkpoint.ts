import { spawn } from "node:child_process";
import { mkdir, open, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { readJournal } from "../../src/checkpoint/journal-reader.js";
import { rowsInProcessBound } from "../../src/job/apply-plan.js";
import type { LevelResult } from "../checkpoint-micro.js";
import { freshCampaign, removeRunFiles, runFiles, runIssue, writeRecipientsCsv, type BenchContext } from "../lib/context.js";
import { cleanEnv, startSimulator } from "../lib/proc.js";
import type { SectionResult } from "../lib/report.js";
import { fmt, spread } from "../lib/stats.js";

/**
 * 6. Checkpoint cost: what durable recording costs per row, and how group commit trades it against
 * the rows a crash would make the tool send again.
 *
 * (a) Microbenchmark (bench/checkpoint-micro.ts, its own process): the real JournalStore driven by
 *     k concurrent rows (recordSent → a macrotask standing for the request → recordOutcome), against
 *     the disk's own fdatasync latency and a no-fsync floor.
 * (b) Crash test: `issue` killed with SIGKILL mid-run at L = 20 ms; the checkpoint is scanned (rows
 *     with a durable `sent` and no durable outcome are the ones a rerun resends), then the same
 *     command is rerun against the same simulator, which counts requestIds it saw twice and checks
 *     that no row was issued twice.
 */

interface MicroResult {
  raw: { samples: number; medianMs: number; p90Ms: number; p99Ms: number; serialRowsPerSecondCeiling: number };
  encode: { usPerRow: number; cpuUsPerRow: number; bytesPerRow: number };
  groupCommit: LevelResult[];
  noSync: Array<{ workers: number; rows: number; wallUsPerRow: number; cpuUsPerRow: number }>;
}

export interface CrashSample {
  rep: number;
  concurrency: number;
  rows: number;
  killedAfterSeconds: number;
  sentDurable: number;
  outcomesDurable: number;
  /** sent durable, outcome not: a rerun sends these again, under the same requestId. */
  inDoubt: number;
  /** The applier's bound on rows between "sent recorded" and "outcome recorded" (rowsInProcessBound, ≤ 2c + 8). */
  bound: number;
  /** Codes the simulator had committed at the kill. */
  committedAtKill: number;
  /** Committed by PayPay but without a durable outcome: recovered by replay on the rerun. */
  committedNotRecorded: number;
  resumeRequests: number;
  /** requestIds the simulator received more than once over both runs. */
  resentRowsSeenBySimulator: number;
  finalCodes: number;
  issuedTwice: number;
  resumeExit: number | null;
}

async function runMicro(ctx: BenchContext): Promise<MicroResult> {
  const dir = join(ctx.tmp, "micro");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const seconds = ctx.quick ? 1 : 2;
  const child = spawn(process.execPath, [ctx.micro, "--dir", dir, "--seconds", String(seconds)], { stdio: ["ignore", "pipe", "inherit"], env: cleanEnv() });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  await rm(dir, { recursive: true, force: true });
  if (code !== 0) throw new Error(`checkpoint microbenchmark exited ${code}`);
  return JSON.parse(out) as MicroResult;
}

/** requestIds with a sent record and with an outcome record, as the journal stands (a torn last line is no record). */
async function scanJournal(file: string): Promise<{ sent: Set<string>; outcomes: Set<string> }> {
  const sent = new Set<string>();
  const outcomes = new Set<string>();
  const handle = await open(file, "r");
  try {
    for await (const { record } of readJournal(handle, file, () => undefined)) {
      const r = record as { t?: string; rid?: string };
      if (r.t === "sent" && r.rid) sent.add(r.rid);
      else if (r.t === "outcome" && r.rid) outcomes.add(r.rid);
    }
  } finally {
    await handle.close();
  }
  return { sent, outcomes };
}

/** Checkpoint size past which `sent` records are being written (header, target and plan records are a few KB). */
const SENDING_BYTES = 32 * 1024;

async function crashOnce(ctx: BenchContext, c: number, rep: number): Promise<CrashSample> {
  const latencyMs = 20;
  // Enough rows that the kill lands mid-run even when the CPU caps the rate.
  const ratePerSecond = Math.min((c * 1000) / latencyMs, 2500);
  const rows = Math.ceil(ratePerSecond * 10);
  const csv = join(ctx.tmp, `crash-${rows}.csv`);
  await writeRecipientsCsv(csv, rows);
  await ctx.quiet();
  const sim = await startSimulator(ctx.cli, { latencyMs });
  const files = runFiles(ctx, `crash-c${c}-r${rep}`);
  const campaign = freshCampaign("crash");
  // Killed a little after its first `sent` records reach the checkpoint (varied between reps), not
  // at a fixed time after spawn: on a loaded machine start-up and planning alone can take seconds.
  const killDelay = 0.5 + rep * 0.37;
  const spawned = performance.now();
  let killAfter = Number.NaN;
  try {
    await runIssue(ctx, {
      csv,
      url: sim.url,
      campaign,
      concurrency: c,
      ...files,
      timeoutMs: 120_000,
      expectKill: true,
      onStart: (_pid, kill) => {
        const poll = setInterval(() => {
          void stat(files.state).then(
            (st) => {
              if (st.size < SENDING_BYTES || !Number.isNaN(killAfter)) return;
              clearInterval(poll);
              killAfter = (performance.now() - spawned) / 1000 + killDelay;
              setTimeout(kill, killDelay * 1000);
            },
            () => undefined,
          );
        }, 20);
        setTimeout(() => clearInterval(poll), 110_000);
      },
    });
    const committedAtKill = (await sim.ledger()).entries;
    const { sent, outcomes } = await scanJournal(files.state);
    let inDoubt = 0;
    for (const rid of sent) if (!outcomes.has(rid)) inDoubt++;
    const resume = await runIssue(ctx, { csv, url: sim.url, campaign, concurrency: c, ...files, timeoutMs: 300_000 });
    const after = await sim.ledger();
    const sample: CrashSample = {
      rep,
      concurrency: c,
      rows,
      killedAfterSeconds: killAfter,
      sentDurable: sent.size,
      outcomesDurable: outcomes.size,
      inDoubt,
      bound: rowsInProcessBound(c),
      committedAtKill,
      committedNotRecorded: committedAtKill - outcomes.size,
      resumeRequests: resume.summary?.requests ?? Number.NaN,
      resentRowsSeenBySimulator: after.repeatedCalls,
      finalCodes: after.entries,
      issuedTwice: after.entries - (resume.summary?.issued ?? 0),
      resumeExit: resume.exitCode,
    };
    ctx.log(
      `  crash c=${c} rep ${rep}: killed at ${killAfter.toFixed(2)} s with ${outcomes.size} outcomes durable, ${inDoubt} in doubt (bound ${rowsInProcessBound(c)}); simulator had ${committedAtKill} codes; rerun sent ${sample.resumeRequests}, ${after.repeatedCalls} requestIds seen twice, ${after.entries} codes for ${rows} rows`,
    );
    return sample;
  } finally {
    await sim.stop();
    await removeRunFiles(files);
  }
}

export async function runCheckpoint(ctx: BenchContext): Promise<SectionResult> {
  const started = performance.now();
  const micro: MicroResult[] = [];
  for (let rep = 1; rep <= ctx.reps; rep++) {
    await ctx.quiet();
    micro.push(await runMicro(ctx));
    ctx.log(
      `  checkpoint micro rep ${rep}: fdatasync ${micro.at(-1)!.raw.medianMs.toFixed(3)} ms; ` +
        micro
          .at(-1)!
          .groupCommit.map((l) => `k=${l.workers}: ${l.wallUsPerRow.toFixed(1)} µs/row, ${l.recordsPerDatasync.toFixed(1)} rec/fsync`)
          .join("; "),
    );
  }
  const levels = micro[0]!.groupCommit.map((l) => l.workers);
  const levelSummary = levels.map((k, i) => {
    const g = micro.map((m) => m.groupCommit[i]!);
    const n = micro.map((m) => m.noSync[i]!);
    return {
      workers: k,
      wallUsPerRow: spread(g.map((x) => x.wallUsPerRow)),
      cpuUsPerRow: spread(g.map((x) => x.cpuUsPerRow)),
      rowsPerSecond: spread(g.map((x) => x.rowsPerSecond)),
      recordsPerDatasync: spread(g.map((x) => x.recordsPerDatasync)),
      outcomeLatencyMedianMs: spread(g.map((x) => x.outcomeLatencyMedianMs)),
      outcomeLatencyP90Ms: spread(g.map((x) => x.outcomeLatencyP90Ms)),
      maxRowsAwaitingOutcome: spread(g.map((x) => x.maxRowsAwaitingOutcome)),
      noSyncWallUsPerRow: spread(n.map((x) => x.wallUsPerRow)),
      noSyncCpuUsPerRow: spread(n.map((x) => x.cpuUsPerRow)),
    };
  });
  const raw = {
    medianMs: spread(micro.map((m) => m.raw.medianMs)),
    p99Ms: spread(micro.map((m) => m.raw.p99Ms)),
    serialRowsPerSecondCeiling: spread(micro.map((m) => m.raw.serialRowsPerSecondCeiling)),
  };
  const encode = { cpuUsPerRow: spread(micro.map((m) => m.encode.cpuUsPerRow)), bytesPerRow: micro[0]!.encode.bytesPerRow };

  const crashes: CrashSample[] = [];
  const crashLevels = ctx.quick ? [32] : [4, 32, 256];
  const crashReps = ctx.quick ? 1 : 2;
  for (let rep = 1; rep <= crashReps; rep++) for (const c of crashLevels) crashes.push(await crashOnce(ctx, c, rep));
  const crashSummary = crashLevels.map((c) => {
    const mine = crashes.filter((s) => s.concurrency === c);
    return {
      concurrency: c,
      inDoubt: spread(mine.map((s) => s.inDoubt)),
      resent: spread(mine.map((s) => s.resentRowsSeenBySimulator)),
      committedNotRecorded: spread(mine.map((s) => s.committedNotRecorded)),
      bound: rowsInProcessBound(c),
      issuedTwice: Math.max(...mine.map((s) => s.issuedTwice)),
      allCodes: mine.every((s) => s.finalCodes === s.rows),
    };
  });
  const noDoubleIssue = crashes.every((s) => s.issuedTwice === 0 && s.finalCodes === s.rows);
  const resendWithinBound = crashes.every((s) => s.inDoubt <= s.bound);

  return {
    id: "checkpoint",
    title: "6. Checkpoint cost (durable recording, group commit)",
    params: { microSeconds: ctx.quick ? 1 : 2, levels, reps: ctx.reps, crashLevels, crashReps, crashLatencyMs: 20 },
    samples: { micro, crashes } as unknown as unknown[],
    summary: { raw, encode, levels: levelSummary, crash: crashSummary },
    targets: [
      {
        name: "crash: no row issued twice, every row issued after the rerun",
        target: "0 duplicates",
        measured: noDoubleIssue ? "0" : "duplicates or missing codes",
        pass: noDoubleIssue,
        margin: "",
      },
      {
        name: "crash: rows resent ≤ rows in process (c + min(c + 8, c/4 + 16), never above 2c + 8)",
        target: "≤ rows in process",
        measured: crashSummary.map((p) => `c=${p.concurrency}: ${p.inDoubt.median}`).join(", "),
        pass: resendWithinBound,
        margin: "",
      },
    ],
    tables: [
      {
        title: "Disk and encoding (per row = one `sent` + one `outcome` record)",
        columns: [
          "fdatasync of one small append (ms)",
          "p99 (ms)",
          "rows/s if every record were fsync'd alone",
          "encode CPU µs/row (JSON + CRC32)",
          "bytes/row",
        ],
        rows: [[fmt(raw.medianMs, 3), fmt(raw.p99Ms, 2), fmt(raw.serialRowsPerSecondCeiling, 0), fmt(encode.cpuUsPerRow, 1), encode.bytesPerRow.toFixed(0)]],
      },
      {
        title: `Group commit (JournalStore, real fdatasync) with k rows in flight, median (min–max) of ${ctx.reps}`,
        columns: [
          "k",
          "wall µs/row",
          "CPU µs/row",
          "rows/s the store sustains",
          "records per fdatasync",
          "outcome durable after (ms, median)",
          "p90 (ms)",
          "no-fsync floor: wall µs/row",
          "no-fsync CPU µs/row",
          "rows in doubt at any instant (max; ≤ k)",
        ],
        rows: levelSummary.map((l) => [
          String(l.workers),
          fmt(l.wallUsPerRow, 1),
          fmt(l.cpuUsPerRow, 1),
          fmt(l.rowsPerSecond, 0),
          fmt(l.recordsPerDatasync, 1),
          fmt(l.outcomeLatencyMedianMs, 2),
          fmt(l.outcomeLatencyP90Ms, 2),
          fmt(l.noSyncWallUsPerRow, 1),
          fmt(l.noSyncCpuUsPerRow, 1),
          fmt(l.maxRowsAwaitingOutcome, 0),
        ]),
      },
      {
        title: `Crash test: SIGKILL mid-run (L = 20 ms), then the same command again; ${crashReps} run(s) per c`,
        columns: [
          "c",
          "rows in doubt at the kill (sent durable, no outcome)",
          "bound: rows in process",
          "codes committed but not recorded (recovered by replay)",
          "requestIds the simulator saw twice",
          "codes issued twice",
          "all rows issued after rerun",
        ],
        rows: crashSummary.map((p) => [
          String(p.concurrency),
          fmt(p.inDoubt, 0),
          String(p.bound),
          fmt(p.committedNotRecorded, 0),
          fmt(p.resent, 0),
          String(p.issuedTwice),
          p.allCodes ? "yes" : "NO",
        ]),
      },
    ],
    notes: [
      "Group commit: appends that arrive while a write + fdatasync is running share the next one, so records per fdatasync ≈ rows in flight, and the per-row cost falls as concurrency rises with no timer and no window of acknowledged-but-unsynced data.",
      "Nothing acknowledged is lost: an outcome is counted (and the row considered done) only after its fdatasync. What a crash costs is rows in doubt: a durable `sent` record and no durable outcome. They are (1) requests in flight at the kill, (2) answered rows whose outcome was waiting for the current fdatasync, and (3) rows admitted ahead (sent recorded, waiting for a concurrency slot: never sent). The applier keeps at most c + min(c + 8, c/4 + 16) rows in process (never more than 2c + 8: 16, 56 and 336 at c = 4, 32 and 256), so that is the bound, whatever the rate or the time since the last fdatasync. A rerun sends all of them under their same requestId: (1) and (2) reach PayPay a second time (the simulator's 'seen twice' column) and get the original code back, with no second charge ('committed but not recorded' are exactly those recovered by replay); (3) go out for the first time.",
      gcVsFloor(levelSummary),
      `Per-record fdatasync without batching would cap the whole run near ${raw.serialRowsPerSecondCeiling.median.toFixed(0)} rows/s whatever the concurrency; group commit lifts the store's own ceiling to ${levelSummary.map((l) => `${l.rowsPerSecond.median.toFixed(0)} rows/s at k=${l.workers}`).join(", ")}.`,
      "A timer-based batch (fdatasync every T ms, acknowledge before it) would save the remaining fdatasyncs at low concurrency, at the price of up to rate × T acknowledged outcomes lost on a power cut (sent again on the rerun, also under the same requestId). Group commit never acknowledges unsynced data, and its exposure is bounded by rows in process, not by time.",
    ],
    seconds: (performance.now() - started) / 1000,
  };
}

function gcVsFloor(
  levels: Array<{
    workers: number;
    wallUsPerRow: { median: number };
    noSyncWallUsPerRow: { median: number };
    cpuUsPerRow: { median: number };
    noSyncCpuUsPerRow: { median: number };
  }>,
): string {
  const parts = levels.map(
    (l) =>
      `k=${l.workers}: +${(l.wallUsPerRow.median - l.noSyncWallUsPerRow.median).toFixed(0)} µs wall, +${(l.cpuUsPerRow.median - l.noSyncCpuUsPerRow.median).toFixed(0)} µs CPU`,
  );
  return `Cost of durability per row over the no-fsync floor: ${parts.join("; ")}. At the tool's request rates (hundreds to a few thousand rows/s) this is paid off the request path: the concurrency slot is held only for the HTTP exchange.`;
}
