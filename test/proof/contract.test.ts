import assert from "node:assert/strict";
import { appendFile, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { acquireLock } from "../../src/checkpoint/lock.js";
import { encodeLine, decodeLine } from "../../src/checkpoint/line-codec.js";
import { collect, runCli, startCli, tempDir, writeText } from "../support/cli.js";
import { campaignFlags, readResult, recipientsCsv } from "../support/csv.js";
import { exists, issueArgs, ledgerByRequestId, waitFor } from "../support/job.js";
import { startSimulator } from "../support/simulator.js";
import { writeFigures } from "./support/figures.js";

/**
 * The plan is the contract: a checkpoint is bound to one PayPay, the applier sends only what was
 * planned from its own copy of the input, `plan` refuses wherever `issue` would, and a checkpoint
 * written by the release before plans were recorded resumes. Each proof collects its violations,
 * writes its figures, then fails on any.
 */

function checker(): { violations: string[]; expect(ok: boolean, what: string): void } {
  const violations: string[] = [];
  return { violations, expect: (ok, what) => void (ok || violations.push(what)) };
}

describe("the plan is the contract", () => {
  test("switching the target: a checkpoint from one PayPay is refused at another by issue, plan, status and export", async () => {
    const dir = await tempDir();
    const first = await startSimulator();
    const second = await startSimulator();
    const input = await writeText(dir, "in.csv", recipientsCsv(20));
    const out = join(dir, "out.csv");
    const state = join(dir, "out.checkpoint");
    const { violations, expect } = checker();
    const ok = await runCli(issueArgs(input, first, ...campaignFlags(), "--out", out));
    expect(ok.code === 0, `first run exit ${ok.code}: ${ok.stderr}`);
    const before = await readFile(out, "utf8");

    const refusals: Record<string, number | null> = {};
    const issued = await runCli(issueArgs(input, second, ...campaignFlags(), "--out", out));
    refusals.issue = issued.code;
    expect(
      new RegExp(`bound to the simulator at ${first.baseUrl}.*targets the simulator at ${second.baseUrl}`).test(issued.stderr),
      `issue's message names both targets: ${issued.stderr}`,
    );
    expect(issued.stderr.includes(`rerun with --base-url ${first.baseUrl}`), "issue's message gives the way out");
    refusals.plan = (await runCli(["plan", input, "--base-url", second.baseUrl, ...campaignFlags(), "--out", out])).code;
    refusals.status = (await runCli(["status", state, "--base-url", second.baseUrl])).code;
    refusals.export = (await runCli(["export", state, "--base-url", second.baseUrl, "--out", join(dir, "again.csv")])).code;
    for (const [command, code] of Object.entries(refusals)) expect(code === 2, `${command} against the other target exited ${code}, expected 2`);
    expect(second.stats().requests === 0, `the second PayPay saw ${second.stats().requests} request(s)`);
    expect((await readFile(out, "utf8")) === before, "the result file changed");
    expect(!(await exists(join(dir, "again.csv"))), "export wrote a file");
    const same = await runCli(["status", state, "--base-url", first.baseUrl]);
    expect(same.code === 0, `status against the bound target exited ${same.code}`);

    // The embedded simulator: one target whatever its port, simulated in every output.
    const embeddedOut = join(dir, "embedded.csv");
    const summary = join(dir, "summary.json");
    const embedded = await runCli(["issue", input, ...campaignFlags("embedded"), "--out", embeddedOut, "--summary-json", summary]);
    expect(embedded.code === 0 && /SIMULATED: the embedded simulator/.test(embedded.stdout), `embedded run: ${embedded.code} ${embedded.stdout}`);
    const json = JSON.parse(await readFile(summary, "utf8")) as { simulated: boolean; target: { kind: string } };
    expect(json.simulated && json.target.kind === "embedded-simulator", "summary JSON marks the run simulated");
    const rows = await readResult(embeddedOut);
    expect(
      rows.every((r) => r.target === "SIMULATED (embedded simulator)"),
      "every result row is marked simulated",
    );
    await appendFile(input, "R-00021,150,user21@example.com\n");
    const rerun = await runCli(["issue", input, ...campaignFlags("embedded"), "--out", embeddedOut, "--summary-json", summary]);
    expect(rerun.code === 0, `embedded rerun exit ${rerun.code}: ${rerun.stderr}`);
    const again = await readResult(embeddedOut);
    expect(
      again.slice(0, 20).every((r, i) => r.points_code === rows[i]!.points_code),
      "a new embedded simulator replays the recorded codes",
    );
    expect((JSON.parse(await readFile(summary, "utf8")) as { requests: number }).requests === 1, "only the new row was sent");

    await writeFigures({
      part: "contract",
      name: "switching-target",
      violations: violations.length,
      refusedCommands: Object.keys(refusals).length,
      requestsAtOtherTarget: second.stats().requests,
      embeddedReruns: 1,
    });
    assert.deepEqual(violations, []);
  });

  test("an input edited while planning waits on a slow budget read: nothing unplanned is sent", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ latencyMs: 700 });
    const rowsPlanned = 40;
    const input = await writeText(dir, "in.csv", recipientsCsv(rowsPlanned));
    const out = join(dir, "out.csv");
    const { violations, expect } = checker();
    const done = collect(startCli(issueArgs(input, sim, ...campaignFlags(), "--out", out, "--concurrency", "8")));
    await waitFor(() => sim.stats().requests >= 1, 30_000, "the budget read to arrive");
    expect(sim.stats().createRequests === 0, "a create arrived before the budget read answered");
    // While the budget read waits: every amount edited, and rows appended (one of them invalid).
    const edited = recipientsCsv(rowsPlanned, { amount: () => 999 });
    await writeFile(input, `${edited}R-09998,105,late@example.com\nR-09999,not-a-number,late@example.com\n`);
    const result = await done;
    expect(result.code === 0, `exit ${result.code}: ${result.stderr}`);

    const ledger = ledgerByRequestId(sim);
    const rows = await readResult(out);
    const planned = new Set(rows.map((r) => r.request_id));
    const unplanned = [...ledger.values()].filter((e) => e.giftCardValue === 999 || !planned.has(e.requestId));
    expect(ledger.size === rowsPlanned, `ledger holds ${ledger.size} entries, planned ${rowsPlanned}`);
    expect(unplanned.length === 0, `${unplanned.length} unplanned body(ies) sent`);
    expect(
      rows.every((r) => r.recipient_id!.startsWith("R-000")),
      "the result holds only the planned recipients",
    );
    expect(rows.length === rowsPlanned, `result has ${rows.length} rows`);
    expect(
      rows.every((r) => r.status === "issued" && ledger.get(r.request_id!)?.code === r.points_code),
      "every planned row issued with the ledger's code",
    );

    await writeFigures({
      part: "contract",
      name: "input-edited-while-planning",
      violations: violations.length,
      rowsPlanned,
      rowsEdited: rowsPlanned,
      rowsAppended: 2,
      ledgerEntries: ledger.size,
      unplannedSent: unplanned.length,
    });
    assert.deepEqual(violations, []);
  });

  test("plan agrees with issue: the same exit code and reason for every condition that stops a run", async () => {
    const { violations, expect } = checker();
    const closedPort = async (): Promise<number> => {
      const server = createServer();
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const { port } = server.address() as { port: number };
      await new Promise<void>((r) => server.close(() => r()));
      return port;
    };
    interface Case {
      name: string;
      exit: number;
      reason: RegExp;
      setup(dir: string, input: string): Promise<string[]>;
    }
    const issueFirst = async (input: string, flags: string[]): Promise<void> => {
      const r = await runCli(["issue", input, ...flags]);
      assert.equal(r.code, 0, r.stderr);
    };
    const cases: Case[] = [
      {
        name: "invalid rows",
        exit: 2,
        reason: /1 invalid row\(s\)/,
        async setup(dir, input) {
          await writeFile(input, "recipient_id,amount,email\nR-1,1e3,a@example.com\n");
          return ["--base-url", (await startSimulator()).baseUrl, ...campaignFlags(), "--out", join(dir, "out.csv")];
        },
      },
      {
        name: "budgets unreadable",
        exit: 4,
        reason: /reading group budgets from .*: connection refused/,
        setup: async (dir) => ["--base-url", `http://127.0.0.1:${await closedPort()}`, ...campaignFlags(), "--out", join(dir, "out.csv")],
      },
      {
        name: "budget short",
        exit: 2,
        reason: /short by/,
        async setup(dir) {
          const sim = await startSimulator({ groups: [{ groupId: "29952775505428481", budget: 100, maxPeriodDays: 365, minAmount: 1 }] });
          return ["--base-url", sim.baseUrl, ...campaignFlags(), "--out", join(dir, "out.csv")];
        },
      },
      {
        name: "more than --max-total",
        exit: 2,
        reason: /more than --max-total/,
        setup: async (dir) => ["--base-url", (await startSimulator()).baseUrl, ...campaignFlags(), "--out", join(dir, "out.csv"), "--max-total", "10"],
      },
      {
        name: "target mismatch",
        exit: 2,
        reason: /is bound to the simulator at/,
        async setup(dir, input) {
          const out = join(dir, "out.csv");
          await issueFirst(input, ["--base-url", (await startSimulator()).baseUrl, ...campaignFlags(), "--out", out]);
          return ["--base-url", (await startSimulator()).baseUrl, ...campaignFlags(), "--out", out];
        },
      },
      {
        name: "campaign mismatch",
        exit: 2,
        reason: /belongs to campaign "first"/,
        async setup(dir, input) {
          const sim = await startSimulator();
          const out = join(dir, "out.csv");
          await issueFirst(input, ["--base-url", sim.baseUrl, ...campaignFlags("first"), "--out", out]);
          return ["--base-url", sim.baseUrl, ...campaignFlags("second"), "--out", out];
        },
      },
      {
        name: "result owned by another checkpoint",
        exit: 2,
        reason: /is the result of checkpoint/,
        async setup(dir, input) {
          const sim = await startSimulator();
          const out = join(dir, "out.csv");
          await issueFirst(input, ["--base-url", sim.baseUrl, ...campaignFlags("first"), "--out", out]);
          return ["--base-url", sim.baseUrl, ...campaignFlags("second"), "--out", out, "--state", join(dir, "second.checkpoint")];
        },
      },
      {
        name: "a run holds the checkpoint",
        exit: 5,
        reason: /another run holds this checkpoint/,
        async setup(dir) {
          const out = join(dir, "out.csv");
          const held = await acquireLock(join(dir, "out.checkpoint.lock"));
          after(() => held.release());
          return ["--base-url", (await startSimulator()).baseUrl, ...campaignFlags(), "--out", out];
        },
      },
      {
        name: "a row in doubt changed",
        exit: 3,
        reason: /changed after they were sent/,
        async setup(dir, input) {
          const sim = await startSimulator({ faults: { error500AfterCommit: 1 } });
          const out = join(dir, "out.csv");
          const first = await runCli(["issue", input, "--base-url", sim.baseUrl, ...campaignFlags(), "--out", out, "--max-attempts", "1"]);
          assert.equal(first.code, 4, first.stderr);
          sim.setFaults({});
          await writeFile(input, recipientsCsv(3).replace("R-00001,101,", "R-00001,555,"));
          return ["--base-url", sim.baseUrl, ...campaignFlags(), "--out", out, "--retry-failed"];
        },
      },
      {
        name: "rows changed after issuing",
        exit: 3,
        reason: /changed after they were sent/,
        async setup(dir, input) {
          const sim = await startSimulator();
          const out = join(dir, "out.csv");
          await issueFirst(input, ["--base-url", sim.baseUrl, ...campaignFlags(), "--out", out]);
          await writeFile(input, recipientsCsv(3).replace("R-00001,101,", "R-00001,555,"));
          return ["--base-url", sim.baseUrl, ...campaignFlags(), "--out", out];
        },
      },
    ];
    for (const c of cases) {
      const dir = await tempDir();
      const input = await writeText(dir, "in.csv", recipientsCsv(3));
      const flags = await c.setup(dir, input);
      const plan = await runCli(["plan", input, ...flags]);
      const issue = await runCli(["issue", input, ...flags, "--log-level", "silent"]);
      expect(plan.code === c.exit, `${c.name}: plan exited ${plan.code}, expected ${c.exit}: ${plan.stderr}`);
      expect(issue.code === c.exit, `${c.name}: issue exited ${issue.code}, expected ${c.exit}: ${issue.stderr}`);
      const reasonOf = (text: string): string | undefined => text.split("\n").find((line) => c.reason.test(line));
      const planReason = reasonOf(plan.stderr);
      // issue prints refusals on stderr; rows changed are part of its summary on stdout.
      const issueReason = reasonOf(issue.stderr) ?? reasonOf(issue.stdout);
      expect(planReason !== undefined, `${c.name}: plan does not name the reason: ${plan.stderr}`);
      expect(issueReason !== undefined, `${c.name}: issue does not name the reason: ${issue.stdout}${issue.stderr}`);
      if (c.exit !== 3) expect(planReason === issueReason, `${c.name}: plan says "${planReason}", issue says "${issueReason}"`);
    }
    await writeFigures({
      part: "contract",
      name: "plan-issue-agreement",
      violations: violations.length,
      conditions: cases.length,
      commandsRun: cases.length * 2,
    });
    assert.deepEqual(violations, []);
  });

  test("a checkpoint from the release before plans were recorded resumes: bound to its target once, issued codes kept, pending rows issued", async () => {
    const dir = await tempDir();
    const fixture = resolve(import.meta.dirname, "../fixtures/legacy-v1");
    const input = join(dir, "recipients.csv");
    await writeFile(input, await readFile(join(fixture, "recipients.csv")));
    // The old release recorded absolute paths; move them to this folder, re-encoding each line.
    const lines = (await readFile(join(fixture, "recipients.results.checkpoint"))).toString("utf8").split("\n").filter(Boolean);
    const moved = lines.map((line) => {
      const record = decodeLine(Buffer.from(line, "utf8")) as Record<string, unknown>;
      assert.ok(record, "every fixture line decodes");
      if (record.t === "run") Object.assign(record, { input, out: join(dir, "recipients.results.csv") });
      return encodeLine(record);
    });
    await writeFile(join(dir, "recipients.results.checkpoint"), Buffer.concat(moved), { mode: 0o600 });
    await writeFile(join(dir, "recipients.results.csv"), await readFile(join(fixture, "recipients.results.csv")), { mode: 0o600 });
    const oldRows = await readResult(join(fixture, "recipients.results.csv"));
    const { violations, expect } = checker();

    const sim = await startSimulator();
    const flags = [
      "--campaign",
      "legacy-2026",
      "--value",
      "500",
      "--name",
      "Legacy",
      "--group-id",
      "29952775505428481",
      "--start-at",
      "2099-04-01",
      "--end-at",
      "2099-06-30",
    ];
    const first = await runCli(["issue", input, "--base-url", sim.baseUrl, ...flags]);
    expect(first.code === 0, `resume exit ${first.code}: ${first.stdout}${first.stderr}`);
    expect(/checkpoint from an earlier release: bound to the simulator/.test(first.stderr), `one-time binding message: ${first.stderr}`);
    const rows = await readResult(join(dir, "recipients.results.csv"));
    const ledger = ledgerByRequestId(sim);
    let kept = 0;
    for (const old of oldRows) {
      const now = rows.find((r) => r.recipient_id === old.recipient_id);
      expect(now?.request_id === old.request_id, `${old.recipient_id}: requestId changed across the upgrade`);
      if (old.status === "issued") {
        kept++;
        expect(now?.status === "issued" && now.points_code === old.points_code, `${old.recipient_id}: issued code not kept`);
        expect(!ledger.has(old.request_id!), `${old.recipient_id}: an issued row was sent again`);
      } else {
        expect(
          now?.status === "issued" && ledger.get(old.request_id!)?.code === now.points_code,
          `${old.recipient_id}: pending row not issued under its requestId`,
        );
      }
    }
    const second = await runCli(["issue", input, "--base-url", sim.baseUrl, ...flags]);
    expect(second.code === 0 && !/earlier release/.test(second.stderr), `second run: ${second.code} ${second.stderr}`);
    const other = await startSimulator();
    const elsewhere = await runCli(["issue", input, "--base-url", other.baseUrl, ...flags]);
    expect(elsewhere.code === 2, `once bound, another target is refused (exit ${elsewhere.code})`);

    await writeFigures({
      part: "contract",
      name: "legacy-checkpoint-resume",
      violations: violations.length,
      rows: oldRows.length,
      issuedKept: kept,
      resent: ledger.size,
    });
    assert.deepEqual(violations, []);
  });
});
