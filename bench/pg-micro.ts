/**
 * Microbenchmark of the PostgreSQL store, run as its own process (bundled by the bench):
 *
 *   node pg-micro.mjs --url postgresql://… --schema NAME [--seconds 2] [--levels 1,4,16,64,256] [--load-csv FILE]
 *
 * Creates the schema, measures, and drops it. Prints one JSON object on stdout:
 * - groupCommit: the real PgStore (recordSent + recordOutcome per row) driven by k workers, each
 *   doing sent → "request" (a macrotask) → outcome, as the applier does: rows/s, wall and CPU per
 *   row, transactions per row (group commit), outcome latency;
 * - load (with --load-csv): the plan's input loaded into the rows table as `issue` loads it
 *   (pg-backend keepPlanInput: read the snapshot, COPY, upsert), timed end to end.
 */
import { join } from "node:path";
import { migrate, quoteIdent } from "../src/checkpoint/pg/migrations.js";
import { openPgBackend } from "../src/checkpoint/pg/pg-backend.js";
import { PgStore } from "../src/checkpoint/pg/pg-store.js";
import { parsePgState } from "../src/checkpoint/pg/pg-url.js";
import { PgConnections } from "../src/checkpoint/pg/pool.js";
import { acquireRunLock } from "../src/checkpoint/pg/run-lock.js";
import { parseColumnMap } from "../src/job/columns.js";
import { takeSnapshot } from "../src/job/input-snapshot.js";
import type { ResolvedInputSpec } from "../src/job/input-rows.js";
import { requestFingerprint } from "../src/job/request-id.js";
import { BENCH_REQUEST } from "./lib/bench-request.js";
import { quantile } from "./lib/stats.js";

interface Args {
  url: string;
  schema: string;
  seconds: number;
  levels: number[];
  loadCsv?: string;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const url = get("url");
  const schema = get("schema");
  if (!url || !schema) throw new Error("--url and --schema are required");
  return {
    url,
    schema,
    seconds: Number(get("seconds") ?? "2"),
    levels: (get("levels") ?? "1,4,16,64,256").split(",").map(Number),
    loadCsv: get("load-csv"),
  };
}

function stateUrl(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set("schema", schema);
  return u.href;
}

const rid = (level: number, i: number): string => `00000000-0000-5000-${String(8000 + level).padStart(4, "0")}-${String(i).padStart(12, "0")}`;
const BODY = `{"requestId":"00000000-0000-5000-8000-000000000000","groupId":${BENCH_REQUEST.groupId},"giftCardName":"x","giftCardValue":1,"startAt":"2094-04-01","endAt":"2094-06-30"}`;
const FP = requestFingerprint(BODY);
const dataOf = (id: string): string =>
  `{"giftCardCode":"YI5UAVU10TSOH5R4","requestId":"${id}","groupId":${BENCH_REQUEST.groupId},"giftCardName":"x","giftCardValue":1,"startAt":"2094-04-01","endAt":"2094-06-30"}`;

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** One level of the group-commit run; the bench's pg section reads these from stdout. */
export interface PgLevelResult {
  workers: number;
  rows: number;
  wallUsPerRow: number;
  cpuUsPerRow: number;
  rowsPerSecond: number;
  transactions: number;
  /** sent + outcome operations per committed transaction. */
  opsPerTransaction: number;
  outcomeLatencyMedianMs: number;
  outcomeLatencyP90Ms: number;
}

async function groupCommit(connections: PgConnections, workers: number, seconds: number): Promise<PgLevelResult> {
  const campaign = `gc-${workers}`;
  const lock = await acquireRunLock(connections, campaign);
  let transactions = 0;
  const withClient = connections.withClient.bind(connections);
  // Counts the store's transactions without changing them: each commit, one statement or a
  // BEGIN … COMMIT, holds one pooled client (transaction() and transactionFrom() take theirs here).
  connections.withClient = (work) => {
    transactions++;
    return withClient(work);
  };
  try {
    const store = await PgStore.open(connections, campaign, { generation: lock.generation, create: true });
    const before = transactions;
    const deadline = performance.now() + seconds * 1000;
    let next = 0;
    const outcomeLatencies: number[] = [];
    const t0 = performance.now();
    const c0 = cpuMicros();
    const worker = async (): Promise<void> => {
      while (performance.now() < deadline) {
        const i = next++;
        const id = rid(workers, i);
        await store.recordSent(id, FP, i + 2, BODY);
        await new Promise<void>((resolve) => setImmediate(resolve));
        const t = performance.now();
        await store.recordOutcome({
          rid: id,
          fp: FP,
          status: "issued",
          attempts: 1,
          groupId: BENCH_REQUEST.groupId,
          value: 1,
          code: "YI5UAVU10TSOH5R4",
          data: dataOf(id),
          paypayRequestId: "2c26de2b-e543-491b-aab5-d699cbce3b39",
        });
        if (outcomeLatencies.length < 200_000) outcomeLatencies.push(performance.now() - t);
      }
    };
    await Promise.all(Array.from({ length: workers }, worker));
    const wallMs = performance.now() - t0;
    const cpu = cpuMicros() - c0;
    await store.close();
    const rows = next;
    const txs = transactions - before;
    return {
      workers,
      rows,
      wallUsPerRow: (wallMs * 1000) / rows,
      cpuUsPerRow: cpu / rows,
      rowsPerSecond: (rows * 1000) / wallMs,
      transactions: txs,
      opsPerTransaction: (2 * rows) / Math.max(1, txs),
      outcomeLatencyMedianMs: quantile(outcomeLatencies, 0.5),
      outcomeLatencyP90Ms: quantile(outcomeLatencies, 0.9),
    };
  } finally {
    connections.withClient = withClient;
    await lock.release();
  }
}

/** The bench CSV (recipient_id,email) loaded as `issue` loads a plan's input, through the same backend. */
async function load(url: string, csv: string, dir: string): Promise<{ rows: number; seconds: number; cpuSeconds: number; rowsPerSecond: number }> {
  const campaign = "load";
  const backend = await openPgBackend(url, campaign, process.env);
  try {
    const lock = await backend.lock();
    try {
      const store = await backend.create(campaign);
      const snapshot = await takeSnapshot(csv, "utf8", join(dir, "load"));
      const input: ResolvedInputSpec = {
        file: csv,
        encoding: snapshot.encoding,
        snapshot: snapshot.path,
        campaign,
        columns: parseColumnMap([]),
        defaults: {
          amount: BENCH_REQUEST.amount,
          giftCardName: BENCH_REQUEST.giftCardName,
          groupId: BENCH_REQUEST.groupId,
          startAt: BENCH_REQUEST.startAt,
          endAt: BENCH_REQUEST.endAt,
        },
      };
      const t0 = performance.now();
      const c0 = cpuMicros();
      await backend.keepPlanInput(store, snapshot, input);
      const seconds = (performance.now() - t0) / 1000;
      const cpuSeconds = (cpuMicros() - c0) / 1e6;
      await store.close();
      return { rows: 0, seconds, cpuSeconds, rowsPerSecond: 0 };
    } finally {
      await lock.release();
    }
  } finally {
    await backend.close();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const url = stateUrl(args.url, args.schema);
  const connections = new PgConnections(parsePgState(url, process.env));
  const s = quoteIdent(args.schema);
  try {
    await migrate(connections);
    const group: PgLevelResult[] = [];
    for (const k of args.levels) group.push(await groupCommit(connections, k, args.seconds));
    let loaded: Awaited<ReturnType<typeof load>> | undefined;
    if (args.loadCsv) {
      loaded = await load(url, args.loadCsv, join(args.loadCsv, ".."));
      const { rows } = await connections.withClient((client) =>
        client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${s}.rows WHERE campaign = 'load' AND cells IS NOT NULL`),
      );
      loaded.rows = Number(rows[0]?.n ?? 0);
      loaded.rowsPerSecond = loaded.rows / loaded.seconds;
    }
    process.stdout.write(`${JSON.stringify({ groupCommit: group, load: loaded })}\n`);
  } finally {
    await connections.withClient((client) => client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`)).catch(() => undefined);
    await connections.close();
  }
}

await main();
