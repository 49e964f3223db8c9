import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runCli, startCli, collect, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, GROUP, readResult, recipientsCsv } from "./support/csv.js";
import { assertLedgerMatchesResult, exists, issueArgs, waitFor } from "./support/job.js";
import { startSimulator } from "./support/simulator.js";

/**
 * The plan is the contract: a run is bound to one PayPay, sends only what it planned from its own
 * copy of the input, owns its result file, states the money it may move, and reconciles budgets.
 */

async function summaryOf(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
}

describe("a result file belongs to one campaign", () => {
  test("a second campaign with its own --state but the default --out is refused, naming the first checkpoint; the advice names --state and --out", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await writeText(dir, "in.csv", recipientsCsv(3));
    const first = await runCli(issueArgs(input, sim, ...campaignFlags("spring")));
    assert.equal(first.code, 0, first.stderr);
    const out = join(dir, "in.results.csv");
    const before = await readFile(out, "utf8");

    const mismatch = await runCli(issueArgs(input, sim, ...campaignFlags("autumn")));
    assert.equal(mismatch.code, 2);
    assert.match(mismatch.stderr, /belongs to campaign "spring".*--state and --out/);

    const second = await runCli(issueArgs(input, sim, ...campaignFlags("autumn"), "--state", join(dir, "autumn.checkpoint")));
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`is the result of checkpoint ${join(dir, "in.results.checkpoint")} \\(campaign spring\\)`));
    assert.equal(await readFile(out, "utf8"), before);
    assert.equal(sim.ledger().length, 3, "nothing was sent for the second campaign");
    assert.equal(await exists(join(dir, "autumn.checkpoint")), false, "a refused run leaves no checkpoint");

    const own = await runCli(issueArgs(input, sim, ...campaignFlags("autumn"), "--state", join(dir, "autumn.checkpoint"), "--out", join(dir, "autumn.csv")));
    assert.equal(own.code, 0, own.stderr);
    assert.equal(sim.ledger().length, 6);
  });
});

describe("changed rows have an end", () => {
  test("an issued row edited later shows the issued values and exits 3, until --accept-changed is recorded; later runs exit 0 and still report it", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await writeText(dir, "in.csv", recipientsCsv(3));
    const out = join(dir, "out.csv");
    assert.equal((await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out))).code, 0);
    const code = (await readResult(out))[1]!.points_code;
    await writeFile(input, recipientsCsv(3).replace("R-00002,102,", "R-00002,900,"));

    const planned = await runCli(["plan", input, "--base-url", sim.baseUrl, ...campaignFlags(), "--out", out]);
    assert.equal(planned.code, 3, planned.stderr);
    assert.match(planned.stderr, /1 row\(s\) changed after they were sent.*--accept-changed/);
    const changed = await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out));
    assert.equal(changed.code, 3, changed.stderr);
    let row = (await readResult(out))[1]!;
    assert.equal(row.error_code, "REQUEST_CHANGED");
    assert.equal(row.amount, "900", "the input column is the user's, untouched");
    assert.equal(row.sent_amount, "102", "the value the code was issued for");
    assert.equal(row.points_code, code);

    const accepted = await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out, "--accept-changed"));
    assert.equal(accepted.code, 0, accepted.stderr);
    const later = await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out));
    assert.equal(later.code, 0, later.stderr);
    assert.match(later.stdout, /1 issued row\(s\) changed since and were accepted/);
    row = (await readResult(out))[1]!;
    assert.equal(row.error_code, "REQUEST_CHANGED_ACCEPTED");
    assert.equal(row.status, "issued");
    assert.equal(row.sent_amount, "102");
    assert.equal(row.points_code, code);
    assert.equal(sim.ledger().length, 3, "nothing was sent for the changed row");

    // A further change is a conflict again.
    await writeFile(input, recipientsCsv(3).replace("R-00002,102,", "R-00002,901,"));
    assert.equal((await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out))).code, 3);
  });
});

describe("the spend guard", () => {
  test("--max-total refuses a plan whose charges exceed it (an amount column in sen), nothing sent", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    // Meant ¥500 each, written in sen: 50000 each, ¥500,000 for ten rows.
    const input = await writeText(dir, "in.csv", recipientsCsv(10, { amount: () => 50_000 }));
    const out = join(dir, "out.csv");
    const refused = await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out, "--max-total", "5000"));
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /may charge ¥500,000 for 10 new row\(s\), more than --max-total ¥5,000.*yen \(not sen\)/);
    assert.equal(sim.stats().createRequests, 0);
    assert.equal(await exists(join(dir, "out.checkpoint")), false);
    const plan = await runCli(["plan", input, "--base-url", sim.baseUrl, ...campaignFlags(), "--out", out, "--max-total", "5000"]);
    assert.equal(plan.code, 2);
    assert.equal(plan.stderr.split("\n")[0], refused.stderr.split("\n")[0], "plan gives the same reason");

    const fits = await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out, "--max-total", "500000"));
    assert.equal(fits.code, 0, fits.stderr);
    assert.equal(sim.ledger().length, 10);
  });

  test("a production run with no terminal must state --max-total", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await writeText(dir, "in.csv", recipientsCsv(2));
    const args = ["issue", input, "--env", "production", "--base-url", sim.baseUrl, ...campaignFlags(), "--out", join(dir, "out.csv")];
    const refused = await runCli(args);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /must state the money it may move.*--max-total/);
    assert.equal(sim.stats().createRequests, 0);
    const capped = await runCli([...args, "--max-total", "1000"]);
    assert.equal(capped.code, 0, capped.stderr);
  });
});

describe("reconciliation", () => {
  test("budgets are read before and after; money spent from the group on the side is a warning in the summary, its JSON and the logs", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ latencyMs: 150 });
    const input = await writeText(dir, "in.csv", recipientsCsv(6));
    const out = join(dir, "out.csv");
    const summary = join(dir, "summary.json");
    const child = startCli(issueArgs(input, sim, ...campaignFlags(), "--out", out, "--concurrency", "1", "--summary-json", summary));
    const done = collect(child);
    await waitFor(() => sim.stats().createRequests >= 1, 20_000, "the first create");
    sim.spendOnTheSide(GROUP, 777);
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    const charged = (await readResult(out)).reduce((sum, r) => sum + Number(r.sent_amount), 0);
    const json = await summaryOf(summary);
    const [group] = json.reconciliation as Array<Record<string, number | string | boolean>>;
    assert.equal(group!.groupId, GROUP);
    assert.equal(group!.charged, charged);
    assert.equal(group!.moved, charged + 777);
    assert.equal(group!.difference, 777);
    assert.equal(group!.unexplained, true);
    assert.equal((json.reconciliationWarnings as string[]).length, 1);
    assert.match(result.stdout, /WARNING: the budget moved ¥777 more than this run charged/);
    assert.match(result.stderr, /the budget moved/);
  });

  test("without another issuer the budget moves by exactly what the run charged", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await writeText(dir, "in.csv", recipientsCsv(5));
    const summary = join(dir, "summary.json");
    const result = await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", join(dir, "out.csv"), "--summary-json", summary));
    assert.equal(result.code, 0, result.stderr);
    const [group] = (await summaryOf(summary)).reconciliation as Array<Record<string, number | boolean>>;
    assert.equal(group!.difference, 0);
    assert.equal(group!.unexplained, false);
    assert.ok((group!.charged as number) > 0);
  });
});

describe("a refused run leaves nothing behind", () => {
  test("invalid rows: no checkpoint, no copy of the input", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await writeText(dir, "in.csv", "recipient_id,amount,email\nR-1,1e3,a@example.com\n");
    const result = await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", join(dir, "out.csv")));
    assert.equal(result.code, 2);
    const names = await readdir(dir);
    assert.deepEqual(
      names.filter((n) => n.includes("checkpoint") && !n.endsWith(".lock")),
      [],
    );
  });
});

describe("production on a terminal asks first", () => {
  /** Runs the CLI on a real pseudo-terminal (util-linux `script`), typing `answer` at its prompt. */
  async function onTerminal(args: string[], answer: string): Promise<{ code: number | null; screen: string }> {
    const { spawn } = await import("node:child_process");
    const { CLI, childEnv } = await import("./support/cli.js");
    const command = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
    const child = spawn("script", ["-qfec", command, "/dev/null"], { env: childEnv(), stdio: ["pipe", "pipe", "pipe"] });
    let screen = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      screen += chunk;
      if (screen.includes("Type yes to issue") && !child.stdin.writableEnded) child.stdin.end(`${answer}\n`);
    });
    const code = await new Promise<number | null>((resolvePromise) => child.on("close", resolvePromise));
    return { code, screen };
  }

  test("the total is shown and only 'yes' sends; --yes skips the question", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await writeText(dir, "in.csv", recipientsCsv(4));
    const args = ["issue", input, "--env", "production", "--base-url", sim.baseUrl, ...campaignFlags(), "--out", join(dir, "out.csv"), "--log-level", "silent"];
    const declined = await onTerminal(args, "no");
    assert.equal(declined.code, 2, declined.screen);
    assert.match(declined.screen, /It may charge ¥410 for 4 new row\(s\)/);
    assert.match(declined.screen, /Not confirmed; nothing was sent/);
    assert.equal(sim.stats().createRequests, 0);
    assert.equal(await exists(join(dir, "out.checkpoint")), false);

    const confirmed = await onTerminal(args, "yes");
    assert.equal(confirmed.code, 0, confirmed.screen);
    assert.equal(sim.ledger().length, 4);
    await writeFile(input, recipientsCsv(5));
    const skipped = await onTerminal([...args, "--yes"], "never typed");
    assert.equal(skipped.code, 0, skipped.screen);
    assert.doesNotMatch(skipped.screen, /Type yes/);
    assert.equal(sim.ledger().length, 5);
  });
});

describe("the spend guard cannot be stepped around", () => {
  test("a --base-url that is not the sandbox nor this machine is guarded whatever --env says", async () => {
    const { spendsRealMoney } = await import("../src/paypay/environments.js");
    assert.equal(spendsRealMoney("local", "https://api.paypay.ne.jp"), true);
    assert.equal(spendsRealMoney("sandbox", "https://api.paypay.ne.jp"), true);
    assert.equal(spendsRealMoney("local", "https://proxy.example.com"), true);
    assert.equal(spendsRealMoney("local", "https://stg-api.sandbox.paypay.ne.jp"), false);
    assert.equal(spendsRealMoney("local", "http://127.0.0.1:8080"), false);
    assert.equal(spendsRealMoney("production", "http://127.0.0.1:8080"), true);
    assert.equal(spendsRealMoney("local", undefined), false);
    // The settings a run gets: the cap is required (no terminal) and, on a terminal, the question is asked.
    const { resolveIssueSettings } = await import("../src/cli/issue-settings.js");
    const flags = { csv: "in.csv", campaign: "c", baseUrl: "https://api.paypay.ne.jp" };
    assert.equal(resolveIssueSettings(flags, {}, "2094-01-01", false).job.spend.capRequired, true);
    assert.equal(resolveIssueSettings(flags, {}, "2094-01-01", true).confirm, true);
    assert.equal(resolveIssueSettings({ ...flags, baseUrl: "http://127.0.0.1:9" }, {}, "2094-01-01", false).job.spend.capRequired, false);
  });
});

describe("a row in doubt is never resent with another body", () => {
  test("changed after an unknown outcome: not sent, even with --retry-failed; restored, it settles under its requestId with the code PayPay issued", async () => {
    const dir = await tempDir();
    // Every create commits, then answers 500: each row is in doubt after one attempt.
    const sim = await startSimulator({ faults: { error500AfterCommit: 1 } });
    const input = await writeText(dir, "in.csv", recipientsCsv(2));
    const out = join(dir, "out.csv");
    const first = await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out, "--max-attempts", "1"));
    assert.equal(first.code, 4, first.stderr);
    assert.equal(sim.ledger().length, 2, "PayPay issued both");
    const calls = new Map(sim.callsByRequestId());

    await writeFile(input, recipientsCsv(2).replace("R-00001,101,", "R-00001,555,"));
    sim.setFaults({});
    const retried = await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out, "--retry-failed"));
    assert.equal(retried.code, 3, retried.stdout + retried.stderr);
    const rows = await readResult(out);
    assert.equal(rows[0]!.error_code, "REQUEST_CHANGED");
    assert.match(rows[0]!.error_message!, /restore the row to what was sent/);
    assert.equal(sim.callsByRequestId().get(rows[0]!.request_id!), calls.get(rows[0]!.request_id!), "no request with the new body");
    assert.equal(rows[1]!.status, "issued", "the unchanged row in doubt settles");

    await writeFile(input, recipientsCsv(2));
    const restored = await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out));
    assert.equal(restored.code, 0, restored.stderr);
    assertLedgerMatchesResult(sim, await readResult(out), 2);
  });
});

describe("a result file is claimed when the plan is recorded", () => {
  test("a marker naming another checkpoint is refused, not overwritten; export refuses while a run holds the checkpoint", async () => {
    const { claimResult } = await import("../src/job/result-owner.js");
    const { acquireLock } = await import("../src/checkpoint/lock.js");
    const dir = await tempDir();
    const out = join(dir, "out.csv");
    await claimResult(out, join(dir, "a.checkpoint"), "a");
    await claimResult(out, join(dir, "a.checkpoint"), "a");
    await assert.rejects(claimResult(out, join(dir, "b.checkpoint"), "b"), /is the result of checkpoint .*a\.checkpoint \(campaign a\)/);
    // Two claims racing for a fresh result: exactly one wins.
    const fresh = join(dir, "fresh.csv");
    const results = await Promise.allSettled([1, 2, 3, 4].map((i) => claimResult(fresh, join(dir, `c${i}.checkpoint`), `c${i}`)));
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);

    const sim = await startSimulator();
    const input = await writeText(dir, "in.csv", recipientsCsv(2));
    const own = join(dir, "own.csv");
    assert.equal((await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", own))).code, 0);
    const held = await acquireLock(join(dir, "own.checkpoint.lock"));
    try {
      const exported = await runCli(["export", join(dir, "own.checkpoint"), "--out", join(dir, "copy.csv")]);
      assert.equal(exported.code, 5, exported.stderr);
      assert.equal(await exists(join(dir, "copy.csv")), false);
    } finally {
      await held.release();
    }
  });
});
