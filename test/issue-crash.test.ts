import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Simulator } from "../src/simulator/index.js";
import { collect, runCli, startCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, readResult, recipientsCsv } from "./support/csv.js";
import { startSimulator } from "./support/simulator.js";
import { mulberry32 } from "../src/simulator/prng.js";
import { readLockStatus } from "../src/checkpoint/lock-status.js";
import { JournalStore } from "../src/checkpoint/journal-store.js";
import { rowsInProcessBound } from "../src/job/apply-plan.js";
import { assertLedgerMatchesResult, issueArgs, waitFor } from "./support/job.js";

/**
 * A run killed with SIGKILL (no handler, no flush, no lock release) and then rerun must still issue
 * every row exactly once: one ledger entry per recipient, charged once, the result equal to the ledger.
 */

const ROWS = 300;
const CONCURRENCY = 8;
const SEED = 20260401;
/**
 * A run is killed once the ledger holds this many more codes than when it started: a moment read
 * from what the server committed, so it lands mid-flight however slow the machine is.
 */
const KILL_AFTER_CODES = (() => {
  const random = mulberry32(SEED);
  return [0, 1, 2].map(() => 5 + Math.floor(random() * 80));
})();

interface Setup {
  sim: Simulator;
  args: string[];
  out: string;
  state: string;
}

async function setup(seed: number): Promise<Setup> {
  const dir = await tempDir("pcb-crash-");
  const sim = await startSimulator({ latencyMs: 50, jitterMs: 30, seed });
  const input = await writeText(dir, "in.csv", recipientsCsv(ROWS));
  const out = join(dir, "out.csv");
  const state = join(dir, "out.checkpoint");
  return { sim, out, state, args: issueArgs(input, sim, ...campaignFlags("crash"), "--out", out, "--state", state, "--concurrency", String(CONCURRENCY)) };
}

/** Starts a run, SIGKILLs it once it has `codes` more codes in the ledger; returns the ledger size at the kill. */
async function runAndKill({ sim, args, state }: Setup, codes: number): Promise<number> {
  const codesBefore = sim.ledger().length;
  const child = startCli(args);
  const done = collect(child);
  let exited = false;
  child.once("exit", () => (exited = true));
  await waitFor(() => exited || sim.ledger().length >= codesBefore + codes, 30_000, `the run to issue ${codes} codes`);
  if (exited) {
    const early = await done;
    assert.fail(`the run exited (${early.code}) before it had issued ${codes} codes:\n${early.stderr}`);
  }
  const issuedAtKill = sim.ledger().length;
  child.kill("SIGKILL");
  const result = await done;
  assert.equal(result.signal, "SIGKILL", `the run had already ended (exit ${result.code}) before the kill:\n${result.stderr}`);
  assert.deepEqual(await readLockStatus(`${state}.lock`), { state: "free" }, "the kernel drops a SIGKILLed run's lock with it");
  // What a crash leaves in doubt (sent, no outcome) is what the rerun resends: never more rows
  // than the applier keeps in process.
  const store = await JournalStore.open(state, "", { readOnly: true });
  const inDoubt = [...store.entries()].filter(([, row]) => row.status === "sent").length;
  await store.close();
  assert.ok(inDoubt <= rowsInProcessBound(CONCURRENCY), `${inDoubt} rows in doubt after the kill, over the bound ${rowsInProcessBound(CONCURRENCY)}`);
  return issuedAtKill;
}

async function rerunToCompletion({ sim, args, out, state }: Setup): Promise<void> {
  const rerun = await runCli(args);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.match(rerun.stdout, new RegExp(`${ROWS} rows — ${ROWS} issued, 0 failed, 0 pending`));
  assert.deepEqual(await readLockStatus(`${state}.lock`), { state: "free" }, "the rerun released the lock");

  const rows = await readResult(out);
  assert.equal(rows.length, ROWS);
  assert.deepEqual(
    rows.map((r) => r.status),
    Array(ROWS).fill("issued"),
  );
  // One requestId per recipient; the ledger holds exactly one entry, charged once, for each.
  assert.equal(new Set(rows.map((r) => r.recipient_id)).size, ROWS);
  assertLedgerMatchesResult(sim, rows, ROWS);
  const calls = sim.callsByRequestId();
  assert.equal(calls.size, ROWS, "no requestId outside the file ever reached the simulator");
}

describe("SIGKILL mid-flight, then rerun: exactly once", { concurrency: true }, () => {
  KILL_AFTER_CODES.forEach((codes, i) => {
    test(`killed after ${codes} codes are issued (seeded moment ${i + 1} of ${KILL_AFTER_CODES.length})`, async () => {
      const s = await setup(SEED + i);
      const issuedAtKill = await runAndKill(s, codes);
      assert.ok(issuedAtKill > 0 && issuedAtKill < ROWS, `killed mid-flight (${issuedAtKill} codes issued at the kill)`);
      await rerunToCompletion(s);
      // One kill: a row is sent at most once by each of the two runs.
      for (const [id, n] of s.sim.callsByRequestId()) assert.ok(n === 1 || n === 2, `${id} was sent ${n} times`);
    });
  });

  test(`killed three times in a row on one checkpoint (after ${KILL_AFTER_CODES.join(", ")} more codes), then rerun`, async () => {
    const s = await setup(SEED + 99);
    let previous = 0;
    for (const codes of KILL_AFTER_CODES) {
      const issuedAtKill = await runAndKill(s, codes);
      assert.ok(issuedAtKill >= previous + codes && issuedAtKill < ROWS, `kill after ${codes} more codes landed mid-flight (${issuedAtKill} issued)`);
      previous = issuedAtKill;
    }
    await rerunToCompletion(s);
    for (const [id, n] of s.sim.callsByRequestId()) assert.ok(n >= 1 && n <= 4, `${id} was sent ${n} times over 4 runs`);
  });
});
