import { createWriteStream } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import type { SummaryJson } from "../../src/cli/summary.js";
import type { WatchSample } from "../memwatch.js";
import { REQUEST_FLAGS } from "./bench-request.js";
import { join } from "node:path";
import { once } from "node:events";
import { runTimed, type TimedRun } from "./proc.js";

/** What every section needs: where the built tool and helpers are, a scratch dir, and settings. */
export interface BenchContext {
  /** The tool's cli.js, from a snapshot of dist/ taken right after the build. */
  cli: string;
  /** The bundled naive baseline. */
  naive: string;
  /** The bundled checkpoint microbenchmark. */
  micro: string;
  /** The bundled PostgreSQL store microbenchmark (sections/pg.ts). */
  pgMicro: string;
  /** The bundled floor client (raw node:http, the efficiency reference). */
  floor: string;
  /** The bundled memory-sampling preload (bench/memwatch.ts). */
  memwatch: string;
  tmp: string;
  quick: boolean;
  /** Repetitions per point (3 unless --reps or --quick). */
  reps: number;
  /** Whether to add --cpu-prof to one run of the sections that miss (memory, resume). */
  profile: boolean;
  /** Finished issue runs kept for the resume section, by row count. */
  artifacts: Map<number, Artifact>;
  /** Waits for the machine to go quiet before a sample (bounded); returns the load seen. */
  quiet(): Promise<{ waitedMs: number; busyCores: number }>;
  log(message: string): void;
}

export interface Artifact {
  csv: string;
  out: string;
  state: string;
  campaign: string;
}

export { GROUP_ID } from "./bench-request.js";

/** A client's --summary-json (or memwatch's samples), or undefined when it wrote none (it crashed, or was killed). */
async function readSummary<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

let campaignCounter = 0;
/** A fresh campaign per run, so no two runs share requestIds on a simulator. */
export function freshCampaign(prefix: string): string {
  campaignCounter++;
  return `${prefix}-${process.pid}-${campaignCounter}`;
}

/** A CSV of `rows` recipients (recipient_id, email), ids R00000000, R00000001, … from `first`. */
export async function writeRecipientsCsv(file: string, rows: number, first = 0, append = false): Promise<void> {
  if (!append) await rm(file, { force: true });
  const out = createWriteStream(file, { flags: append ? "a" : "w" });
  if (!append) out.write("recipient_id,email\n");
  const chunk: string[] = [];
  for (let i = first; i < first + rows; i++) {
    const id = `R${String(i).padStart(8, "0")}`;
    chunk.push(`${id},${id.toLowerCase()}@example.com\n`);
    if (chunk.length === 10_000) {
      if (!out.write(chunk.join(""))) await once(out, "drain");
      chunk.length = 0;
    }
  }
  if (chunk.length > 0) out.write(chunk.join(""));
  out.end();
  await once(out, "finish");
}

export async function appendRecipients(file: string, rows: number, first: number): Promise<void> {
  await writeRecipientsCsv(file, rows, first, true);
}

/** What the bench reads of the tool's --summary-json. */
export type IssueSummary = Pick<
  SummaryJson,
  "exitCode" | "rows" | "issued" | "failed" | "pending" | "requests" | "retries" | "throttled" | "elapsedSeconds" | "requestsPerSecond"
> &
  Partial<Pick<SummaryJson, "phases" | "firstRequestSeconds">>;

export interface IssueRun extends TimedRun {
  summary?: IssueSummary;
  /** With `watchEveryMs`: the memwatch preload's samples; undefined if it wrote none. */
  watch?: WatchSample[];
}

export interface IssueOptions {
  csv: string;
  url: string;
  campaign: string;
  concurrency: number;
  out: string;
  state: string;
  /** --rate: requests per second, or "auto" (adaptive pacing). */
  rate?: number | "auto";
  timeoutMs?: number;
  extraNodeArgs?: string[];
  /** Samples the tool's memory and CPU from inside (bench/memwatch.ts) this often. */
  watchEveryMs?: number;
  onStart?: (pid: number, kill: () => void) => void;
  /** The run is meant to be killed: do not report its failure. */
  expectKill?: boolean;
}

export async function runIssue(ctx: BenchContext, o: IssueOptions): Promise<IssueRun> {
  const summaryFile = `${o.out}.summary.json`;
  await rm(summaryFile, { force: true });
  const watchFile = o.watchEveryMs === undefined ? undefined : `${o.out}.memwatch.json`;
  const watchArgs =
    watchFile === undefined ? [] : ["--import", `${pathToFileURL(ctx.memwatch).href}?out=${encodeURIComponent(watchFile)}&every=${o.watchEveryMs}`];
  const args = [
    ...(o.extraNodeArgs ?? []),
    ...watchArgs,
    ctx.cli,
    "issue",
    o.csv,
    "--campaign",
    o.campaign,
    "--base-url",
    o.url,
    ...REQUEST_FLAGS,
    "--concurrency",
    String(o.concurrency),
    "--log-level",
    "warn",
    "--out",
    o.out,
    "--state",
    o.state,
    "--summary-json",
    summaryFile,
    ...(o.rate !== undefined ? ["--rate", String(o.rate)] : []),
  ];
  const run = await runTimed(args, { timeoutMs: o.timeoutMs ?? 600_000, tmpDir: ctx.tmp, onStart: o.onStart });
  const summary = await readSummary<IssueSummary>(summaryFile);
  if (!run.timedOut && !o.expectKill && (run.exitCode !== 0 || summary === undefined)) {
    ctx.log(`  ! issue exited ${run.exitCode}: ${run.stderr.slice(0, 800)} ${run.stdout.slice(0, 400)}`);
  }
  if (watchFile === undefined) return { ...run, summary };
  const watch = await readSummary<WatchSample[]>(watchFile);
  await rm(watchFile, { force: true });
  return { ...run, summary, watch };
}

export interface NaiveSummary {
  rows: number;
  issued: number;
  failed: number;
  requests: number;
  elapsedSeconds: number;
  requestsPerSecond: number;
  sendingSeconds: number;
}

export interface NaiveRun extends TimedRun {
  summary?: NaiveSummary;
}

export async function runNaive(
  ctx: BenchContext,
  o: { csv: string; url: string; campaign: string; concurrency: number; summary: string; timeoutMs?: number },
): Promise<NaiveRun> {
  await rm(o.summary, { force: true });
  const args = [
    ctx.naive,
    o.csv,
    "--base-url",
    o.url,
    "--campaign",
    o.campaign,
    "--concurrency",
    String(o.concurrency),
    ...REQUEST_FLAGS,
    "--summary-json",
    o.summary,
  ];
  const run = await runTimed(args, { timeoutMs: o.timeoutMs ?? 600_000, tmpDir: ctx.tmp });
  const summary = await readSummary<NaiveSummary>(o.summary);
  if (run.exitCode !== 0) ctx.log(`  ! naive exited ${run.exitCode}: ${run.stderr.slice(0, 800)}`);
  return { ...run, summary };
}

export function runFiles(ctx: BenchContext, name: string): { out: string; state: string } {
  return { out: join(ctx.tmp, `${name}.results.csv`), state: join(ctx.tmp, `${name}.checkpoint`) };
}

export async function removeRunFiles(files: { out: string; state: string }): Promise<void> {
  await rm(files.out, { force: true });
  await rm(files.state, { force: true });
  await rm(`${files.state}.lock`, { force: true });
  await rm(`${files.state}.index`, { force: true });
  await rm(`${files.out}.summary.json`, { force: true });
}

export interface FloorRun extends TimedRun {
  summary?: { rows: number; issued: number; requests: number; requestsPerSecond: number; sendingSeconds: number };
}

export async function runFloor(
  ctx: BenchContext,
  o: { url: string; campaign: string; concurrency: number; rows: number; summary: string; timeoutMs?: number },
): Promise<FloorRun> {
  await rm(o.summary, { force: true });
  const args = [
    ctx.floor,
    "--base-url",
    o.url,
    "--campaign",
    o.campaign,
    "--concurrency",
    String(o.concurrency),
    "--rows",
    String(o.rows),
    "--summary-json",
    o.summary,
  ];
  const run = await runTimed(args, { timeoutMs: o.timeoutMs ?? 300_000, tmpDir: ctx.tmp });
  const summary = await readSummary<NonNullable<FloorRun["summary"]>>(o.summary);
  if (run.exitCode !== 0) ctx.log(`  ! floor client exited ${run.exitCode}: ${run.stderr.slice(0, 800)}`);
  return { ...run, summary };
}
