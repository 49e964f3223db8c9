import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Simulator, SimulatorOptions } from "../src/simulator/index.js";
import { collect, runCli, startCli, tempDir, writeText, type CliResult } from "./support/cli.js";
import { campaignFlags, GROUP, readResult, recipientsCsv } from "./support/csv.js";
import { assertLedgerMatchesResult, ledgerByRequestId, sleep, waitFor } from "./support/job.js";
import { freshSchema, pgUnavailable, sql, stateUrl } from "./support/pg.js";
import { startSimulator } from "./support/simulator.js";

/**
 * Workers (issue #14): `load` records a campaign in PostgreSQL, any number of `work` processes send
 * it, and exactly-once is checked against the simulator's ledger. Real child processes, a real
 * PostgreSQL, the simulator over HTTP.
 */

const unavailable = await pgUnavailable();
if (unavailable && process.env.CI === "true") throw new Error(`CI=true: the PostgreSQL suites are mandatory, but ${unavailable}`);

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

describe("workers", { skip: unavailable ? `PostgreSQL suites skipped: ${unavailable}` : false }, () => {
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
});
