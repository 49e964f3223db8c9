import { copyFile, mkdir, open, rm } from "node:fs/promises";
import { readJournal } from "../../src/checkpoint/journal-reader.js";
import { join } from "node:path";
import { summarizeProfile } from "../profile-summary.js";
import { appendRecipients, removeRunFiles, runFiles, runIssue, writeRecipientsCsv, type Artifact, type BenchContext } from "../lib/context.js";
import { synthesizeFinishedCheckpoint } from "../lib/synth-checkpoint.js";
import { startSimulator } from "../lib/proc.js";
import { relMargin, type SectionResult, type Table } from "../lib/report.js";
import { fmt, round, spread } from "../lib/stats.js";

/**
 * 4. Resume: rerun `issue` on a finished checkpoint (nothing to send), and on the same checkpoint
 * with 1 % more rows appended to the CSV (those are sent). The checkpoints come from the memory
 * section's finished runs; without it, this section issues its own first.
 */

export interface ResumeSample {
  kind: "finished" | "finished-full" | "pending-1pct";
  rows: number;
  rep: number;
  wallSeconds: number;
  cpuSeconds: number;
  maxRssMb: number;
  requests: number;
  issued: number;
  /** Time spent sending (first request to last answer), 0 when nothing was sent. */
  sendingSeconds: number;
  /** Wall minus the sending window: what resuming itself costs. */
  overheadSeconds: number;
  usPerRow: number;
  /** CPU (cores) used meanwhile by processes other than this client (the simulator is idle here). */
  otherCores: number;
  exitCode: number | null;
  timedOut: boolean;
}

/** Stop repeating a point once one run of it took longer than this (the bench must stay bounded). */
const REPEAT_BUDGET_SECONDS = 60;

export async function runResume(ctx: BenchContext, options: { sizes?: number[]; timeoutSeconds?: number } = {}): Promise<SectionResult> {
  const started = performance.now();
  const timeoutMs = (options.timeoutSeconds ?? 600) * 1000;
  const sizes = options.sizes ?? (ctx.artifacts.size > 0 ? [...ctx.artifacts.keys()].sort((a, b) => a - b) : ctx.quick ? [100_000] : [100_000, 1_000_000]);
  const samples: ResumeSample[] = [];
  let profileTable: Table | undefined;
  let profileTop: unknown;

  for (const rows of sizes) {
    const artifact = ctx.artifacts.get(rows) ?? (await makeArtifact(ctx, rows));
    if (!artifact) continue;

    const finishedRun = async (kind: "finished" | "finished-full", rep: number): Promise<ResumeSample> => {
      // The full path: the result file is gone, so the previous run's `complete` record no longer
      // vouches for it and every row is reread, rechecked and written again.
      if (kind === "finished-full") await rm(artifact.out, { force: true });
      await ctx.quiet();
      const sim = await startSimulator(ctx.cli, { latencyMs: 0, port: await boundPort(artifact.state) });
      try {
        const run = await runIssue(ctx, {
          csv: artifact.csv,
          url: sim.url,
          campaign: artifact.campaign,
          concurrency: 64,
          out: artifact.out,
          state: artifact.state,
          timeoutMs,
        });
        const sample = toSample(kind, rows, rep, run);
        samples.push(sample);
        ctx.log(
          `  resume ${kind === "finished" ? "finished" : "finished, full path"} ${rows} rows rep ${rep}: ${sample.wallSeconds} s wall, ${sample.cpuSeconds} s CPU, ${sample.requests} requests, ${sample.issued} issued, peak ${sample.maxRssMb} MB${run.timedOut ? " (TIMED OUT)" : ""}`,
        );
        if (!run.timedOut && (sample.requests !== 0 || sample.issued !== rows)) ctx.log(`  ! finished resume expected 0 requests and ${rows} issued`);
        return sample;
      } finally {
        await sim.stop();
      }
    };

    // A synthesized checkpoint is primed by one full-path resume, which leaves it exactly as a real
    // finished run does (result file written, `complete` record appended); that run is a sample.
    let fullDone = 0;
    if (synthesized.has(rows)) {
      await finishedRun("finished-full", 1);
      fullDone = 1;
    }
    // Finished, nothing changed: the command rerun as is (cron rerunning a finished campaign).
    for (let rep = 1; rep <= ctx.reps; rep++) {
      const sample = await finishedRun("finished", rep);
      if (sample.timedOut || sample.wallSeconds > REPEAT_BUDGET_SECONDS) break;
    }
    // Finished, full path: what the same rerun costs when the shortcut does not apply.
    for (let rep = fullDone + 1; rep <= ctx.reps; rep++) {
      const last = samples.filter((x) => x.kind === "finished-full" && x.rows === rows).at(-1);
      if (last && (last.timedOut || last.wallSeconds > REPEAT_BUDGET_SECONDS)) break;
      await finishedRun("finished-full", rep);
    }

    // 1 % pending: the same checkpoint (copied for each run), the CSV with 1 % new rows appended.
    const extra = Math.max(1, Math.round(rows / 100));
    const csvPlus = join(ctx.tmp, `resume-${rows}-plus.csv`);
    await copyFile(artifact.csv, csvPlus);
    await appendRecipients(csvPlus, extra, rows);
    for (let rep = 1; rep <= ctx.reps; rep++) {
      const files = runFiles(ctx, `resume-${rows}-pending-r${rep}`);
      await copyFile(artifact.state, files.state);
      await ctx.quiet();
      const sim = await startSimulator(ctx.cli, { latencyMs: 0, port: await boundPort(artifact.state) });
      try {
        const run = await runIssue(ctx, { csv: csvPlus, url: sim.url, campaign: artifact.campaign, concurrency: 64, ...files, timeoutMs });
        const sample = toSample("pending-1pct", rows + extra, rep, run);
        samples.push(sample);
        ctx.log(
          `  resume 1% pending ${rows}+${extra} rows rep ${rep}: ${sample.wallSeconds} s wall (${sample.sendingSeconds} s sending ${sample.requests} requests, ${sample.overheadSeconds} s the rest), peak ${sample.maxRssMb} MB${run.timedOut ? " (TIMED OUT)" : ""}`,
        );
        if (run.timedOut || run.wallSeconds > REPEAT_BUDGET_SECONDS) break;
      } finally {
        await sim.stop();
        await removeRunFiles(files);
      }
    }
    await rm(csvPlus, { force: true });
  }

  // Evidence: one profiled full-path finished resume at the smallest size.
  if (ctx.profile && sizes.length > 0) {
    const rows = sizes[0]!;
    const artifact = ctx.artifacts.get(rows);
    if (artifact) {
      const dir = join(ctx.tmp, "prof-resume");
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await rm(artifact.out, { force: true }); // the full path: the one worth profiling
      const sim = await startSimulator(ctx.cli, { latencyMs: 0, port: await boundPort(artifact.state) });
      try {
        await runIssue(ctx, {
          csv: artifact.csv,
          url: sim.url,
          campaign: artifact.campaign,
          concurrency: 64,
          out: artifact.out,
          state: artifact.state,
          timeoutMs,
          extraNodeArgs: ["--cpu-prof", `--cpu-prof-dir=${dir}`],
        });
      } finally {
        await sim.stop();
      }
      const { readdir } = await import("node:fs/promises");
      const file = (await readdir(dir)).find((f) => f.endsWith(".cpuprofile"));
      if (file) {
        const prof = summarizeProfile(join(dir, file), 15);
        profileTop = prof;
        profileTable = {
          title: `CPU profile of one finished resume, full path, at ${rows.toLocaleString("en-US")} rows (${(prof.totalMs / 1000).toFixed(1)} s), by inclusive time`,
          columns: ["function", "inclusive ms", "inclusive %", "self %"],
          rows: prof.byTotal.map((r) => [r.fn, r.totalMs.toFixed(0), r.totalPct.toFixed(1), r.selfPct.toFixed(1)]),
        };
      }
    }
  }

  const kinds = ["finished", "finished-full", "pending-1pct"] as const;
  const summary = sizes.flatMap((rows) =>
    kinds.map((kind) => {
      const mine = samples.filter(
        (s) => s.kind === kind && (kind === "pending-1pct" ? s.rows === rows + Math.max(1, Math.round(rows / 100)) : s.rows === rows),
      );
      return {
        kind,
        baseRows: rows,
        wallSeconds: spread(mine.map((s) => s.wallSeconds)),
        overheadSeconds: spread(mine.map((s) => s.overheadSeconds)),
        sendingSeconds: spread(mine.map((s) => s.sendingSeconds)),
        cpuSeconds: spread(mine.map((s) => s.cpuSeconds)),
        maxRssMb: spread(mine.map((s) => s.maxRssMb)),
        usPerRow: spread(mine.map((s) => s.usPerRow)),
        requests: spread(mine.map((s) => s.requests)),
        timedOut: mine.some((s) => s.timedOut),
      };
    }),
  );
  const biggest = Math.max(...sizes);
  const targets = summary
    .filter((p) => p.baseRows === biggest && p.wallSeconds.n > 0)
    .map((p) =>
      p.kind === "finished"
        ? {
            name: `resume a finished ${biggest.toLocaleString("en-US")}-row checkpoint (rerun as is)`,
            target: "≤ 5 s",
            measured: `${p.wallSeconds.median.toFixed(1)} s${p.timedOut ? " (timed out)" : ""}`,
            pass: p.wallSeconds.median <= 5 && !p.timedOut,
            margin: relMargin(p.wallSeconds.median, 5),
          }
        : p.kind === "finished-full"
          ? {
              name: `resume a finished ${biggest.toLocaleString("en-US")}-row checkpoint, full path (result file gone)`,
              target: "≤ 5 s (same bound; bench's own check)",
              measured: `${p.wallSeconds.median.toFixed(1)} s${p.timedOut ? " (timed out)" : ""}`,
              pass: p.wallSeconds.median <= 5 && !p.timedOut,
              margin: relMargin(p.wallSeconds.median, 5),
            }
          : {
              name: `resume with 1 % pending: time outside the sending window`,
              target: "≤ 5 s (same bound; bench's own check)",
              measured: `${p.overheadSeconds.median.toFixed(1)} s (+ ${p.sendingSeconds.median.toFixed(1)} s sending)`,
              pass: p.overheadSeconds.median <= 5 && !p.timedOut,
              margin: relMargin(p.overheadSeconds.median, 5),
            },
    );
  const tables: Table[] = [
    {
      title: "Resume times, median (min–max)",
      columns: [
        "checkpoint rows",
        "case",
        "runs",
        "wall (s)",
        "outside sending (s)",
        "sending (s)",
        "requests",
        "µs per row (wall)",
        "CPU (s)",
        "peak RSS (MB)",
      ],
      rows: summary.map((p) => [
        p.baseRows.toLocaleString("en-US"),
        p.kind === "finished" ? "finished, rerun as is" : p.kind === "finished-full" ? "finished, full path (result file deleted)" : "1 % new rows appended",
        String(p.wallSeconds.n),
        fmt(p.wallSeconds, 2) + (p.timedOut ? " (timed out)" : ""),
        fmt(p.overheadSeconds, 2),
        fmt(p.sendingSeconds, 2),
        fmt(p.requests, 0),
        fmt(p.usPerRow, 1),
        fmt(p.cpuSeconds, 1),
        fmt(p.maxRssMb, 0),
      ]),
    },
  ];
  if (profileTable) tables.push(profileTable);
  return {
    id: "resume",
    title: "4. Resume",
    params: { sizes, reps: ctx.reps, repeatBudgetSeconds: REPEAT_BUDGET_SECONDS, concurrency: 64 },
    samples,
    summary: { points: summary, profile: profileTop },
    targets,
    tables,
    notes: [
      "'finished, rerun as is': the same `issue` command rerun on a finished checkpoint, nothing changed (the tool may take its shortcut: the checkpoint ends with the last run's `complete` record and the input, settings and result file are as it left them). 'full path': the same, with the result file deleted first, so the tool replays the journal, rereads and rechecks every row and writes the result file again.",
      `A point is repeated up to ${ctx.reps} times, but not again once one run took more than ${REPEAT_BUDGET_SECONDS} s (the bench must stay bounded).`,
      "The 1 % case copies the finished checkpoint for each run and appends 1 % new recipients to the CSV (sent against a fresh simulator, L = 0, c = 64).",
      synthesized.size > 0
        ? `Checkpoints for ${[...synthesized].map((n) => n.toLocaleString("en-US")).join(", ")} rows were synthesized (bench/lib/synth-checkpoint.ts: a real template run's records reproduced per row with the tool's own requestId and fingerprint derivation); the memory section was not run, so no issued one was at hand. The first resume regenerates their result file.`
        : "Checkpoints are the memory section's finished runs.",
    ],
    seconds: (performance.now() - started) / 1000,
  };
}

function toSample(kind: ResumeSample["kind"], rows: number, rep: number, run: Awaited<ReturnType<typeof runIssue>>): ResumeSample {
  const s = run.summary;
  const sendingSeconds = s && s.requestsPerSecond > 0 ? s.requests / s.requestsPerSecond : 0;
  return {
    kind,
    rows,
    rep,
    wallSeconds: round(run.wallSeconds, 3),
    cpuSeconds: round(run.cpuSeconds, 3),
    maxRssMb: round(run.maxRssKb / 1024, 1),
    requests: s?.requests ?? Number.NaN,
    issued: s?.issued ?? Number.NaN,
    sendingSeconds: round(sendingSeconds, 3),
    overheadSeconds: round(run.wallSeconds - sendingSeconds, 3),
    usPerRow: round((run.wallSeconds * 1e6) / rows, 2),
    otherCores: Math.max(0, run.busyCoresBesidesClient),
    exitCode: run.exitCode,
    timedOut: run.timedOut,
  };
}

async function makeArtifact(ctx: BenchContext, rows: number): Promise<Artifact | undefined> {
  const csv = join(ctx.tmp, `resume-${rows}.csv`);
  await writeRecipientsCsv(csv, rows);
  const campaign = `resume-${rows}`;
  // Without the memory section's finished run, a finished checkpoint is synthesized from a real
  // template run (seconds, not the minutes of sending every row); the first resume validates it.
  ctx.log(`  resume: synthesizing a finished ${rows}-row checkpoint…`);
  const started = performance.now();
  const artifact = await synthesizeFinishedCheckpoint(ctx, csv, campaign, `resume-${rows}`);
  ctx.log(`  resume: synthesized in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  ctx.artifacts.set(rows, artifact);
  synthesized.add(rows);
  return artifact;
}

/** Sizes whose checkpoint was synthesized rather than issued (reported in the notes). */
const synthesized = new Set<number>();

/**
 * The port of the simulator a checkpoint is bound to: a checkpoint refuses any other target, so each
 * resume starts its simulator there (the run that wrote the checkpoint has stopped its own).
 */
async function boundPort(state: string): Promise<number | undefined> {
  const handle = await open(state, "r");
  try {
    for await (const { record } of readJournal(handle, state, () => undefined)) {
      const r = record as { t?: string; target?: { origin?: string } };
      if (r.t === "target" && r.target?.origin) return Number(new URL(r.target.origin).port) || undefined;
      if (r.t === "sent") return undefined;
    }
  } finally {
    await handle.close();
  }
  return undefined;
}
