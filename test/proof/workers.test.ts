import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { FaultRates, Simulator, SimulatorOptions } from "../../src/simulator/index.js";
import { collect, runCli, startCli, tempDir, writeText, type CliResult } from "../support/cli.js";
import { campaignFlags, readResult, recipientsCsv, type ResultRow } from "../support/csv.js";
import { assertLedgerMatchesResult, ledgerByRequestId, sleep, waitFor } from "../support/job.js";
import { freshSchema, pgSuites, sql, stateUrl } from "../support/pg.js";
import { startSimulator } from "../support/simulator.js";
import { intBetween, PROOF_SEED, rngFor } from "./support/seed.js";

/**
 * Proofs for workers (issue #14), each checked against the simulator's ledger: every row of the
 * campaign issued exactly once (one ledger entry, charged once, under the row's requestId, with the
 * row's amount), every code the database and the exported result hold is the ledger's, and no
 * request the simulator saw belongs to another row.
 *   - 4 workers on 5,000 rows with faults on, at least 20 seeded SIGKILLs of random workers, each
 *     worker restarted the way a Kubernetes Job restarts a failed pod;
 *   - a worker frozen (SIGSTOP) past its lease while another takes its rows over, then resumed;
 *   - `--rate 40` shared by 4 workers, measured on the simulator's ledger timestamps.
 */

const { skip } = await pgSuites();

const CAMPAIGN = "workers-proof";

interface World {
  dir: string;
  sim: Simulator;
  schema: string;
  state: string;
  input: string;
  rows: number;
}

async function world(rows: number, sim: SimulatorOptions): Promise<World> {
  const dir = await tempDir("pcb-workers-proof-");
  const simulator = await startSimulator({ seed: PROOF_SEED % 100_000, ...sim });
  const input = await writeText(dir, "in.csv", recipientsCsv(rows));
  const schema = freshSchema();
  return { dir, sim: simulator, schema, state: stateUrl(schema), input, rows };
}

async function load(w: World): Promise<void> {
  const run = await runCli(["load", w.input, "--base-url", w.sim.baseUrl, ...campaignFlags(CAMPAIGN), "--state", w.state, "--out", join(w.dir, "out.csv")]);
  assert.equal(run.code, 0, run.stderr);
}

function startWorker(w: World, ...extra: string[]): ChildProcess {
  return startCli(["work", "--state", w.state, "--campaign", CAMPAIGN, "--base-url", w.sim.baseUrl, "--log-level", "error", ...extra]);
}

/** Exactly once, from the ledger, the exported result and the database. */
async function assertExactlyOnce(w: World): Promise<ResultRow[]> {
  const exported = join(w.dir, "exported.csv");
  const run = await runCli(["export", w.state, "--campaign", CAMPAIGN, "--out", exported]);
  assert.equal(run.code, 0, run.stderr);
  const result = await readResult(exported);
  assert.equal(result.length, w.rows);
  const notIssued = result.filter((r) => r.status !== "issued");
  assert.deepEqual(
    notIssued.map((r) => `${r.recipient_id}: ${r.status} ${r.error_code}`),
    [],
    "every row issued",
  );
  const ledger = assertLedgerMatchesResult(w.sim, result, w.rows);
  for (const row of result) assert.equal(String(ledger.get(row.request_id ?? "")?.giftCardValue), row.amount, `amount charged for ${row.recipient_id}`);
  const db = await sql<{ rid: string; code: string | null; status: string; todo: boolean; claim_token: string | null }>(
    `SELECT request_id::text AS rid, code, status, todo, claim_token::text FROM ${w.schema}.rows`,
  );
  assert.equal(db.length, w.rows);
  for (const r of db) {
    assert.equal(r.status, "issued", `row ${r.rid} in the database`);
    assert.equal(r.code, ledger.get(r.rid)?.code, `code of ${r.rid} in the database`);
    assert.equal(r.todo || r.claim_token !== null, false, `row ${r.rid} still marked or claimed`);
  }
  return result;
}

describe("workers: proofs against the simulator's ledger", { skip }, () => {
  test("4 workers, 5,000 rows, faults on, at least 20 seeded SIGKILLs, each worker restarted like a Job's pod", async () => {
    const faults: FaultRates = {
      rateLimit: 0.01,
      maintenance: 0.005,
      error500BeforeCommit: 0.01,
      error500AfterCommit: 0.01,
      resetBeforeCommit: 0.005,
      resetAfterCommit: 0.01,
      truncateAfterCommit: 0.005,
    };
    const w = await world(5000, { latencyMs: 5, jitterMs: 10, faults });
    await load(w);
    const random = rngFor("workers-sigkill");
    const KILLS = 20;
    let kills = 0;
    const exits: CliResult[] = [];
    const live = new Set<ChildProcess>();
    // A Job's pod: restarted whenever it fails (a kill included) until one run exits 0.
    const slot = async (): Promise<void> => {
      for (let attempt = 0; attempt < 200; attempt++) {
        const child = startWorker(w, "--concurrency", "8", "--lease", "1000", "--max-attempts", "100", "--timeout", "5000");
        live.add(child);
        const done = await collect(child, 300_000);
        live.delete(child);
        exits.push(done);
        if (done.code === 0) return;
        assert.equal(done.signal, "SIGKILL", `a worker failed without being killed: exit ${done.code}\n${done.stderr}`);
      }
      assert.fail("a worker slot never finished");
    };
    const slots = [slot(), slot(), slot(), slot()];
    // Kills at seeded moments, once rows are flowing, among the workers live at that moment.
    while (kills < KILLS) {
      await sleep(intBetween(random, 150, 600));
      const issued = w.sim.ledger().length;
      if (issued >= w.rows) break;
      const victims = [...live].filter((c) => c.exitCode === null && c.signalCode === null);
      const victim = victims[intBetween(random, 0, victims.length - 1)];
      if (issued < 50 || victim === undefined) continue;
      victim.kill("SIGKILL");
      kills++;
    }
    await Promise.all(slots);
    assert.ok(kills >= KILLS, `only ${kills} kills landed before the campaign finished (seed ${PROOF_SEED})`);
    const faultsInjected = Object.values(w.sim.stats().faultsInjected).reduce((a, b) => a + b, 0);
    assert.ok(faultsInjected > 100, `faults injected: ${faultsInjected}`);
    await assertExactlyOnce(w);
    const [resent] = await sql<{ n: string }>(`SELECT count(*)::text AS n FROM ${w.schema}.rows WHERE attempts > 1`);
    assert.ok(Number(resent?.n) > 0, "some rows were resent (retried or taken over)");
    console.log(
      `# ${w.rows} rows, ${kills} SIGKILLs, ${exits.length} worker runs, ${faultsInjected} faults injected, ${resent?.n} rows sent more than once, ${w.sim.stats().createRequests} create requests (seed ${PROOF_SEED})`,
    );
  });

  test("a worker frozen past its lease: another takes its rows over; resumed, its late writes are fenced", async () => {
    const w = await world(240, { latencyMs: 150, jitterMs: 20 });
    await load(w);
    const frozen = startWorker(w, "--concurrency", "8", "--lease", "1500");
    const frozenDone = collect(frozen, 180_000);
    await waitFor(() => w.sim.ledger().length >= 20, 60_000, "the first worker to issue 20 codes");
    frozen.kill("SIGSTOP");
    const frozenAt = Date.now();
    // Rows it holds (in flight, or claimed and waiting) carry its token.
    const held = await sql<{ rid: string }>(
      `SELECT r.request_id::text AS rid FROM ${w.schema}.rows r JOIN ${w.schema}.workers k ON k.token = r.claim_token WHERE k.pid = $1`,
      [frozen.pid],
    );
    assert.ok(held.length > 0, "the frozen worker holds rows");
    const other = await runCli(["work", "--state", w.state, "--campaign", CAMPAIGN, "--base-url", w.sim.baseUrl, "--concurrency", "8"], {
      timeoutMs: 120_000,
    });
    assert.equal(other.code, 0, other.stderr);
    assert.ok(Date.now() - frozenAt >= 1500, "the other worker finished only after the frozen one's lease ran out");
    const [issued] = await sql<{ n: string }>(`SELECT count(*)::text AS n FROM ${w.schema}.rows WHERE status = 'issued'`);
    assert.equal(issued?.n, String(w.rows), "the other worker finished the campaign, the frozen worker's rows included");
    const codesBefore = new Map(
      (await sql<{ rid: string; code: string }>(`SELECT request_id::text AS rid, code FROM ${w.schema}.rows`)).map((r) => [r.rid, r.code]),
    );

    frozen.kill("SIGCONT");
    const resumed = await frozenDone;
    assert.equal(resumed.code, 0, resumed.stderr);
    const lost = Number(/; (\d+) taken over by another worker/.exec(resumed.stdout)?.[1] ?? 0);
    assert.ok(lost > 0, `the resumed worker's late outcomes were refused by the fence:\n${resumed.stdout}`);
    // Each row counted by exactly one worker: a late outcome that got through would be counted twice.
    const issuedBy = (run: CliResult): number => Number(/ — (\d+) issued,/.exec(run.stdout)?.[1]);
    assert.equal(issuedBy(other) + issuedBy(resumed), w.rows, `issued as the workers counted them:\n${other.stdout}\n${resumed.stdout}`);
    const codesAfter = new Map(
      (await sql<{ rid: string; code: string }>(`SELECT request_id::text AS rid, code FROM ${w.schema}.rows`)).map((r) => [r.rid, r.code]),
    );
    assert.deepEqual(codesAfter, codesBefore, "the resumed worker overwrote nothing");
    const calls = w.sim.callsByRequestId();
    assert.ok(
      held.some((h) => (calls.get(h.rid) ?? 0) >= 2),
      "some of the frozen worker's rows were sent again by the other worker, with the same requestId",
    );
    await assertExactlyOnce(w);
  });

  test("--rate 40 shared by 4 workers: the ledger's rate stays within ±5 %", async () => {
    const w = await world(800, { latencyMs: 5 });
    await load(w);
    const runs = await Promise.all([1, 2, 3, 4].map(() => collect(startWorker(w, "--concurrency", "8", "--rate", "40"), 120_000)));
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    await assertExactlyOnce(w);
    // Steady state: from the 40th code to the 40th from last (the start and the tail are ramps).
    const times = w.sim
      .ledger()
      .map((e) => Date.parse(e.createdAt))
      .sort((a, b) => a - b);
    const from = 40;
    const to = times.length - 41;
    const seconds = ((times[to] ?? 0) - (times[from] ?? 0)) / 1000;
    assert.ok(seconds >= 10, `a window of ${seconds} s`);
    const rate = (to - from) / seconds;
    console.log(`# --rate 40 over 4 workers: ${rate.toFixed(2)} req/s over ${seconds.toFixed(1)} s (${to - from} codes)`);
    assert.ok(rate >= 38 && rate <= 42, `shared rate ${rate.toFixed(2)} req/s, expected 40 ± 5 %`);
  });

  test("--merchant-rate 30 is shared by every worker of two campaigns of the merchant in the same schema", async () => {
    const w = await world(300, { latencyMs: 5 });
    const second = { ...w, input: await writeText(w.dir, "in2.csv", recipientsCsv(300, { start: 1001 })) };
    await load(w);
    const loaded = await runCli([
      "load",
      second.input,
      "--base-url",
      w.sim.baseUrl,
      ...campaignFlags("workers-proof-2"),
      "--state",
      w.state,
      "--out",
      join(w.dir, "out2.csv"),
    ]);
    assert.equal(loaded.code, 0, loaded.stderr);
    const worker = (campaign: string): Promise<CliResult> =>
      collect(
        startCli([
          "work",
          "--state",
          w.state,
          "--campaign",
          campaign,
          "--base-url",
          w.sim.baseUrl,
          "--concurrency",
          "8",
          "--merchant-rate",
          "30",
          "--log-level",
          "error",
        ]),
        120_000,
      );
    const runs = await Promise.all([worker(CAMPAIGN), worker(CAMPAIGN), worker("workers-proof-2"), worker("workers-proof-2")]);
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const ledger = ledgerByRequestId(w.sim);
    assert.equal(ledger.size, 600, "each row of both campaigns issued once");
    for (const entry of ledger.values()) assert.equal(entry.charges, 1);
    const times = [...ledger.values()].map((e) => Date.parse(e.createdAt)).sort((a, b) => a - b);
    const from = 30;
    const to = times.length - 31;
    const seconds = ((times[to] ?? 0) - (times[from] ?? 0)) / 1000;
    assert.ok(seconds >= 10, `a window of ${seconds} s`);
    const rate = (to - from) / seconds;
    console.log(`# --merchant-rate 30 over 2 campaigns × 2 workers: ${rate.toFixed(2)} req/s over ${seconds.toFixed(1)} s`);
    assert.ok(rate >= 28.5 && rate <= 31.5, `merchant rate ${rate.toFixed(2)} req/s, expected 30 ± 5 %`);
  });
});
