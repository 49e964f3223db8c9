import assert from "node:assert/strict";
import { appendFile, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, readResult, recipientsCsv } from "./support/csv.js";
import { assertLedgerMatchesResult, issueArgs } from "./support/job.js";
import type { Simulator } from "../src/simulator/index.js";
import { startSimulator } from "./support/simulator.js";

/**
 * A rerun whose input is the last finished run's with rows appended continues that run's result
 * file (src/job/appended-result.ts) instead of writing every row again. Whatever it does, the file
 * must be the one a whole write gives: each case compares it with the file a rerun with the result
 * deleted writes (a whole write from the checkpoint), byte for byte.
 */

const CONTINUED = /its result file was continued with theirs/;

async function campaign(text: string): Promise<{ sim: Simulator; input: string; out: string; args: string[] }> {
  const dir = await tempDir();
  const sim = await startSimulator();
  const input = await writeText(dir, "in.csv", text);
  const out = join(dir, "out.csv");
  const args = issueArgs(input, sim, ...campaignFlags(), "--out", out, "--state", join(dir, "run.checkpoint"), "--log-level", "info");
  const first = await runCli(args);
  assert.equal(first.code, 0, first.stderr);
  return { sim, input, out, args };
}

/** The result a whole write gives for the checkpoint as it stands. */
async function wholeWrite(out: string, args: string[]): Promise<Buffer> {
  const continued = await readFile(out);
  await rm(out);
  const rewrite = await runCli(args);
  assert.equal(rewrite.code, 0, rewrite.stderr);
  assert.match(rewrite.stderr, /writing it again from the checkpoint/);
  const whole = await readFile(out);
  await writeFile(out, continued);
  return whole;
}

const appended = (from: number, count: number): string => recipientsCsv(count, { start: from }).split("\n").slice(1).join("\n");

test("rows appended to a finished run's input: only they are sent, and the result file is continued to the bytes a whole write gives", async () => {
  const { sim, input, out, args } = await campaign(recipientsCsv(30));
  await appendFile(input, appended(31, 6));
  const requests = sim.stats().createRequests;
  const rerun = await runCli(args);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.match(rerun.stderr, CONTINUED);
  assert.match(rerun.stdout, /36 rows — 36 issued, 0 failed, 0 pending/);
  assert.equal(sim.stats().createRequests, requests + 6);
  assertLedgerMatchesResult(sim, await readResult(out), 36);
  assert.deepEqual(await readFile(out), await wholeWrite(out, args));

  // And again: the continued file is itself continued.
  await appendFile(input, appended(37, 3));
  const third = await runCli(args);
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stderr, CONTINUED);
  assert.match(third.stdout, /39 rows — 39 issued, 0 failed, 0 pending/);
  assert.deepEqual(await readFile(out), await wholeWrite(out, args));
});

test("a last result file that is not as written, or an input that is not the last one with rows appended: written whole", async () => {
  // The result file edited since.
  {
    const { sim, input, out, args } = await campaign(recipientsCsv(20));
    const original = await readFile(out);
    await writeFile(out, Buffer.concat([original.subarray(0, 100), Buffer.from("X"), original.subarray(101)]));
    await appendFile(input, appended(21, 4));
    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.doesNotMatch(rerun.stderr, CONTINUED);
    assertLedgerMatchesResult(sim, await readResult(out), 24);
    assert.deepEqual(await readFile(out), await wholeWrite(out, args));
  }
  // The result file gone.
  {
    const { input, out, args } = await campaign(recipientsCsv(20));
    await rm(out);
    await appendFile(input, appended(21, 3));
    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.doesNotMatch(rerun.stderr, CONTINUED);
    assert.match(rerun.stdout, /23 rows — 23 issued/);
    assert.deepEqual(await readFile(out), await wholeWrite(out, args));
  }
  // The last input ended without a line end: the first appended bytes finish its last record (its email).
  {
    const { input, out, args } = await campaign(recipientsCsv(20).trimEnd());
    await appendFile(input, `.jp\n${appended(21, 4)}`);
    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.doesNotMatch(rerun.stderr, CONTINUED);
    assert.match(rerun.stdout, /24 rows — 24 issued/);
    assert.match(await readFile(out, "utf8"), /user20@example\.com\.jp/);
    assert.deepEqual(await readFile(out), await wholeWrite(out, args));
  }
  // A cell of the last input edited to as many bytes (an email: no request changes), rows appended: not the last input with rows appended.
  {
    const { input, out, args } = await campaign(recipientsCsv(20));
    const text = await readFile(input, "utf8");
    await writeFile(input, text.replace("user5@example.com", "userX@example.com") + appended(21, 2));
    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.doesNotMatch(rerun.stderr, CONTINUED);
    assert.deepEqual(await readFile(out), await wholeWrite(out, args));
  }
});
