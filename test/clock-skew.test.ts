import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { clockSkewNote, clockSkewSeconds } from "../src/paypay/clock-skew.js";
import { classifyCreateResult } from "../src/paypay/outcome.js";
import { LOCAL_CREDENTIALS } from "../src/simulator/index.js";
import { runCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, recipientsCsv } from "./support/csv.js";
import { startSimulator } from "./support/simulator.js";

// The Date header has a one-second resolution, and the answer takes a moment to arrive.
const PHRASE = /this host's clock is (299|300|301) s off PayPay's/;

describe("clock skew named on UNAUTHORIZED", () => {
  test("clockSkewSeconds reads the Date header; the note appears only beyond 60 s", () => {
    const now = Date.parse("2026-04-01T00:00:00Z");
    assert.equal(clockSkewSeconds({ date: "Wed, 01 Apr 2026 00:05:00 GMT" }, now), 300);
    assert.equal(clockSkewSeconds({ date: "Tue, 31 Mar 2026 23:58:00 GMT" }, now), -120);
    assert.equal(clockSkewSeconds({}, now), undefined);
    assert.equal(clockSkewSeconds({ date: "not a date" }, now), undefined);
    assert.match(clockSkewNote({ date: "Wed, 01 Apr 2026 00:05:00 GMT" }, now) ?? "", /300 s off PayPay's \(behind it/);
    assert.match(clockSkewNote({ date: "Tue, 31 Mar 2026 23:58:00 GMT" }, now) ?? "", /120 s off PayPay's \(ahead of it/);
    assert.equal(clockSkewNote({ date: "Wed, 01 Apr 2026 00:01:00 GMT" }, now), undefined, "60 s is not named");
  });

  test("issue, plan and budget against a PayPay whose clock is 300 s ahead say so", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ clockOffsetSeconds: 300 });
    const input = await writeText(dir, "in.csv", recipientsCsv(2));
    const budget = await runCli(["budget", "--base-url", sim.baseUrl]);
    assert.equal(budget.code, 4);
    assert.match(budget.stderr, /UNAUTHORIZED/);
    assert.match(budget.stderr, PHRASE);
    const plan = await runCli(["plan", input, "--base-url", sim.baseUrl, ...campaignFlags()]);
    assert.match(plan.stdout, PHRASE);
    const issue = await runCli(["issue", input, "--base-url", sim.baseUrl, ...campaignFlags(), "--log-level", "silent"]);
    assert.equal(issue.code, 4);
    assert.match(issue.stderr, PHRASE);
    assert.equal(sim.stats().createRequests, 0);
  });

  test("a create answered UNAUTHORIZED carries the note into the fatal outcome issue stops with", () => {
    const now = Date.parse("2026-04-01T00:00:00Z");
    const body = '{"resultInfo":{"code":"UNAUTHORIZED","message":"Epoch is too far from the server clock","codeId":"08100016"},"data":null}';
    const outcome = classifyCreateResult({ kind: "response", status: 401, headers: { date: "Wed, 01 Apr 2026 00:05:00 GMT" }, body }, "giftCardCode", now);
    assert.equal(outcome.kind, "fatal");
    assert.match(outcome.kind === "fatal" ? outcome.message : "", /^Epoch is too far from the server clock; this host's clock is 300 s off PayPay's/);
    const inTime = classifyCreateResult({ kind: "response", status: 401, headers: { date: "Wed, 01 Apr 2026 00:00:30 GMT" }, body }, "giftCardCode", now);
    assert.equal(inTime.kind === "fatal" ? inTime.message : "", "Epoch is too far from the server clock");
  });

  test("a wrong secret is UNAUTHORIZED without a clock note", async () => {
    const sim = await startSimulator({});
    const run = await runCli(["budget", "--base-url", sim.baseUrl], {
      env: { PAYPAY_API_KEY: LOCAL_CREDENTIALS.apiKey, PAYPAY_API_SECRET: "wrong", PAYPAY_MERCHANT_ID: LOCAL_CREDENTIALS.merchantId },
    });
    assert.equal(run.code, 4);
    assert.match(run.stderr, /UNAUTHORIZED/);
    assert.doesNotMatch(run.stderr, /clock/);
  });
});
