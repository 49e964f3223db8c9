import assert from "node:assert/strict";
import { appendFile, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, GROUP, readResult, recipientsCsv } from "./support/csv.js";
import { assertLedgerMatchesResult, issueArgs } from "./support/job.js";
import { startSimulator } from "./support/simulator.js";

// A rerun of a finished campaign (cron) takes a fast path that rereads nothing but digests. These
// tests pin when it may be taken, and that every change sends the run down the full path. When only
// the result file changed (deleted, edited), the run writes it again from the checkpoint and skips
// the plan: nothing else changed, so there is nothing to send.

test("a finished run repeated: no request of any kind, same result and exit code", async () => {
  const dir = await tempDir();
  const sim = await startSimulator();
  const input = await writeText(dir, "in.csv", recipientsCsv(30));
  const out = join(dir, "out.csv");
  const args = issueArgs(input, sim, ...campaignFlags(), "--out", out);
  assert.equal((await runCli(args)).code, 0);
  const result = await readFile(out);
  const requests = sim.stats().requests;
  const again = await runCli([...args, "--log-level", "info"]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /nothing changed since the last run finished/);
  assert.match(again.stdout, /30 rows — 30 issued, 0 failed, 0 pending/);
  assert.equal(sim.stats().requests, requests, "not even a budget read");
  assert.deepEqual(await readFile(out), result);
});

test("a changed input, a changed default, or an edited result file takes the full path", async () => {
  const dir = await tempDir();
  const sim = await startSimulator();
  const input = await writeText(dir, "in.csv", recipientsCsv(10));
  const out = join(dir, "out.csv");
  const args = issueArgs(input, sim, ...campaignFlags(), "--out", out);
  assert.equal((await runCli(args)).code, 0);

  await appendFile(input, "R-00011,150,new@example.com\n");
  const added = await runCli([...args, "--log-level", "info"]);
  assert.equal(added.code, 0, added.stderr);
  assert.doesNotMatch(added.stderr, /nothing changed/);
  assertLedgerMatchesResult(sim, await readResult(out), 11);

  const original = await readFile(out);
  await writeFile(out, original.subarray(0, original.length - 40));
  const repaired = await runCli([...args, "--log-level", "info"]);
  assert.equal(repaired.code, 0);
  assert.doesNotMatch(repaired.stderr, /nothing changed since the last run finished: nothing to send/);
  assert.match(repaired.stderr, /but the result file: writing it again from the checkpoint/);
  assert.deepEqual(await readFile(out), original, "the result file is rewritten exactly");

  const renamed = await runCli([
    ...issueArgs(input, sim, ...campaignFlags(), "--out", out).map((a) => (a === "テスト" ? "別の名前" : a)),
    "--log-level",
    "info",
  ]);
  assert.equal(renamed.code, 3, "rows issued under the old name are reported changed, not resent");
  assert.doesNotMatch(renamed.stderr, /nothing changed/);
  assert.equal(sim.ledger().length, 11);
});

test("failed rows and --retry-failed: the fast path never skips a retry that was asked for", async () => {
  const dir = await tempDir();
  const sim = await startSimulator({ groups: [{ groupId: GROUP, budget: 100_000, maxPeriodDays: 365, minAmount: 120 }] });
  const input = await writeText(dir, "in.csv", recipientsCsv(5, { amount: (i) => (i === 3 ? 100 : 200) }));
  const out = join(dir, "out.csv");
  const args = issueArgs(input, sim, ...campaignFlags(), "--out", out, "--retry-failed");
  assert.equal((await runCli(args)).code, 3);
  const creates = sim.stats().createRequests;
  assert.equal((await runCli(args)).code, 3);
  assert.equal(sim.stats().createRequests, creates + 1, "the failed row was sent again");
});

test("a finished run whose result file is gone: written again from the checkpoint, no new plan, nothing sent, end dates past or not", async () => {
  const dir = await tempDir();
  const sim = await startSimulator();
  // The end date in a column: the --end-at flag is checked against today before anything else.
  const csv = recipientsCsv(40)
    .replace("recipient_id,amount,email\n", "recipient_id,amount,email,end_at\n")
    .replaceAll("@example.com\n", "@example.com,2094-06-30\n");
  const input = await writeText(dir, "in.csv", csv);
  const out = join(dir, "out.csv");
  const state = join(dir, "run.checkpoint");
  const flags = campaignFlags().filter((flag, i, all) => flag !== "--end-at" && all[i - 1] !== "--end-at");
  const args = issueArgs(input, sim, ...flags, "--out", out, "--state", state, "--log-level", "info");
  const env = { POINTS_CODE_BATCH_TODAY: "2094-04-01" };
  assert.equal((await runCli(args, { env })).code, 0);
  const result = await readFile(out);
  const records = (text: string, t: string): number => text.split("\n").filter((line) => line.includes(`"t":"${t}"`)).length;
  const journal = await readFile(state, "utf8");
  const requests = sim.stats().requests;

  // The campaign's end date (2094-06-30) has passed by now: the rows were checked when they were sent.
  await rm(out);
  const again = await runCli(args, { env: { POINTS_CODE_BATCH_TODAY: "2094-07-15" } });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /but the result file: writing it again from the checkpoint/);
  assert.match(again.stdout, /40 rows — 40 issued, 0 failed, 0 pending/);
  assert.deepEqual(await readFile(out), result, "the same bytes as the run that issued them wrote");
  assert.equal(((await stat(out)).mode & 0o777).toString(8), "600");
  assert.equal(sim.stats().requests, requests, "not even a budget read");
  const after = await readFile(state, "utf8");
  assert.equal(records(after, "plan"), records(journal, "plan"), "no new plan");
  assert.equal(records(after, "sent"), records(journal, "sent"));
  assert.equal(records(after, "complete"), records(journal, "complete") + 1, "the rewrite is recorded, so the next rerun takes the fast path");

  const third = await runCli(args, { env });
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stderr, /nothing changed since the last run finished: nothing to send/);
  assert.deepEqual(await readFile(out), result);
});
