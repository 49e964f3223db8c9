/**
 * Microbenchmark of durable recording, run as its own process (bundled by the bench):
 *
 *   node checkpoint-micro.mjs --dir DIR [--seconds 2] [--levels 1,4,16,64,256]
 *
 * Prints one JSON object on stdout:
 * - raw: the disk's own cost, one small append + fdatasync at a time (what a per-record fsync pays);
 * - encode: CPU to encode the two records of a row (JSON + CRC32), no I/O;
 * - groupCommit: the real JournalStore (recordSent + recordOutcome per row) driven by k workers,
 *   each doing sent → "request" (a macrotask) → outcome, as the applier does; per row wall time,
 *   CPU, fdatasyncs, records per fdatasync, and rows between "sent durable" and "outcome durable"
 *   at any moment (the rows a crash at that moment would resend);
 * - noSync: the same appends written with writev and never fdatasync'd (the floor without
 *   durability; a process crash loses nothing, a power cut loses what the OS had not written).
 */
import { open, rm, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { JournalStore } from "../src/checkpoint/journal-store.js";
import { encodeLine } from "../src/checkpoint/line-codec.js";
import { requestFingerprint } from "../src/job/request-id.js";
import { quantile } from "./lib/stats.js";

interface Args {
  dir: string;
  seconds: number;
  levels: number[];
}

function parseArgs(argv: string[]): Args {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const dir = get("dir");
  if (!dir) throw new Error("--dir is required");
  return { dir, seconds: Number(get("seconds") ?? "2"), levels: (get("levels") ?? "1,4,16,64,256").split(",").map(Number) };
}

const counters = { datasync: 0, writev: 0, write: 0 };

/** Counts the fdatasync/writev calls every FileHandle makes from now on (the store's included). */
async function instrumentFileHandles(dir: string): Promise<void> {
  const probe = await open(join(dir, "probe"), "w");
  const proto = Object.getPrototypeOf(probe) as FileHandle & Record<string, unknown>;
  await probe.close();
  await rm(join(dir, "probe"), { force: true });
  const wrap = (name: "datasync" | "writev" | "write"): void => {
    const original = proto[name] as (...a: unknown[]) => unknown;
    (proto as unknown as Record<string, unknown>)[name] = function (this: FileHandle, ...a: unknown[]) {
      counters[name]++;
      return original.apply(this, a);
    };
  };
  wrap("datasync");
  wrap("writev");
  wrap("write");
}

const rid = (i: number): string => `00000000-0000-5000-8000-${String(i).padStart(12, "0")}`;
// A real fingerprint, whatever format the tool uses today.
const FP = requestFingerprint(
  '{"requestId":"00000000-0000-5000-8000-000000000000","groupId":29952775505428481,"giftCardName":"x","giftCardValue":1,"startAt":"2094-04-01","endAt":"2094-06-30"}',
);
function dataOf(i: number): string {
  return `{"giftCardCode":"YI5UAVU10TSOH5R4","requestId":"${rid(i)}","groupId":29952775505428481,"giftCardName":"x","giftCardValue":1,"startAt":"2094-04-01","endAt":"2094-06-30"}`;
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function rawFsync(dir: string, seconds: number): Promise<Record<string, number>> {
  const file = join(dir, "raw.journal");
  const handle = await open(file, "a");
  const line = encodeLine({
    t: "outcome",
    rid: rid(0),
    fp: FP,
    status: "issued",
    attempts: 1,
    groupId: "29952775505428481",
    value: 1,
    at: new Date().toISOString(),
    code: "X",
    data: dataOf(0),
  });
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  while (performance.now() < deadline && latencies.length < 5000) {
    const t = performance.now();
    await handle.write(line);
    await handle.datasync();
    latencies.push(performance.now() - t);
  }
  await handle.close();
  await rm(file, { force: true });
  return {
    samples: latencies.length,
    medianMs: quantile(latencies, 0.5),
    p90Ms: quantile(latencies, 0.9),
    p99Ms: quantile(latencies, 0.99),
    /** A store that fsyncs every record alone could do at most this many rows/s (2 records a row). */
    serialRowsPerSecondCeiling: 1000 / (2 * quantile(latencies, 0.5)),
  };
}

function encodeCost(rows: number): Record<string, number> {
  const t = performance.now();
  const c = cpuMicros();
  let bytes = 0;
  for (let i = 0; i < rows; i++) {
    bytes += encodeLine({ t: "sent", rid: rid(i), fp: FP, row: i + 2, at: new Date().toISOString() }).length;
    bytes += encodeLine({
      t: "outcome",
      rid: rid(i),
      fp: FP,
      status: "issued",
      attempts: 1,
      groupId: "29952775505428481",
      value: 1,
      at: new Date().toISOString(),
      code: "YI5UAVU10TSOH5R4",
      data: dataOf(i),
      paypayRequestId: "2c26de2b-e543-491b-aab5-d699cbce3b39",
    }).length;
  }
  return { rows, usPerRow: ((performance.now() - t) * 1000) / rows, cpuUsPerRow: (cpuMicros() - c) / rows, bytesPerRow: bytes / rows };
}

/** One level of the group-commit run; the bench's checkpoint section reads these from stdout. */
export interface LevelResult {
  workers: number;
  rows: number;
  wallUsPerRow: number;
  cpuUsPerRow: number;
  rowsPerSecond: number;
  datasyncs: number;
  recordsPerDatasync: number;
  /** Rows whose sent record was durable and whose outcome record was not yet (max, mean over time). */
  maxRowsAwaitingOutcome: number;
  /** Per row: from recordOutcome called to outcome durable (what the applier waits before counting it). */
  outcomeLatencyMedianMs: number;
  outcomeLatencyP90Ms: number;
}

async function groupCommit(dir: string, workers: number, seconds: number): Promise<LevelResult> {
  const file = join(dir, `gc-${workers}.checkpoint`);
  await rm(file, { force: true });
  const store = await JournalStore.open(file, "bench");
  const before = { ...counters };
  const deadline = performance.now() + seconds * 1000;
  let next = 0;
  let awaiting = 0;
  let maxAwaiting = 0;
  const outcomeLatencies: number[] = [];
  const t0 = performance.now();
  const c0 = cpuMicros();
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const i = next++;
      await store.recordSent(rid(i), FP, i + 2);
      awaiting++;
      maxAwaiting = Math.max(maxAwaiting, awaiting);
      // The request itself: yield one macrotask, as a 0 ms answer would.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const t = performance.now();
      await store.recordOutcome({
        rid: rid(i),
        fp: FP,
        status: "issued",
        attempts: 1,
        groupId: "29952775505428481",
        value: 1,
        code: "YI5UAVU10TSOH5R4",
        data: dataOf(i),
        paypayRequestId: "2c26de2b-e543-491b-aab5-d699cbce3b39",
      });
      awaiting--;
      if (outcomeLatencies.length < 200_000) outcomeLatencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  const wallMs = performance.now() - t0;
  const cpu = cpuMicros() - c0;
  await store.close();
  await rm(file, { force: true });
  const rows = next;
  const datasyncs = counters.datasync - before.datasync;
  return {
    workers,
    rows,
    wallUsPerRow: (wallMs * 1000) / rows,
    cpuUsPerRow: cpu / rows,
    rowsPerSecond: (rows * 1000) / wallMs,
    datasyncs,
    recordsPerDatasync: (2 * rows) / Math.max(1, datasyncs),
    maxRowsAwaitingOutcome: maxAwaiting,
    outcomeLatencyMedianMs: quantile(outcomeLatencies, 0.5),
    outcomeLatencyP90Ms: quantile(outcomeLatencies, 0.9),
  };
}

/** The same two appends per row, written (writev, batched like the store) but never synced. */
async function noSync(dir: string, workers: number, seconds: number): Promise<{ workers: number; rows: number; wallUsPerRow: number; cpuUsPerRow: number }> {
  const file = join(dir, `nosync-${workers}.journal`);
  const handle = await open(file, "a");
  let queue: Buffer[] = [];
  let flushing: Promise<void> | undefined;
  const flush = async (): Promise<void> => {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      await handle.writev(batch);
    }
    flushing = undefined;
  };
  const append = (line: Buffer): Promise<void> => {
    queue.push(line);
    flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(flush);
    return flushing;
  };
  const deadline = performance.now() + seconds * 1000;
  let next = 0;
  const t0 = performance.now();
  const c0 = cpuMicros();
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const i = next++;
      await append(encodeLine({ t: "sent", rid: rid(i), fp: FP, row: i + 2, at: new Date().toISOString() }));
      await new Promise<void>((resolve) => setImmediate(resolve));
      await append(
        encodeLine({
          t: "outcome",
          rid: rid(i),
          fp: FP,
          status: "issued",
          attempts: 1,
          groupId: "29952775505428481",
          value: 1,
          at: new Date().toISOString(),
          code: "YI5UAVU10TSOH5R4",
          data: dataOf(i),
          paypayRequestId: "2c26de2b-e543-491b-aab5-d699cbce3b39",
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  const wallMs = performance.now() - t0;
  const cpu = cpuMicros() - c0;
  await handle.close();
  await rm(file, { force: true });
  return { workers, rows: next, wallUsPerRow: (wallMs * 1000) / next, cpuUsPerRow: cpu / next };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  await instrumentFileHandles(args.dir);
  const raw = await rawFsync(args.dir, Math.min(2, args.seconds));
  const encode = encodeCost(50_000);
  const group: LevelResult[] = [];
  const plain: Array<Awaited<ReturnType<typeof noSync>>> = [];
  for (const k of args.levels) {
    group.push(await groupCommit(args.dir, k, args.seconds));
    plain.push(await noSync(args.dir, k, Math.min(1, args.seconds)));
  }
  process.stdout.write(`${JSON.stringify({ raw, encode, groupCommit: group, noSync: plain })}\n`);
}

await main();
