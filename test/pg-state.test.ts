import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { migrate, SCHEMA_VERSION } from "../src/checkpoint/pg/migrations.js";
import { PgStore } from "../src/checkpoint/pg/pg-store.js";
import { parsePgState } from "../src/checkpoint/pg/pg-url.js";
import { PgConnections } from "../src/checkpoint/pg/pool.js";
import { acquireRunLock } from "../src/checkpoint/pg/run-lock.js";
import type { Simulator } from "../src/simulator/index.js";
import { collect, runCli, startCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, GROUP, readResult, recipientsCsv } from "./support/csv.js";
import { assertLedgerMatchesResult, issueArgs, readAllFiles, waitFor } from "./support/job.js";
import { freshSchema, pgSuites, sql, stateUrl } from "./support/pg.js";
import { startSimulator } from "./support/simulator.js";

/**
 * Campaign state in PostgreSQL, against a real server (see support/pg.ts), through the built CLI as
 * a child process and the simulator's ledger: a full run, a rerun that sends nothing, a SIGKILL, a
 * second run, backends terminated mid-run, a newer schema, and no password anywhere.
 */

const { skip } = await pgSuites();

const PASSWORD = "pg-url-secret-7f3a";
const ENV_PASSWORD = "pg-env-secret-91c2";

interface Campaign {
  dir: string;
  sim: Simulator;
  schema: string;
  state: string;
  out: string;
  args: string[];
}

async function campaign(rows: number, options: { latencyMs?: number; campaign?: string; concurrency?: number } = {}): Promise<Campaign> {
  const dir = await tempDir("pcb-pg-");
  const sim = await startSimulator({ latencyMs: options.latencyMs ?? 0, jitterMs: options.latencyMs ? 20 : 0, seed: 7 });
  const input = await writeText(dir, "in.csv", recipientsCsv(rows));
  const schema = freshSchema();
  const state = stateUrl(schema, PASSWORD);
  const out = join(dir, "out.csv");
  const args = issueArgs(
    input,
    sim,
    ...campaignFlags(options.campaign ?? "pg-campaign"),
    "--out",
    out,
    "--state",
    state,
    "--concurrency",
    String(options.concurrency ?? 8),
    "--max-attempts",
    "100",
  );
  return { dir, sim, schema, state, out, args };
}

const env = { PGPASSWORD: ENV_PASSWORD };

function assertNoSecret(text: string, where: string): void {
  assert.ok(!text.includes(PASSWORD), `${where} holds the URL's password`);
  assert.ok(!text.includes(ENV_PASSWORD), `${where} holds PGPASSWORD`);
}

/**
 * Holds a run in flight for as long as the test wants: every create is refused (429, Retry-After 1)
 * until `sim.setRateLimit(undefined)`, and 100 attempts a row outlast the test.
 */
async function holdRun(sim: Simulator): Promise<void> {
  const throttled = sim.stats().throttledByBucket;
  sim.setRateLimit({ ratePerSecond: 0.001, burst: 1, retryAfterSeconds: 1 });
  await waitFor(() => sim.stats().throttledByBucket > throttled, 30_000, "the run to be held by the rate limit");
}

/** Starts a run and resolves once the ledger holds `codes` more codes; fails if the run ended first. */
async function startAndWaitForCodes(c: Campaign, codes: number) {
  const before = c.sim.ledger().length;
  const child = startCli(c.args, { env });
  const done = collect(child, 120_000);
  let exited = false;
  child.once("exit", () => (exited = true));
  await waitFor(() => exited || c.sim.ledger().length >= before + codes, 60_000, `${codes} codes`);
  if (exited) assert.fail(`the run ended before it had issued ${codes} codes:\n${(await done).stderr}`);
  return { child, done };
}

async function rerunExactlyOnce(c: Campaign, rows: number): Promise<void> {
  const rerun = await runCli(c.args, { env, timeoutMs: 120_000 });
  assert.equal(rerun.code, 0, rerun.stderr);
  const result = await readResult(c.out);
  assert.equal(result.length, rows);
  assert.deepEqual(new Set(result.map((r) => r.status)), new Set(["issued"]));
  assertLedgerMatchesResult(c.sim, result, rows);
  const [db] = await sql<{ issued: string }>(`SELECT count(*)::text AS issued FROM ${c.schema}.rows WHERE status = 'issued'`);
  assert.equal(db?.issued, String(rows), "the database holds every row issued");
}

describe("state in PostgreSQL", { skip }, () => {
  test("a full run, a rerun that sends nothing, status and export without the input; no password anywhere", async () => {
    const c = await campaign(40);
    const first = await runCli(c.args, { env });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /40 rows — 40 issued, 0 failed, 0 pending/);
    const result = await readResult(c.out);
    assertLedgerMatchesResult(c.sim, result, 40);

    const calls = c.sim.callsByRequestId().size;
    const rerun = await runCli(c.args, { env });
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.equal(c.sim.ledger().length, 40);
    assert.equal(
      [...c.sim.callsByRequestId().values()].reduce((a, b) => a + b, 0),
      calls,
      "the rerun sent nothing",
    );

    const status = await runCli(["status", c.state, "--campaign", "pg-campaign", "--json"], { env });
    assert.equal(status.code, 0, status.stderr);
    const json = JSON.parse(status.stdout) as { issued: number; inDoubt: number; lock: { state: string } };
    assert.deepEqual([json.issued, json.inDoubt, json.lock.state], [40, 0, "free"]);

    const exported = join(c.dir, "exported.csv");
    const exportRun = await runCli(["export", c.state, "--campaign", "pg-campaign", "--out", exported], { env, cwd: c.dir });
    assert.equal(exportRun.code, 0, exportRun.stderr);
    assert.deepEqual(await readResult(exported), result, "export rebuilds the result from the database alone");

    // Support's view: codes masked to their last 4 characters, by recipient.
    const masked = await sql<{ code_last4: string; recipient_id: string }>(
      `SELECT recipient_id, code_last4 FROM ${c.schema}.issued_codes_masked WHERE recipient_id = 'R-00001'`,
    );
    const code = result.find((r) => r.recipient_id === "R-00001")?.points_code ?? "";
    assert.deepEqual(masked, [{ recipient_id: "R-00001", code_last4: `****${code.slice(-4)}` }]);

    // The exact body sent and PayPay's data, int64 digits intact (a JS number would round the group id).
    const [stored1] = await sql<{ body: string; data: string; request_id: string }>(
      `SELECT body, data, request_id::text FROM ${c.schema}.rows WHERE recipient_id = 'R-00001'`,
    );
    assert.ok(stored1);
    assert.match(stored1.body, new RegExp(`^\\{"requestId":"${stored1.request_id}",.*"groupId":${GROUP}[,}]`));
    assert.match(stored1.data, new RegExp(`"groupId":${GROUP}[,}]`));
    assert.equal(stored1.data, result.find((r) => r.recipient_id === "R-00001")?.response_data);

    for (const run of [first, rerun, status, exportRun]) {
      assertNoSecret(run.stdout, "stdout");
      assertNoSecret(run.stderr, "stderr");
    }
    for (const file of await readAllFiles(c.dir)) assertNoSecret(file.text, file.path);
    const stored = await sql<{ text: string }>(
      `SELECT coalesce(target::text, '') || coalesce(latest_plan::text, '') || coalesce(last_complete::text, '') AS text FROM ${c.schema}.campaigns`,
    );
    for (const row of stored) assertNoSecret(row.text, "the campaigns table");
  });

  test("SIGKILL mid-run, then a rerun: every row issued exactly once", async () => {
    const c = await campaign(200, { latencyMs: 30, concurrency: 2 });
    const { child, done } = await startAndWaitForCodes(c, 30);
    const leftovers = async (): Promise<string[]> => (await readdir(tmpdir())).filter((name) => name.startsWith(`points-code-batch-${child.pid}-`));
    assert.equal((await leftovers()).length, 1, "the run keeps its input copy in a private temp folder");
    child.kill("SIGKILL");
    assert.equal((await done).signal, "SIGKILL");
    assert.ok(c.sim.ledger().length < 200, "killed mid-run");
    await rerunExactlyOnce(c, 200);
    assert.deepEqual(await leftovers(), [], "the next start removed the killed run's copy of the input");
  });

  test("a second run of the same campaign exits 5 and names the holder", async () => {
    const c = await campaign(100, { concurrency: 2 });
    const { child, done } = await startAndWaitForCodes(c, 5);
    await holdRun(c.sim);
    const second = await runCli(c.args, { env });
    assert.equal(second.code, 5, second.stderr);
    assert.match(second.stderr, new RegExp(`locked by a run in progress \\(pid ${child.pid} on `));
    assertNoSecret(second.stderr, "the refusal");
    const plan = await runCli(["plan", ...c.args.slice(1)], { env });
    assert.equal(plan.code, 5, plan.stderr);
    const status = await runCli(["status", c.state, "--campaign", "pg-campaign", "--json"], { env });
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual((JSON.parse(status.stdout) as { lock: { state: string; owner?: { pid: number } } }).lock.owner?.pid, child.pid);
    c.sim.setRateLimit(undefined);
    const first = await done;
    assert.equal(first.code, 0, first.stderr);
    assertLedgerMatchesResult(c.sim, await readResult(c.out), 100);
  });

  test("the tool's connections terminated mid-run: it stops with exit 4, counts nothing uncommitted; a rerun finishes exactly once", async () => {
    const c = await campaign(200, { concurrency: 2 });
    const { child, done } = await startAndWaitForCodes(c, 20);
    await holdRun(c.sim);
    // Every connection of this run: its pool and its lock session.
    const killed = await sql<{ ok: boolean; name: string }>(
      "SELECT pg_terminate_backend(pid) AS ok, application_name AS name FROM pg_stat_activity WHERE application_name LIKE $1",
      [`points-code-batch%pid ${child.pid}`],
    );
    assert.ok(
      killed.some((k) => k.ok && k.name.startsWith("points-code-batch lock")),
      `terminated the run's lock session among ${JSON.stringify(killed)}`,
    );
    const run = await done;
    assert.equal(run.code, 4, `exit 4 (rerun), got ${run.code}:\n${run.stderr}`);
    assertNoSecret(run.stderr, "stderr");
    // What the run reported issued, the database holds issued: nothing was counted that was not committed.
    const dbIssued = new Set((await sql<{ rid: string }>(`SELECT request_id::text AS rid FROM ${c.schema}.rows WHERE status = 'issued'`)).map((r) => r.rid));
    const reported = (await readResult(c.out).catch(() => [])).filter((r) => r.status === "issued");
    for (const row of reported) assert.ok(dbIssued.has(row.request_id ?? ""), `${row.recipient_id} reported issued but not committed`);
    c.sim.setRateLimit(undefined);
    await rerunExactlyOnce(c, 200);
  });

  test("the lock session alone terminated: the run stops taking rows at once, exits 4; a rerun finishes exactly once", async () => {
    const c = await campaign(200, { concurrency: 2 });
    const { child, done } = await startAndWaitForCodes(c, 10);
    await holdRun(c.sim);
    const killed = await sql<{ ok: boolean }>("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1", [
      `points-code-batch lock pid ${child.pid}`,
    ]);
    assert.deepEqual(killed, [{ ok: true }], "terminated the run's lock session");
    const run = await done;
    assert.equal(run.code, 4, `exit 4 (rerun), got ${run.code}:\n${run.stderr}`);
    assert.match(run.stderr, /lost the run's lock connection/);
    c.sim.setRateLimit(undefined);
    await rerunExactlyOnce(c, 200);
  });

  test("a database whose schema is newer than this release is refused (exit 2), nothing sent", async () => {
    const c = await campaign(5);
    await sql(`CREATE SCHEMA ${c.schema}`);
    await sql(`CREATE TABLE ${c.schema}.schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    await sql(`INSERT INTO ${c.schema}.schema_version (version) VALUES ($1)`, [SCHEMA_VERSION + 1]);
    const run = await runCli(c.args, { env });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, new RegExp(`schema ${c.schema} is at version ${SCHEMA_VERSION + 1}, newer than this release understands`));
    assert.equal(c.sim.ledger().length, 0);
  });

  test("two processes migrating at once: both succeed, each migration applied once", async () => {
    const schema = freshSchema();
    const a = new PgConnections(parsePgState(stateUrl(schema), {}));
    const b = new PgConnections(parsePgState(stateUrl(schema), {}));
    try {
      await Promise.all([migrate(a), migrate(b), migrate(a)]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    const versions = await sql<{ version: number }>(`SELECT version FROM ${schema}.schema_version ORDER BY version`);
    assert.deepEqual(
      versions.map((v) => v.version),
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
  });

  test("outcomes read back with their states, in order, after a reopen (2,500 rows)", async () => {
    const schema = freshSchema();
    const connections = new PgConnections(parsePgState(stateUrl(schema), {}));
    try {
      await migrate(connections);
      const lock = await acquireRunLock(connections, "windows");
      try {
        const store = await PgStore.open(connections, "windows", { generation: lock.generation, create: true });
        const rids = Array.from({ length: 2500 }, (_, i) => `00000000-0000-5000-8000-${String(i).padStart(12, "0")}`);
        // All at once: group commit folds them into a few transactions.
        await Promise.all(rids.map((rid, i) => store.recordSent(rid, `fp${i}`, i + 2)));
        await Promise.all(
          rids.map((rid, i) =>
            store.recordOutcome({ rid, fp: `fp${i}`, status: "issued", attempts: 1, groupId: "29952775505428481", value: i, code: `C${i}` }),
          ),
        );
        await store.close();
        const reopened = await PgStore.open(connections, "windows", {});
        const codes: string[] = [];
        await reopened.prefetch(rids);
        for (const rid of rids) {
          const state = reopened.get(rid);
          assert.ok(state);
          const outcome = await reopened.readOutcome(state);
          assert.equal(outcome?.rid, rid);
          codes.push(outcome.code ?? "");
        }
        assert.deepEqual(
          codes,
          rids.map((_, i) => `C${i}`),
        );
      } finally {
        await lock.release();
      }
    } finally {
      await connections.close();
    }
  });

  test("an outcome written after its chunk was read reads back as written, not as read with the chunk", async () => {
    const schema = freshSchema();
    const connections = new PgConnections(parsePgState(stateUrl(schema), {}));
    try {
      await migrate(connections);
      const lock = await acquireRunLock(connections, "stale");
      try {
        const store = await PgStore.open(connections, "stale", { generation: lock.generation, create: true });
        const rid = "00000000-0000-5000-8000-000000000001";
        await store.recordSent(rid, "fp1", 2);
        await store.recordOutcome({ rid, fp: "fp1", status: "pending", attempts: 1, groupId: "1", value: 100, errorCode: "TIMEOUT", unknown: true });
        await store.prefetch([rid]);
        const before = store.get(rid);
        assert.ok(before);
        assert.equal((await store.readOutcome(before))?.errorCode, "TIMEOUT");
        await store.recordOutcome({ rid, fp: "fp1", status: "issued", attempts: 1, groupId: "1", value: 100, code: "CODE0001" });
        const after = store.get(rid);
        assert.ok(after);
        const outcome = await store.readOutcome(after);
        assert.deepEqual([outcome?.status, outcome?.code, outcome?.errorCode], ["issued", "CODE0001", undefined]);
        await store.close();
      } finally {
        await lock.release();
      }
    } finally {
      await connections.close();
    }
  });

  test("the finished-run record is cleared by the first write after it, by this store or a reopened one; a quoted campaign name fences", async () => {
    const schema = freshSchema();
    // Quotes and a backslash: the fence statement quotes the name itself (transactionFrom).
    const name = `it's a \\ "campaign"`;
    const connections = new PgConnections(parsePgState(stateUrl(schema), {}));
    const complete = {
      inputDigest: "i",
      settingsDigest: "s",
      resultDigest: "r",
      counts: { rows: 0, issued: 0, failed: 0, pending: 0, changed: 0, accepted: 0, issuedAmountByGroup: {}, failedByCode: {} },
    };
    const lastComplete = async (): Promise<boolean> =>
      (await sql<{ set: boolean }>(`SELECT last_complete IS NOT NULL AS set FROM ${schema}.campaigns WHERE campaign = $1`, [name]))[0]?.set === true;
    try {
      await migrate(connections);
      const lock = await acquireRunLock(connections, name);
      try {
        const store = await PgStore.open(connections, name, { generation: lock.generation, create: true });
        await store.recordSent("00000000-0000-5000-8000-000000000001", "fp1", 2);
        await store.recordComplete(complete);
        assert.equal(await lastComplete(), true);
        await store.recordSent("00000000-0000-5000-8000-000000000002", "fp2", 3);
        assert.equal(await lastComplete(), false, "cleared by the same store's next write");
        await store.recordSent("00000000-0000-5000-8000-000000000003", "fp3", 4);
        await store.recordComplete(complete);
        await store.close();
        const reopened = await PgStore.open(connections, name, { generation: lock.generation });
        assert.equal(await lastComplete(), true, "opening writes nothing");
        await reopened.recordOutcome({
          rid: "00000000-0000-5000-8000-000000000001",
          fp: "fp1",
          status: "issued",
          attempts: 1,
          groupId: "1",
          value: 1,
          code: "C1",
        });
        assert.equal(await lastComplete(), false, "cleared by a reopened store's first write");
        await sql(`UPDATE ${schema}.campaigns SET generation = generation + 1 WHERE campaign = $1`, [name]);
        await assert.rejects(
          reopened.recordSent("00000000-0000-5000-8000-000000000004", "fp4", 5),
          (error: Error & { code?: string }) => error.code === "STATE_FENCED",
        );
        await reopened.close().catch(() => undefined);
      } finally {
        await lock.release();
      }
    } finally {
      await connections.close();
    }
  });

  test("fencing: once another run has taken the campaign over, a write of the old run commits nothing", async () => {
    const schema = freshSchema();
    const connections = new PgConnections(parsePgState(stateUrl(schema), {}));
    try {
      await migrate(connections);
      const lock = await acquireRunLock(connections, "fenced");
      try {
        const store = await PgStore.open(connections, "fenced", { generation: lock.generation, create: true });
        const rid = "00000000-0000-5000-8000-000000000001";
        await store.recordSent(rid, "fp1", 2);
        // What a run that took the lock after this one lost it does first: bump the generation.
        await sql(`UPDATE ${schema}.campaigns SET generation = generation + 1 WHERE campaign = 'fenced'`);
        await assert.rejects(
          store.recordOutcome({ rid, fp: "fp1", status: "issued", attempts: 1, groupId: "1", value: 100, code: "CODE1234" }),
          (error: Error & { code?: string }) => error.code === "STATE_FENCED",
        );
        const rows = await sql<{ status: string; code: string | null }>(`SELECT status, code FROM ${schema}.rows`);
        assert.deepEqual(rows, [{ status: "sent", code: null }]);
        await store.close();
      } finally {
        await lock.release();
      }
    } finally {
      await connections.close();
    }
  });
});
