import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Simulator, SimulatorOptions } from "../src/simulator/index.js";
import { runCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, readResult, recipientsCsv, type ResultRow } from "./support/csv.js";
import { issueArgs, ledgerByRequestId } from "./support/job.js";
import { startSimulator } from "./support/simulator.js";

/**
 * `issue` against a PayPay that departs from the assumed contract, configured as `verify
 * --write-config` found it, stays exactly once: one charged code per recipient at most, no row
 * reported issued without that code in the ledger, no row reported failed that PayPay charged.
 */

const ROWS = 24;
// Every fault fires after the commit: each row is charged on its first attempt, and its retry is a replay.
const AFTER_COMMIT = { error500AfterCommit: 0.25, resetAfterCommit: 0.15 };

async function verifiedConfig(options: SimulatorOptions, dir: string, ...flags: string[]): Promise<string> {
  const sim = await startSimulator(options);
  const config = join(dir, "verified.json");
  const run = await runCli(["verify", "--base-url", sim.baseUrl, "--issue-test-code", "--write-config", config, ...flags]);
  assert.ok(run.code === 0 || run.code === 3, run.stdout + run.stderr);
  return config;
}

async function issueUnder(options: SimulatorOptions, ...flags: string[]): Promise<{ sim: Simulator; rows: ResultRow[]; code: number | null; stdout: string }> {
  const dir = await tempDir("pcb-variant-");
  const input = await writeText(dir, "in.csv", recipientsCsv(ROWS));
  const sim = await startSimulator({ ...options, faults: AFTER_COMMIT, seed: 11 });
  const run = await runCli(issueArgs(input, sim, ...campaignFlags(), "--concurrency", "4", "--log-level", "silent", ...flags));
  return { sim, rows: await readResult(join(dir, "in.results.csv")), code: run.code, stdout: run.stdout + run.stderr };
}

/** The exactly-once invariants, checked against the simulator's ledger. */
function assertExactlyOnce(sim: Simulator, rows: readonly ResultRow[]): void {
  const ledger = ledgerByRequestId(sim); // asserts one entry per requestId
  for (const entry of ledger.values()) assert.equal(entry.charges, 1);
  assert.ok(ledger.size <= rows.length);
  for (const row of rows) {
    const entry = ledger.get(row.request_id!);
    if (row.status === "issued") {
      assert.ok(entry, `${row.recipient_id} reported issued without a ledger entry`);
      assert.equal(row.points_code, entry.code, `${row.recipient_id}'s code`);
    }
    if (row.status === "failed") assert.equal(entry, undefined, `${row.recipient_id} reported failed, but PayPay charged ${entry?.code}`);
  }
}

describe("issue under each contract variant, configured from verify --write-config", () => {
  test("faults fire in these runs (else the invariants below prove nothing)", async () => {
    const { sim } = await issueUnder({});
    const faults = sim.stats().faultsInjected;
    assert.ok(faults.error500AfterCommit + faults.resetAfterCommit >= 3, JSON.stringify(faults));
  });

  test("another code field: every row issued with the ledger's code", async () => {
    const dir = await tempDir("pcb-variant-");
    const options: SimulatorOptions = { contract: { codeField: "pointsCode" } };
    const config = await verifiedConfig(options, dir);
    const { sim, rows, code } = await issueUnder(options, "--config", config);
    assert.equal(code, 0);
    assert.equal(rows.filter((r) => r.status === "issued").length, ROWS);
    assertExactlyOnce(sim, rows);
  });

  test("another code field, not configured: no row is reported issued without its code", async () => {
    const { sim, rows, code } = await issueUnder({ contract: { codeField: "pointsCode" } }, "--max-attempts", "2");
    assert.equal(code, 4, "rows left pending");
    assert.equal(rows.filter((r) => r.status === "issued").length, 0);
    assert.ok(rows.every((r) => r.status === "pending" && r.error_code === "MALFORMED_RESPONSE"));
    assertExactlyOnce(sim, rows);
  });

  test("other paths: every row issued", async () => {
    const dir = await tempDir("pcb-variant-");
    const options: SimulatorOptions = { createPath: "/v2/codes", budgetPath: "/v2/codes/budget" };
    const config = await verifiedConfig(options, dir, "--create-path", "/v2/codes", "--budget-path", "/v2/codes/budget");
    const { sim, rows, code } = await issueUnder(options, "--config", config);
    assert.equal(code, 0);
    assert.equal(rows.filter((r) => r.status === "issued").length, ROWS);
    assertExactlyOnce(sim, rows);
  });

  test("replay refused, configured (--replay refused): a row retried after an unknown outcome stays in doubt, never failed", async () => {
    const dir = await tempDir("pcb-variant-");
    const options: SimulatorOptions = { contract: { replay: "refused" } };
    const config = await verifiedConfig(options, dir);
    const { sim, rows, code } = await issueUnder(options, "--config", config);
    assert.equal(code, 4, "rows in doubt are pending: rerun (or ask support)");
    const pending = rows.filter((r) => r.status === "pending");
    assert.ok(pending.length >= 3, `pending rows: ${pending.length}`);
    assert.equal(rows.filter((r) => r.status === "failed").length, 0);
    for (const row of pending) assert.match(row.error_message!, /`verify` found that PayPay refuses a repeated requestId/);
    // Every row was charged on its first attempt: the pending ones hold a code only PayPay knows.
    assert.equal(sim.ledger().length, ROWS);
    assertExactlyOnce(sim, rows);
  });

  test("replay refused, not configured: the refusal is taken at its word and charged rows are reported failed", async () => {
    // What --replay refused prevents; if this stops failing rows, the test above proves nothing.
    const { sim, rows } = await issueUnder({ contract: { replay: "refused" } });
    const ledger = ledgerByRequestId(sim);
    const failedButCharged = rows.filter((r) => r.status === "failed" && ledger.has(r.request_id!));
    assert.ok(failedButCharged.length >= 3, `failed but charged: ${failedButCharged.length}`);
  });

  test("replay refused: rerunning leaves rows in doubt as they were and charges nothing more", async () => {
    const dir = await tempDir("pcb-variant-");
    const options: SimulatorOptions = { contract: { replay: "refused" } };
    const config = await verifiedConfig(options, dir);
    const input = await writeText(dir, "in.csv", recipientsCsv(ROWS));
    const sim = await startSimulator({ ...options, faults: AFTER_COMMIT, seed: 11 });
    const args = issueArgs(input, sim, ...campaignFlags(), "--config", config, "--log-level", "silent");
    assert.equal((await runCli(args)).code, 4);
    const first = await readResult(join(dir, "in.results.csv"));
    sim.setFaults({});
    assert.equal((await runCli(args)).code, 4);
    const second = await readResult(join(dir, "in.results.csv"));
    assert.deepEqual(
      second.map((r) => r.status),
      first.map((r) => r.status),
    );
    assert.equal(sim.ledger().length, ROWS);
    assertExactlyOnce(sim, second);
  });

  for (const changedBody of ["original", "reissued"] as const) {
    test(`changed body answered "${changedBody}": a run with retries still issues each row once`, async () => {
      const { sim, rows, code } = await issueUnder({ contract: { changedBody } });
      assert.equal(code, 0);
      assert.equal(rows.filter((r) => r.status === "issued").length, ROWS);
      assertExactlyOnce(sim, rows);
    });
  }
});
