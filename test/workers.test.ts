import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Simulator, SimulatorOptions } from "../src/simulator/index.js";
import { collect, runCli, startCli, tempDir, writeText, type CliResult } from "./support/cli.js";
import { campaignFlags, GROUP, readResult, recipientsCsv } from "./support/csv.js";
import { assertLedgerMatchesResult, sleep, waitFor } from "./support/job.js";
import { freshSchema, pgSuites, sql, stateUrl } from "./support/pg.js";
import { startSimulator } from "./support/simulator.js";

/**
 * Workers (issue #14): `load` records a campaign in PostgreSQL, any number of `work` processes send
 * it, and exactly-once is checked against the simulator's ledger. Real child processes, a real
 * PostgreSQL, the simulator over HTTP.
 */

const { skip } = await pgSuites();

const CAMPAIGN = "workers-campaign";

interface World {
  dir: string;
  sim: Simulator;
  schema: string;
  state: string;
  input: string;
  out: string;
}

async function world(rows: number, sim: SimulatorOptions = {}): Promise<World> {
  const dir = await tempDir("pcb-workers-");
  const simulator = await startSimulator({ seed: 11, ...sim });
  const input = await writeText(dir, "in.csv", recipientsCsv(rows));
  const schema = freshSchema();
  return { dir, sim: simulator, schema, state: stateUrl(schema), input, out: join(dir, "out.csv") };
}

function loadArgs(w: World, ...extra: string[]): string[] {
  return ["load", w.input, "--base-url", w.sim.baseUrl, ...campaignFlags(CAMPAIGN), "--state", w.state, "--out", w.out, ...extra];
}

function workArgs(w: World, ...extra: string[]): string[] {
  return ["work", "--state", w.state, "--campaign", CAMPAIGN, "--base-url", w.sim.baseUrl, ...extra];
}

async function exportResult(w: World) {
  const exported = join(w.dir, "exported.csv");
  const run = await runCli(["export", w.state, "--campaign", CAMPAIGN, "--out", exported]);
  assert.equal(run.code, 0, run.stderr);
  return readResult(exported);
}

async function load(w: World, ...extra: string[]): Promise<CliResult> {
  const run = await runCli(loadArgs(w, ...extra));
  assert.equal(run.code, 0, run.stderr);
  return run;
}

describe("workers", { skip }, () => {
  test("load sends nothing; three workers share the campaign; every row issued exactly once", async () => {
    const w = await world(300, { latencyMs: 5 });
    const loaded = await load(w);
    assert.match(loaded.stdout, /300 rows — 300 to send/);
    assert.equal(w.sim.stats().createRequests, 0, "load sent nothing");
    const [todo] = await sql<{ n: string }>(`SELECT count(*)::text AS n FROM ${w.schema}.rows WHERE todo`);
    assert.equal(todo?.n, "300");

    const runs = await Promise.all([1, 2, 3].map(() => runCli(workArgs(w, "--concurrency", "4"), { timeoutMs: 120_000 })));
    for (const run of runs) {
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /campaign: 300 rows — 300 issued, 0 failed, 0 pending/);
    }
    const claimed = runs.map((r) => Number(/claimed (\d+) row/.exec(r.stdout)?.[1]));
    assert.equal(
      claimed.reduce((a, b) => a + b, 0),
      300,
      `every row claimed once: ${claimed.join(", ")}`,
    );
    assertLedgerMatchesResult(w.sim, await exportResult(w), 300);
    assert.equal(w.sim.stats().createRequests, 300, "no row was sent twice");
    const [left] = await sql<{ n: string }>(`SELECT count(*)::text AS n FROM ${w.schema}.rows WHERE todo OR claim_token IS NOT NULL`);
    assert.equal(left?.n, "0");
  });

  test("work refuses without a recorded plan, against another target, and load refuses a checkpoint file", async () => {
    const w = await world(5);
    const before = await runCli(workArgs(w));
    assert.equal(before.code, 2, before.stderr);
    assert.match(before.stderr, /no plan recorded for campaign workers-campaign: run `load`/);
    await load(w);
    const other = await startSimulator({ seed: 3 });
    const elsewhere = await runCli(["work", "--state", w.state, "--campaign", CAMPAIGN, "--base-url", other.baseUrl]);
    assert.equal(elsewhere.code, 2, elsewhere.stderr);
    assert.equal(other.stats().createRequests + w.sim.stats().createRequests, 0, "nothing sent");
    const file = await runCli(["load", w.input, "--base-url", w.sim.baseUrl, ...campaignFlags(CAMPAIGN), "--state", join(w.dir, "x.checkpoint")]);
    assert.equal(file.code, 2, file.stderr);
    assert.match(file.stderr, /Expected --state postgresql/);
  });

  test("status shows live workers and rows by state while they work; a clean stop gives the claims back", async () => {
    const w = await world(200, { latencyMs: 5 });
    await load(w);
    // Held: every create is refused (429, Retry-After 1) until the limit is lifted.
    w.sim.setRateLimit({ ratePerSecond: 0.001, burst: 1, retryAfterSeconds: 1 });
    const workers = [
      startCli(workArgs(w, "--concurrency", "2", "--max-attempts", "100")),
      startCli(workArgs(w, "--concurrency", "2", "--max-attempts", "100")),
    ];
    const done = workers.map((c) => collect(c, 120_000));
    let status: { workers?: { live: Array<{ pid: number; rowsClaimed: number; host: string }>; rows: { claimed: number; toSend: number } } } = {};
    await waitFor(() => w.sim.stats().throttledByBucket >= 4, 30_000, "both workers to be held");
    for (let i = 0; i < 50; i++) {
      const run = await runCli(["status", w.state, "--campaign", CAMPAIGN, "--json"]);
      assert.equal(run.code, 0, run.stderr);
      status = JSON.parse(run.stdout);
      if (status.workers?.live.length === 2 && status.workers.live.every((l) => l.rowsClaimed > 0)) break;
      await sleep(200);
    }
    assert.deepEqual(status.workers?.live.map((l) => l.pid).sort(), workers.map((c) => c.pid).sort(), "both workers live, by pid");
    assert.ok(status.workers && status.workers.rows.claimed > 0 && status.workers.rows.toSend > 0, JSON.stringify(status.workers?.rows));
    const text = await runCli(["status", w.state, "--campaign", CAMPAIGN]);
    assert.match(text.stdout, /live workers: 2\n {4}pid \d+ on .+: \d+ row\(s\) claimed, \d+ settled, last heartbeat /);
    assert.match(text.stdout, /lock: free/, "workers share the campaign: no run holds it");
    // A load now would re-plan under live workers: refused, exit 5.
    const refused = await runCli(loadArgs(w));
    assert.equal(refused.code, 5, refused.stderr);

    for (const c of workers) c.kill("SIGTERM");
    const stopped = await Promise.all(done);
    for (const run of stopped) assert.equal(run.code, 143, run.stderr);
    const [held] = await sql<{ n: string }>(`SELECT count(*)::text AS n FROM ${w.schema}.rows WHERE claim_token IS NOT NULL`);
    assert.equal(held?.n, "0", "a clean stop gives back every claim");
    w.sim.setRateLimit(undefined);
    const finish = await runCli(workArgs(w, "--concurrency", "8"), { timeoutMs: 120_000 });
    assert.equal(finish.code, 0, finish.stderr);
    assertLedgerMatchesResult(w.sim, await exportResult(w), 200);
  });

  test("BUDGET_NOT_ENOUGH halts the group for every worker; the next load clears it and work finishes exactly once", async () => {
    const w = await world(300, { latencyMs: 20 });
    await load(w);
    // Budget drops behind the tool's back after the plan: 40 codes of 100..149 yen fit, not 300.
    w.sim.setBudget(GROUP, 5000);
    const runs = await Promise.all([1, 2, 3].map(() => runCli(workArgs(w, "--concurrency", "4"), { timeoutMs: 120_000 })));
    for (const run of runs) {
      assert.equal(run.code, 4, run.stderr);
      assert.match(run.stdout, new RegExp(`group ${GROUP}: halted \\(no budget left\\)`));
    }
    const issued = w.sim.ledger().length;
    assert.ok(issued > 0 && issued < 300, `issued ${issued}`);
    const [halted] = await sql<{ n: string }>(`SELECT count(*)::text AS n FROM ${w.schema}.group_halts`);
    assert.equal(halted?.n, "1");
    const status = await runCli(["status", w.state, "--campaign", CAMPAIGN]);
    assert.match(status.stdout, new RegExp(`group ${GROUP}: halted`));
    // Refused requests after the halt: at most the ones already in flight when it was recorded.
    const refusedBudget = w.sim.stats().rejectedByCode.BUDGET_NOT_ENOUGH ?? 0;
    assert.ok(refusedBudget <= 3 * 4 * 3, `BUDGET_NOT_ENOUGH answers: ${refusedBudget}`);

    w.sim.setBudget(GROUP, 1_000_000);
    await load(w);
    const finish = await runCli(workArgs(w, "--concurrency", "8"), { timeoutMs: 120_000 });
    assert.equal(finish.code, 0, finish.stderr);
    assertLedgerMatchesResult(w.sim, await exportResult(w), 300);
  });

  test("a fatal authentication answer in one worker stops every worker of the campaign", async () => {
    const w = await world(300, { latencyMs: 100 });
    await load(w);
    const good = startCli(workArgs(w, "--concurrency", "2"));
    const goodDone = collect(good, 120_000);
    await waitFor(() => w.sim.ledger().length >= 6, 60_000, "the first worker to issue codes");
    const bad = await runCli(workArgs(w), {
      env: { PAYPAY_API_KEY: "local-api-key", PAYPAY_API_SECRET: "a-wrong-secret", PAYPAY_MERCHANT_ID: "local-merchant" },
    });
    assert.equal(bad.code, 4, bad.stderr);
    assert.match(bad.stdout, /stopped: PayPay refused the run: HTTP 401/);
    const first = await goodDone;
    assert.equal(first.code, 4, first.stderr);
    assert.match(first.stdout, /stopped: PayPay refused the run: HTTP 401/);
    const issued = w.sim.ledger().length;
    assert.ok(issued < 300, `the good worker stopped early (${issued} issued)`);
    const result = await exportResult(w);
    assertLedgerMatchesResult(w.sim, result, issued);
    assert.equal(result.filter((r) => r.status === "issued").length, issued);

    await load(w);
    const finish = await runCli(workArgs(w, "--concurrency", "8"), { timeoutMs: 120_000 });
    assert.equal(finish.code, 0, finish.stderr);
    assertLedgerMatchesResult(w.sim, await exportResult(w), 300);
  });
});
