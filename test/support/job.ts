import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { LedgerEntry, Simulator } from "../../src/simulator/index.js";
import type { ResultRow } from "./csv.js";

/** The columns the result file appends to the input columns, in order (the contract). */
export const RESULT_COLUMNS = [
  "request_id",
  "campaign",
  "status",
  "points_code",
  "error_code",
  "error_message",
  "attempts",
  "paypay_request_id",
  "issued_at",
  "sent_group_id",
  "sent_amount",
  "sent_gift_card_name",
  "sent_start_at",
  "sent_end_at",
  "target",
  "response_data",
] as const;

/** `issue <input> --base-url <sim>` plus whatever the test adds. */
export function issueArgs(input: string, sim: Simulator, ...extra: string[]): string[] {
  return ["issue", input, "--base-url", sim.baseUrl, ...extra];
}

export function ledgerByRequestId(sim: Simulator): Map<string, LedgerEntry> {
  const map = new Map<string, LedgerEntry>();
  for (const entry of sim.ledger()) {
    assert.equal(map.has(entry.requestId), false, `ledger holds requestId ${entry.requestId} twice`);
    map.set(entry.requestId, entry);
  }
  return map;
}

/**
 * Exactly once, from the simulator's side: the ledger holds exactly `expected` entries, each charged
 * once, each under a requestId of the result file, and every issued result row carries the ledger's
 * code for its requestId. Returns the ledger by requestId.
 */
export function assertLedgerMatchesResult(sim: Simulator, rows: readonly ResultRow[], expected: number): Map<string, LedgerEntry> {
  const ledger = ledgerByRequestId(sim);
  assert.equal(ledger.size, expected, `ledger entries`);
  for (const entry of ledger.values()) assert.equal(entry.charges, 1, `charges of ${entry.requestId}`);
  const requestIds = new Set(rows.map((r) => r.request_id));
  assert.equal(requestIds.size, rows.length, "one request_id per result row");
  for (const id of ledger.keys()) assert.ok(requestIds.has(id), `ledger requestId ${id} belongs to no result row`);
  for (const id of sim.callsByRequestId().keys()) assert.ok(requestIds.has(id), `the simulator saw requestId ${id}, which belongs to no result row`);
  for (const row of rows) {
    if (row.status !== "issued") continue;
    const entry = ledger.get(row.request_id!);
    assert.ok(entry, `issued row ${row.recipient_id} (${row.request_id}) has no ledger entry`);
    assert.equal(row.points_code, entry.code, `points_code of ${row.recipient_id}`);
  }
  return ledger;
}

export async function fileMode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Polls `predicate` every 10 ms; throws after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Every regular file under `dir`, with its content. */
export async function readAllFiles(dir: string): Promise<Array<{ path: string; text: string }>> {
  const out: Array<{ path: string; text: string }> = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await readAllFiles(path)));
    else if (entry.isFile()) out.push({ path, text: await readFile(path, "latin1") });
  }
  return out;
}

/** The pid of a process that has already exited (so no live process holds it, barring reuse). */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  const pid = child.pid;
  await new Promise((resolve) => child.on("close", resolve));
  assert.ok(pid !== undefined);
  return pid;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
