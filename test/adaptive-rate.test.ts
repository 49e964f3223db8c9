import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, readResult, recipientsCsv } from "./support/csv.js";
import { assertLedgerMatchesResult, issueArgs } from "./support/job.js";
import { startSimulator } from "./support/simulator.js";

// Behaviour through the real CLI and a real rate-limited simulator. The controller's figures (share
// of the limit reached, 429 share, reaction time) come from `npm run bench`, not from here.

test("--rate auto against a rate-limited PayPay: exactly once, 429s retried, the rate history in the summary", async () => {
  const dir = await tempDir();
  const sim = await startSimulator({ latencyMs: 5, rateLimit: { ratePerSecond: 40, burst: 40 } });
  const input = await writeText(dir, "in.csv", recipientsCsv(150));
  const out = join(dir, "out.csv");
  const summaryFile = join(dir, "summary.json");
  const result = await runCli(
    issueArgs(
      input,
      sim,
      ...campaignFlags(),
      "--out",
      out,
      "--rate",
      "auto",
      "--concurrency",
      "16",
      "--max-attempts",
      "30",
      "--summary-json",
      summaryFile,
      "--log-level",
      "error",
    ),
  );
  assert.equal(result.code, 0, result.stderr);
  assertLedgerMatchesResult(sim, await readResult(out), 150);
  const summary = JSON.parse(await readFile(summaryFile, "utf8"));
  assert.equal(summary.throttled, sim.stats().throttledByBucket, "every 429 the bucket sent is counted");
  assert.equal(summary.requests, 150 + summary.retries);
  assert.ok(Array.isArray(summary.rateHistory) && summary.rateHistory.length > 0);
  assert.equal(
    summary.rateHistory.reduce((n: number, p: { ok: number }) => n + p.ok, 0),
    150,
    "the history accounts for every success",
  );
  assert.equal(typeof summary.adaptiveRate.final, "number");
  assert.match(result.stdout, /adaptive rate: ended at [\d.]+ req\/s/);
});

test("--rate auto never paces above --max-rate", async () => {
  // The server judges: its bucket admits 2 req/s with a burst of 5, so a client paced at 2 req/s is
  // never refused, even if a stall of up to 2.5 s bunches its requests. Unclamped, --rate auto would
  // start at 4 req/s and double after 10 requests: the bucket refuses it by the 11th.
  const dir = await tempDir();
  const sim = await startSimulator({ rateLimit: { ratePerSecond: 2, burst: 5 } });
  const rows = 14;
  const input = await writeText(dir, "in.csv", recipientsCsv(rows));
  const out = join(dir, "o.csv");
  const summaryFile = join(dir, "summary.json");
  const result = await runCli(
    issueArgs(input, sim, ...campaignFlags(), "--out", out, "--rate", "auto", "--max-rate", "2", "--concurrency", "8", "--summary-json", summaryFile),
  );
  assert.equal(result.code, 0, result.stderr);
  assertLedgerMatchesResult(sim, await readResult(out), rows);
  const stats = sim.stats();
  assert.equal(stats.createRequests, rows, "one request per row reached the server");
  assert.equal(stats.throttledByBucket, 0, "the server's 2 req/s bucket never had to refuse a request");
  const summary = JSON.parse(await readFile(summaryFile, "utf8"));
  assert.ok(summary.adaptiveRate.final <= 2, `final rate ${summary.adaptiveRate.final}`);
  assert.ok(summary.rateHistory.length > 0, "the summary has a rate history");
  for (const point of summary.rateHistory) assert.ok(point.rate <= 2.01, `paced at ${point.rate} req/s`);
});

test("--rate takes a number or auto, and says so otherwise", async () => {
  const result = await runCli(["issue", "x.csv", "--campaign", "c", "--rate", "fast"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /Expected --rate to be requests per second \(more than 0, at most 100000\) or auto, got "fast"/);
});
