import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { v5 as uuidv5 } from "uuid";
import { DEFAULT_GROUP, type FaultKind, type Simulator, type SimulatorGroup } from "../src/simulator/index.js";
import { collect, runCli, startCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, GROUP, readResult, recipientsCsv, type ResultRow } from "./support/csv.js";
import { startSimulator } from "./support/simulator.js";
import { assertLedgerMatchesResult, exists, fileMode, issueArgs, readAllFiles, RESULT_COLUMNS, waitFor } from "./support/job.js";

/**
 * The issue job end to end: the real CLI as a child process, the simulator over real HTTP in this
 * process, real files. Every check reads the simulator's ledger, the source of truth for money.
 */

const FAULT_FREE = 0;

function group(overrides: Partial<SimulatorGroup> = {}): SimulatorGroup {
  return { ...DEFAULT_GROUP, ...overrides };
}

function statuses(rows: readonly ResultRow[]): string[] {
  return rows.map((r) => r.status!);
}

function count<T>(items: readonly T[], predicate: (item: T) => boolean): number {
  return items.filter(predicate).length;
}

// ---- 1. happy path ------------------------------------------------------------------------------

/** Input with pass-through columns that need quoting (commas, quotes, newlines, non-ASCII). */
function richInput(count: number): string[][] {
  const rows = [["recipient_id", "amount", "email", "note"]];
  for (let i = 1; i <= count; i++) {
    const note = i % 5 === 0 ? `note, with "quotes"\nand a newline #${i}` : i % 3 === 0 ? `メモ ${i}` : "";
    rows.push([`M-${String(i).padStart(4, "0")}`, String(100 + i * 7), `user${i}@example.com`, note]);
  }
  return rows;
}

describe("happy path", () => {
  test("50 rows, --concurrency 8: all issued once, result equals ledger, files 0600; a rerun sends nothing and rewrites the same file", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ latencyMs: 20 });
    const input = richInput(50);
    const inputFile = await writeText(dir, "members.csv", stringify(input));
    const args = issueArgs(inputFile, sim, ...campaignFlags("spring"), "--concurrency", "8");

    const run = await runCli(args);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /50 rows — 50 issued, 0 failed, 0 pending/);

    // Default paths: <input stem>.results.csv and <result stem>.checkpoint beside it.
    const resultFile = join(dir, "members.results.csv");
    const checkpointFile = join(dir, "members.results.checkpoint");
    assert.equal(await fileMode(resultFile), 0o600);
    assert.equal(await fileMode(checkpointFile), 0o600);

    const resultText = await readFile(resultFile, "utf8");
    const table = parse(resultText) as string[][];
    assert.deepEqual(table[0], [...input[0]!, ...RESULT_COLUMNS]);
    assert.equal(table.length, 51);
    for (let i = 1; i <= 50; i++) assert.deepEqual(table[i]!.slice(0, 4), input[i], `input columns of row ${i + 1} untouched, in input order`);

    const rows = await readResult(resultFile);
    assert.deepEqual(statuses(rows), Array(50).fill("issued"));
    const ledger = assertLedgerMatchesResult(sim, rows, 50);
    for (const row of rows) {
      const entry = ledger.get(row.request_id!)!;
      assert.equal(entry.giftCardValue, Number(row.amount));
      assert.equal(entry.giftCardName, "テスト");
      assert.equal(entry.groupId, GROUP);
      assert.equal(entry.startAt, "2094-04-01");
      assert.equal(entry.endAt, "2094-06-30");
      assert.equal(row.error_code, "");
      assert.equal(row.error_message, "");
      assert.equal(row.attempts, "1");
      assert.match(row.paypay_request_id!, /^[A-Za-z0-9-]{1,64}$/);
      assert.ok(!Number.isNaN(Date.parse(row.issued_at!)), `issued_at ${row.issued_at}`);
      // The whole data object, every digit of the int64 group id as a bare number.
      assert.ok(row.response_data!.includes(`"groupId":${GROUP}`), row.response_data);
      const data = JSON.parse(row.response_data!) as Record<string, unknown>;
      assert.equal(data.giftCardCode, entry.code);
      assert.equal(data.requestId, row.request_id);
    }
    assert.equal(sim.stats().createRequests, 50);
    for (const calls of sim.callsByRequestId().values()) assert.equal(calls, 1);
    const maxConcurrent = sim.stats().maxConcurrentCreates;
    assert.ok(maxConcurrent >= 2 && maxConcurrent <= 8, `max concurrent creates ${maxConcurrent}, expected 2..8`);

    const ledgerBefore = sim.ledger();
    const callsBefore = sim.callsByRequestId();
    const createsBefore = sim.stats().createRequests;
    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stdout, /50 rows — 50 issued, 0 failed, 0 pending/);
    assert.equal(sim.stats().createRequests, createsBefore, "a rerun sends no create request");
    assert.deepEqual(sim.callsByRequestId(), callsBefore);
    assert.deepEqual(sim.ledger(), ledgerBefore);
    assert.equal(await readFile(resultFile, "utf8"), resultText, "the rerun rewrites a byte-identical result");
    assert.equal(await fileMode(resultFile), 0o600);
  });

  test("rows appended to the CSV after a run are issued on the rerun, and only they are sent", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(10));
    const out = join(dir, "out.csv");
    const args = issueArgs(inputFile, sim, ...campaignFlags(), "--out", out);
    assert.equal((await runCli(args)).code, 0);
    const callsBefore = sim.callsByRequestId();

    await writeFile(inputFile, recipientsCsv(15));
    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, rerun.stderr);
    const rows = await readResult(out);
    assert.deepEqual(statuses(rows), Array(15).fill("issued"));
    assertLedgerMatchesResult(sim, rows, 15);
    const callsAfter = sim.callsByRequestId();
    assert.equal(sim.stats().createRequests, 15);
    for (const [id, calls] of callsBefore) assert.equal(callsAfter.get(id), calls, `old row ${id} was not resent`);
  });
});

// ---- 2. requestId -------------------------------------------------------------------------------

describe("requestId", () => {
  test("is UUIDv5(namespace, JSON [campaign, recipient_id]): the same in two separate directories, different for another campaign", async () => {
    const sim = await startSimulator();
    const csv = recipientsCsv(5);
    const runIn = async (campaign: string): Promise<ResultRow[]> => {
      const dir = await tempDir();
      const inputFile = await writeText(dir, "in.csv", csv);
      const result = await runCli(issueArgs(inputFile, sim, ...campaignFlags(campaign)));
      assert.equal(result.code, 0, result.stderr);
      return readResult(join(dir, "in.results.csv"));
    };
    const first = await runIn("camp-a");
    const second = await runIn("camp-a");
    const other = await runIn("camp-b");

    assert.deepEqual(
      second.map((r) => r.request_id),
      first.map((r) => r.request_id),
    );
    // A lost checkpoint cannot double-issue: the second directory got the same codes back.
    assert.deepEqual(
      second.map((r) => r.points_code),
      first.map((r) => r.points_code),
    );
    for (let i = 0; i < 5; i++) assert.notEqual(other[i]!.request_id, first[i]!.request_id);
    assert.equal(new Set(other.map((r) => r.request_id)).size, 5);
    assert.equal(sim.ledger().length, 10, "camp-a issued 5 codes once, camp-b 5 more");

    // The pinned formula and one literal vector: these must never change between versions.
    const NAMESPACE = "8f0e4b5c-2f47-5a55-9d37-5c1f4f6b2a10";
    for (const row of [...first, ...other]) {
      const campaign = other.includes(row) ? "camp-b" : "camp-a";
      assert.equal(row.request_id, uuidv5(JSON.stringify([campaign, row.recipient_id]), NAMESPACE));
    }
    assert.equal(uuidv5(JSON.stringify(["c1", "R-1"]), NAMESPACE), "bbdb35fb-2103-5cd4-b046-1b079cdde65b");
  });
});

// ---- 3. validation ------------------------------------------------------------------------------

describe("validation", () => {
  test("several different bad rows: exit 2, every one listed with row and column, zero requests, no result file", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const longName = "あ".repeat(41);
    const maxName = "あ".repeat(40); // 40 characters, 120 bytes: valid
    const lines = [
      "recipient_id,amount,gift_card_name,group_id,start_at,end_at,memo",
      "A1,500,,,,,ok", // 2
      "A2,1e3,,,,,x", // 3
      "A3,0x10,,,,,x", // 4
      "A4, 500,,,,,x", // 5
      "A5,1.5,,,,,x", // 6
      "A6,1000000,,,,,x", // 7
      `A7,500,${longName},,,,x`, // 8
      "A8,500,,,2094-02-30,,x", // 9
      "A9,500,,,2094-07-01,2094-06-30,x", // 10
      "A1,500,,,,,dup", // 11
      "A10,500,,9223372036854775808,,,x", // 12
      `A11,500,${maxName},,,,ok`, // 13
      "A12,999999,,,,,ok", // 14
    ];
    const inputFile = await writeText(dir, "bad.csv", `${lines.join("\n")}\n`);
    const out = join(dir, "bad.results.csv");
    const problems = join(dir, "problems.csv");
    const result = await runCli(issueArgs(inputFile, sim, ...campaignFlags(), "--out", out, "--problems-csv", problems));

    assert.equal(result.code, 2, result.stderr);
    const expected: Array<[number, string, string]> = [
      [3, "amount", "1e3"],
      [4, "amount", "0x10"],
      [5, "amount", " 500"],
      [6, "amount", "1.5"],
      [7, "amount", "1000000"],
      [8, "gift_card_name", longName],
      [9, "start_at", "2094-02-30"],
      [10, "end_at", "2094-06-30"],
      [11, "recipient_id", "A1"],
      [12, "group_id", "9223372036854775808"],
    ];
    // Every problem in the CSV; on the terminal, the five amount rows share one line.
    const listed = (await readResult(problems)).map((p) => [Number(p.row), p.column, p.value]);
    assert.deepEqual(listed, expected, "exactly the 10 problems, good rows not listed");
    assert.match(result.stderr, /: rows 3–7 \(5 rows\), column amount, values "1e3", "0x10", " 500", …: must be a whole number of yen/);
    for (const [row, column, value] of expected.slice(5)) {
      assert.ok(result.stderr.includes(`row ${row}, column ${column}, value ${JSON.stringify(value)}`), `stderr lists row ${row} ${column}:\n${result.stderr}`);
    }
    assert.match(result.stderr, /10 invalid row\(s\), 10 problem\(s\); nothing was sent/);
    for (const good of [2, 13, 14]) assert.ok(!result.stderr.includes(`: row ${good}, `), `row ${good} is valid`);

    assert.equal(sim.stats().requests, 0, "not even a budget read");
    assert.equal(await exists(out), false, "no result file");
  });
});

// ---- 4. faults ----------------------------------------------------------------------------------

interface FaultCase {
  kind: FaultKind;
  rate: number;
  extra: string[];
}

const FAULT_CASES: FaultCase[] = [
  // Retry-After: 1 on 429/503: every row in flight at once keeps the run to a few seconds.
  { kind: "rateLimit", rate: 0.3, extra: ["--concurrency", "40"] },
  { kind: "maintenance", rate: 0.3, extra: ["--concurrency", "40"] },
  { kind: "error500BeforeCommit", rate: 0.3, extra: ["--concurrency", "8"] },
  { kind: "error500AfterCommit", rate: 0.3, extra: ["--concurrency", "8"] },
  { kind: "resetBeforeCommit", rate: 0.3, extra: ["--concurrency", "8"] },
  { kind: "resetAfterCommit", rate: 0.3, extra: ["--concurrency", "8"] },
  { kind: "truncateAfterCommit", rate: 0.3, extra: ["--concurrency", "8"] },
  { kind: "hangAfterCommit", rate: 0.2, extra: ["--concurrency", "8", "--timeout", "1000"] },
];

describe("faults: every row issued exactly once", { concurrency: true }, () => {
  for (const { kind, rate, extra } of FAULT_CASES) {
    test(`${kind} at ${rate}`, async () => {
      const dir = await tempDir();
      const sim = await startSimulator({ faults: { [kind]: rate }, seed: 7 });
      const inputFile = await writeText(dir, "in.csv", recipientsCsv(40));
      const out = join(dir, "out.csv");
      const result = await runCli(
        issueArgs(inputFile, sim, ...campaignFlags(`fault-${kind}`), "--out", out, "--max-attempts", "30", "--log-level", "error", ...extra),
      );

      assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
      const stats = sim.stats();
      assert.ok(stats.faultsInjected[kind] > 0, `${kind} was injected`);
      for (const [other, n] of Object.entries(stats.faultsInjected)) if (other !== kind) assert.equal(n, FAULT_FREE, `${other} was not enabled`);

      const rows = await readResult(out);
      assert.deepEqual(statuses(rows), Array(40).fill("issued"));
      assertLedgerMatchesResult(sim, rows, 40);
      const calls = sim.callsByRequestId();
      if (kind === "hangAfterCommit") {
        // A client timeout can abort a request before the server has read it (a loaded machine), so
        // the server reads at most what the client counted. Each hang is on a row's first commit and
        // its answer is never read: that row needed at least one more request the server read.
        for (const row of rows) {
          const n = calls.get(row.request_id!) ?? 0;
          assert.ok(n >= 1 && Number(row.attempts) >= n, `attempts of ${row.recipient_id}: ${row.attempts}, the server read ${n}`);
        }
        assert.ok(
          stats.createRequests >= 40 + stats.faultsInjected.hangAfterCommit,
          `${stats.createRequests} create requests for 40 rows and ${stats.faultsInjected.hangAfterCommit} hangs`,
        );
      } else {
        // No client timeout can fire: the attempts column counts every request the simulator read for that row.
        for (const row of rows) assert.equal(Number(row.attempts), calls.get(row.request_id!), `attempts of ${row.recipient_id}`);
      }
      assert.ok(stats.createRequests > 40, "some rows needed retries");
    });
  }
});

// ---- 5. budget ----------------------------------------------------------------------------------

describe("budget", () => {
  test("short → exit 2 before any create; --allow-partial → issued in input order until it ends, exit 4; top up → exit 0", async () => {
    const dir = await tempDir();
    // recipientsCsv amounts: row i asks 100 + i % 50 → 101, 102, …, 120 for 20 rows (total 2210).
    const firstTen = Array.from({ length: 10 }, (_, i) => 101 + i).reduce((a, b) => a + b, 0); // 1055
    const budget = firstTen + 50; // the 11th row (111) does not fit, the 12th neither
    const sim = await startSimulator({ groups: [group({ budget })] });
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(20));
    const out = join(dir, "out.csv");
    const args = issueArgs(inputFile, sim, ...campaignFlags(), "--out", out);

    const refused = await runCli(args);
    assert.equal(refused.code, 2, refused.stderr);
    // Amounts may be printed with thousands separators (¥2,210): compare without them.
    assert.ok(
      refused.stderr.replaceAll(",", "").includes(`group ${GROUP} needs ¥2210 for 20 row(s) but has ¥${budget} left: short by ¥${2210 - budget}`),
      refused.stderr,
    );
    assert.equal(sim.stats().createRequests, 0);
    assert.equal(sim.ledger().length, 0);
    assert.equal(await exists(out), false);

    const partial = await runCli([...args, "--allow-partial"]);
    assert.equal(partial.code, 4, partial.stderr);
    assert.match(partial.stdout, /budget exhausted/);
    const rows = await readResult(out);
    assert.deepEqual(statuses(rows), [...Array(10).fill("issued"), ...Array(10).fill("pending")]);
    assertLedgerMatchesResult(sim, rows, 10);
    assert.equal(sim.stats().createRequests, 10, "rows that do not fit are not even tried");
    assert.equal(sim.budgets()[0]!.budget, 50);
    for (const row of rows.slice(10)) assert.equal(row.points_code, "");

    sim.setBudget(GROUP, 100_000);
    const topped = await runCli(args);
    assert.equal(topped.code, 0, topped.stderr);
    const final = await readResult(out);
    assert.deepEqual(statuses(final), Array(20).fill("issued"));
    assertLedgerMatchesResult(sim, final, 20);
    assert.deepEqual(
      final.slice(0, 10).map((r) => r.points_code),
      rows.slice(0, 10).map((r) => r.points_code),
      "codes issued before the top-up are unchanged",
    );
    for (const calls of sim.callsByRequestId().values()) assert.equal(calls, 1);
  });

  test("BUDGET_NOT_ENOUGH mid-run stops the group at once: rest pending, exit 4; top up → exit 0", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ latencyMs: 40 });
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(30));
    const out = join(dir, "out.csv");
    const args = issueArgs(inputFile, sim, ...campaignFlags(), "--out", out, "--concurrency", "2");
    const child = startCli(args);
    const done = collect(child);
    await waitFor(() => sim.ledger().length >= 4, 15_000, "4 codes issued");
    sim.setBudget(GROUP, 0); // someone else spent the budget meanwhile
    const result = await done;

    assert.equal(result.code, 4, result.stderr);
    const rows = await readResult(out);
    const issued = count(rows, (r) => r.status === "issued");
    assert.ok(issued >= 4 && issued < 30, `issued ${issued}`);
    assert.equal(
      count(rows, (r) => r.status === "pending"),
      30 - issued,
    );
    assert.equal(
      count(rows, (r) => r.status === "failed"),
      0,
      "BUDGET_NOT_ENOUGH is not the row's fault",
    );
    assertLedgerMatchesResult(sim, rows, issued);
    const refusedCreates = sim.stats().rejectedByCode.BUDGET_NOT_ENOUGH ?? 0;
    assert.ok(refusedCreates >= 1 && refusedCreates <= 2, `stopped after the requests in flight (${refusedCreates} refused), did not try every row`);
    assert.equal(
      count(rows, (r) => r.error_code === "BUDGET_NOT_ENOUGH"),
      refusedCreates,
    );

    sim.setBudget(GROUP, 100_000);
    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, rerun.stderr);
    const final = await readResult(out);
    assert.deepEqual(statuses(final), Array(30).fill("issued"));
    assertLedgerMatchesResult(sim, final, 30);
  });

  test("retries exhausted → pending (never failed), exit 4; rerun resolves the in-doubt rows with the same requestId", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ faults: { error500AfterCommit: 1 } });
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(10));
    const out = join(dir, "out.csv");
    const args = issueArgs(inputFile, sim, ...campaignFlags(), "--out", out, "--max-attempts", "1", "--log-level", "error");

    const first = await runCli(args);
    assert.equal(first.code, 4, first.stderr);
    const rows = await readResult(out);
    assert.deepEqual(statuses(rows), Array(10).fill("pending"));
    for (const row of rows) assert.equal(row.error_code, "INTERNAL_SERVER_ERROR");
    assert.equal(sim.ledger().length, 10, "every request was committed, only the answers were lost");

    sim.setFaults({});
    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, rerun.stderr);
    const final = await readResult(out);
    assert.deepEqual(statuses(final), Array(10).fill("issued"));
    assertLedgerMatchesResult(sim, final, 10);
    for (const row of final) assert.equal(row.attempts, "2");
  });

  test("rows in doubt that were already charged do not block the resume when the budget was exactly enough", async () => {
    // Every row below was charged on the first run (its answer was lost). Resending them costs
    // nothing (same requestId → replay), so a resume must not demand the budget a second time.
    const dir = await tempDir();
    const sim = await startSimulator({ groups: [group({ budget: 1000 })], faults: { error500AfterCommit: 1 } });
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(10, { amount: () => 100 }));
    const out = join(dir, "out.csv");
    const args = issueArgs(inputFile, sim, ...campaignFlags(), "--out", out, "--max-attempts", "1", "--log-level", "error");

    assert.equal((await runCli(args)).code, 4);
    assert.equal(sim.ledger().length, 10);
    assert.equal(sim.budgets()[0]!.budget, 0);

    sim.setFaults({});
    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, `resume refused although nothing more is owed:\n${rerun.stderr}`);
    const final = await readResult(out);
    assert.deepEqual(statuses(final), Array(10).fill("issued"));
    assertLedgerMatchesResult(sim, final, 10);
  });
});

// ---- 6. permanent rejections --------------------------------------------------------------------

describe("permanent rejections", () => {
  test("a period longer than the group's maxPeriodDays, or an unknown group, is refused up front: exit 2, no create", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ groups: [group({ maxPeriodDays: 30 })] });
    const lines = [
      "recipient_id,amount,start_at,end_at",
      "P1,100,2094-04-01,2094-05-01", // 30 days: allowed
      "P2,100,2094-04-01,2094-04-01",
      "P3,100,2094-04-01,2094-05-02", // 31 days: too long
      "P4,100,2094-04-01,2094-05-01",
    ];
    const inputFile = await writeText(dir, "in.csv", `${lines.join("\n")}\n`);
    const out = join(dir, "out.csv");
    const result = await runCli(issueArgs(inputFile, sim, ...campaignFlags(), "--out", out));
    assert.equal(result.code, 2, result.stderr);
    assert.ok(result.stderr.includes(`group ${GROUP} allows at most 30 days from start_at to end_at; 1 row(s) ask for more (first: row 4)`), result.stderr);
    assert.equal(sim.stats().createRequests, 0);
    assert.equal(await exists(out), false);

    const otherGroup = ["--campaign", "other", "--name", "テスト", "--group-id", "123456789012345678", "--start-at", "2094-04-01", "--end-at", "2094-04-02"];
    const unknown = await runCli(issueArgs(inputFile, sim, ...otherGroup, "--out", join(dir, "u.csv")));
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /group 123456789012345678 does not exist for this merchant \(4 rows use it\)/);
    assert.equal(sim.stats().createRequests, 0);
  });

  test("a row rejected at send time is failed with its code (exit 3) and not resent unless --retry-failed", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ groups: [group({ minAmount: 200 })] });
    const amounts = [300, 100, 250, 200];
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(4, { amount: (i) => amounts[i - 1]! }));
    const out = join(dir, "out.csv");
    const args = issueArgs(inputFile, sim, ...campaignFlags(), "--out", out);

    const first = await runCli(args);
    assert.equal(first.code, 3, first.stderr);
    assert.match(first.stdout, /failed INVALID_CHARGE_CODE_AMOUNT: 1/);
    const rows = await readResult(out);
    assert.deepEqual(statuses(rows), ["issued", "failed", "issued", "issued"]);
    assert.equal(rows[1]!.error_code, "INVALID_CHARGE_CODE_AMOUNT");
    assert.match(rows[1]!.error_message!, /minimum of 200/);
    assert.equal(rows[1]!.points_code, "");
    assert.equal(rows[1]!.attempts, "1", "a permanent rejection is not retried");
    assertLedgerMatchesResult(sim, rows, 3);
    const failedId = rows[1]!.request_id!;
    assert.equal(sim.callsByRequestId().get(failedId), 1);

    const callsBefore = sim.callsByRequestId();
    const again = await runCli(args);
    assert.equal(again.code, 3, again.stderr);
    assert.deepEqual(sim.callsByRequestId(), callsBefore, "a failed row is not resent");
    assert.deepEqual(statuses(await readResult(out)), ["issued", "failed", "issued", "issued"]);

    const retried = await runCli([...args, "--retry-failed"]);
    assert.equal(retried.code, 3, retried.stderr);
    const callsAfter = sim.callsByRequestId();
    assert.equal(callsAfter.get(failedId), 2, "--retry-failed sends it again, with the same requestId");
    for (const row of rows) if (row.request_id !== failedId) assert.equal(callsAfter.get(row.request_id!), 1, "issued rows are never resent");
    const final = await readResult(out);
    assert.deepEqual(statuses(final), ["issued", "failed", "issued", "issued"]);
    assert.equal(final[1]!.attempts, "2");
  });
});

// ---- 7. fatal auth ------------------------------------------------------------------------------

describe("fatal auth", () => {
  test("a wrong secret: exit 4, nothing issued, the secret appears in no output and no file", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(5));
    const out = join(dir, "out.csv");
    const secret = "WrongSecret-7f3a9c1e5b";
    const env = { PAYPAY_API_KEY: "local-api-key", PAYPAY_API_SECRET: secret, PAYPAY_MERCHANT_ID: "local-merchant" };
    // The budget read is the first signed request: its 401 is a fatal API error (kind "fatal-api" → exit 4).
    const result = await runCli(issueArgs(inputFile, sim, ...campaignFlags(), "--out", out, "--log-level", "trace"), { env });

    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /UNAUTHORIZED/);
    assert.equal(sim.stats().createRequests, 0);
    assert.equal(sim.ledger().length, 0);
    assert.equal(sim.stats().rejectedByCode.UNAUTHORIZED, 1);
    // The very first request (the budget read) was refused: nothing was sent, so no result file.
    assert.equal(await exists(out), false, "no result file when nothing was sent");

    assert.ok(!result.stdout.includes(secret), "stdout");
    assert.ok(!result.stderr.includes(secret), "stderr");
    const files = await readAllFiles(dir);
    // A run refused before its plan was recorded leaves no checkpoint and no copy of its input.
    assert.deepEqual(
      files.filter((f) => /\.checkpoint(\.input-|$)/.test(f.path)).map((f) => f.path),
      [],
    );
    for (const file of files) assert.ok(!file.text.includes(secret), `${file.path} holds the secret`);
  });

  test("a custom secret from the environment, used through retries and a full run, appears in no output and no file", async () => {
    const dir = await tempDir();
    const secret = "RightSecret-93b1d07c4e";
    const credentials = { apiKey: "custom-key", apiSecret: secret, merchantId: "custom-merchant" };
    const sim = await startSimulator({ credentials, faults: { error500AfterCommit: 0.3, truncateAfterCommit: 0.2 }, seed: 3 });
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(20));
    const out = join(dir, "out.csv");
    const env = { PAYPAY_API_KEY: credentials.apiKey, PAYPAY_API_SECRET: secret, PAYPAY_MERCHANT_ID: credentials.merchantId };
    const summary = join(dir, "summary.json");
    const result = await runCli(
      issueArgs(inputFile, sim, ...campaignFlags(), "--out", out, "--log-level", "trace", "--summary-json", summary, "--max-attempts", "30"),
      { env },
    );

    assert.equal(result.code, 0, result.stderr);
    assert.ok(sim.stats().faultsInjected.error500AfterCommit > 0, "retries happened");
    assertLedgerMatchesResult(sim, await readResult(out), 20);
    assert.ok(!result.stdout.includes(secret), "stdout");
    assert.ok(!result.stderr.includes(secret), "stderr");
    const files = await readAllFiles(dir);
    assert.deepEqual(
      files
        .map((f) => f.path)
        .filter((p) => p === out || p === summary)
        .sort(),
      [out, summary].sort(),
    );
    for (const file of files) assert.ok(!file.text.includes(secret), `${file.path} holds the secret`);
  });

  test("UNAUTHORIZED on create stops the whole run at once: exit 4, at most the in-flight rows tried", async () => {
    const dir = await tempDir();
    let sim: Simulator | undefined;
    // The server's clock jumps 10 minutes once the first create arrives: the budget read passes,
    // every create is refused as UNAUTHORIZED (epoch too far from the server clock).
    const now = (): number => Date.now() + ((sim?.stats().createRequests ?? 0) > 0 ? 600_000 : 0);
    sim = await startSimulator({ now, latencyMs: 20 });
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(30));
    const out = join(dir, "out.csv");
    const result = await runCli(issueArgs(inputFile, sim, ...campaignFlags(), "--out", out, "--concurrency", "4"));

    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stdout, /halted: PayPay refused the run: HTTP 401 UNAUTHORIZED/);
    const stats = sim.stats();
    assert.ok(stats.createRequests >= 1 && stats.createRequests <= 4, `creates sent: ${stats.createRequests}`);
    assert.equal(stats.rejectedByCode.UNAUTHORIZED, stats.createRequests);
    assert.equal(sim.ledger().length, 0);
    const rows = await readResult(out);
    assert.deepEqual(statuses(rows), Array(30).fill("pending"));
    assert.equal(
      count(rows, (r) => r.error_code === "UNAUTHORIZED"),
      stats.createRequests,
    );
    for (const calls of sim.callsByRequestId().values()) assert.equal(calls, 1, "a fatal answer is not retried");
  });
});

// ---- 8. lock ------------------------------------------------------------------------------------

describe("lock", () => {
  test("two runs at once on one checkpoint: the second exits 5 while the first is alive", async () => {
    const dir = await tempDir();
    // The first run is held in flight for as long as the test wants: the rate limit admits one
    // create and refuses the rest with Retry-After: 1 until it is lifted, and 100 attempts a row
    // outlast any start-up of the second run.
    const sim = await startSimulator({ rateLimit: { ratePerSecond: 0.001, burst: 1, retryAfterSeconds: 1 } });
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(60));
    const state = join(dir, "run.checkpoint");
    const out = join(dir, "out.csv");
    const args = issueArgs(inputFile, sim, ...campaignFlags(), "--state", state, "--out", out, "--concurrency", "2", "--max-attempts", "100");
    const first = startCli(args);
    const firstDone = collect(first);
    let firstExited = false;
    first.once("exit", () => (firstExited = true));
    await waitFor(() => firstExited || sim.stats().throttledByBucket > 0, 15_000, "the first run to be held by the rate limit");
    assert.equal(firstExited, false, "the first run is in flight");
    const second = await runCli(args);
    assert.equal(second.code, 5, second.stderr);
    assert.ok(second.stderr.includes(`pid ${first.pid}`), second.stderr);
    assert.equal(firstExited, false, "the first run was in flight throughout");
    sim.setRateLimit(undefined);
    const firstResult = await firstDone;
    assert.equal(firstResult.code, 0, firstResult.stderr);
    const rows = await readResult(out);
    assertLedgerMatchesResult(sim, rows, 60);
    // The second run sent nothing: every request the server read is one the first run counted.
    const calls = sim.callsByRequestId();
    for (const row of rows) assert.equal(Number(row.attempts), calls.get(row.request_id!), `attempts of ${row.recipient_id}`);
  });
});

// ---- 9. int64 -----------------------------------------------------------------------------------

describe("int64 group ids", () => {
  test("ids above 2^53 reach the simulator intact, from --group-id and from a per-row group_id", async () => {
    const dir = await tempDir();
    const MAX = "9223372036854775807";
    const sim = await startSimulator({ groups: [group(), group({ groupId: MAX })] });
    const lines = ["recipient_id,amount,group_id", "G1,100,", `G2,200,${MAX}`, `G3,300,${GROUP}`];
    const inputFile = await writeText(dir, "in.csv", `${lines.join("\n")}\n`);
    const out = join(dir, "out.csv");
    const result = await runCli(issueArgs(inputFile, sim, ...campaignFlags(), "--out", out));
    assert.equal(result.code, 0, result.stderr);
    const rows = await readResult(out);
    const ledger = assertLedgerMatchesResult(sim, rows, 3);
    assert.deepEqual(
      rows.map((r) => ledger.get(r.request_id!)!.groupId),
      [GROUP, MAX, GROUP],
    );
    assert.ok(rows[1]!.response_data!.includes(`"groupId":${MAX}`), rows[1]!.response_data);
  });

  test("a groupId given only as a bare JSON number in --config keeps every digit", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const config = await writeText(
      dir,
      "campaign.json",
      `{"campaign":"cfg-only","groupId":${GROUP},"name":"Config","value":500,"startAt":"2094-04-01","endAt":"2094-04-30"}`,
    );
    const inputFile = await writeText(dir, "in.csv", "recipient_id\nC1\nC2\n");
    const out = join(dir, "out.csv");
    const result = await runCli(["issue", inputFile, "--config", config, "--base-url", sim.baseUrl, "--out", out]);
    assert.equal(result.code, 0, result.stderr);
    const rows = await readResult(out);
    const ledger = assertLedgerMatchesResult(sim, rows, 2);
    for (const entry of ledger.values()) {
      assert.equal(entry.groupId, "29952775505428481");
      assert.equal(entry.giftCardValue, 500);
      assert.equal(entry.giftCardName, "Config");
    }
  });
});

// ---- 10. checkpoint campaign ------------------------------------------------------------------

describe("checkpoint", () => {
  test("belongs to one campaign: another --campaign on it → exit 2 naming both, nothing sent", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(3));
    const state = join(dir, "shared.checkpoint");
    const first = await runCli(issueArgs(inputFile, sim, ...campaignFlags("alpha-2026"), "--state", state, "--out", join(dir, "a.csv")));
    assert.equal(first.code, 0, first.stderr);
    const requestsBefore = sim.stats().requests;
    const checkpointBefore = await readFile(state);

    const other = await runCli(issueArgs(inputFile, sim, ...campaignFlags("beta-2026"), "--state", state, "--out", join(dir, "b.csv")));
    assert.equal(other.code, 2, other.stderr);
    assert.match(other.stderr, /"alpha-2026"/);
    assert.match(other.stderr, /"beta-2026"/);
    assert.equal(sim.stats().requests, requestsBefore);
    assert.deepEqual(await readFile(state), checkpointBefore, "the checkpoint is left as it was");
    assert.equal(await exists(join(dir, "b.csv")), false);
  });

  // ---- 11. changed row ------------------------------------------------------------------------

  test("a row changed after it was issued is not resent: REQUEST_CHANGED with the original code, exit 3 (even with --retry-failed)", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(5));
    const out = join(dir, "out.csv");
    const args = issueArgs(inputFile, sim, ...campaignFlags(), "--out", out);
    assert.equal((await runCli(args)).code, 0);
    const before = await readResult(out);
    const callsBefore = sim.callsByRequestId();
    const ledgerBefore = sim.ledger();

    // Row 3 (R-00003) asked for 103; now it asks for 999.
    await writeFile(inputFile, recipientsCsv(5, { amount: (i) => (i === 3 ? 999 : 100 + (i % 50)) }));
    for (const extra of [[], ["--retry-failed"]]) {
      const rerun = await runCli([...args, ...extra]);
      assert.equal(rerun.code, 3, rerun.stderr);
      assert.match(rerun.stdout, /1 row\(s\) changed after they were sent/);
      assert.deepEqual(sim.callsByRequestId(), callsBefore, "nothing was resent");
      assert.deepEqual(sim.ledger(), ledgerBefore);
      const rows = await readResult(out);
      assert.equal(rows[2]!.amount, "999");
      assert.equal(rows[2]!.status, "issued");
      assert.equal(rows[2]!.error_code, "REQUEST_CHANGED");
      assert.equal(rows[2]!.points_code, before[2]!.points_code, "the code shown is the one issued for the original request");
      for (const i of [0, 1, 3, 4]) {
        assert.equal(rows[i]!.status, "issued");
        assert.equal(rows[i]!.error_code, "");
        assert.equal(rows[i]!.points_code, before[i]!.points_code);
      }
    }
  });
});

// ---- 12. SIGTERM ----------------------------------------------------------------------------------

describe("signals", () => {
  test("SIGTERM mid-run: in-flight requests finish, exit 143, result holds issued + pending; rerun completes exactly once", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ latencyMs: 200 });
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(200));
    const out = join(dir, "out.csv");
    const args = issueArgs(inputFile, sim, ...campaignFlags(), "--out", out);
    const child = startCli([...args, "--concurrency", "4"]);
    const done = collect(child);
    await waitFor(() => sim.ledger().length >= 8, 20_000, "8 codes issued");
    child.kill("SIGTERM");
    const result = await done;

    assert.equal(result.code, 143, result.stderr);
    assert.equal(result.signal, null, "exited by itself after flushing, not killed");
    const rows = await readResult(out);
    assert.equal(rows.length, 200);
    const issued = count(rows, (r) => r.status === "issued");
    assert.ok(issued >= 8 && issued < 200, `issued ${issued}`);
    assert.equal(
      count(rows, (r) => r.status === "pending"),
      200 - issued,
    );
    // In-flight requests were let finish and recorded: the result knows every code the ledger has.
    assertLedgerMatchesResult(sim, rows, issued);
    const firstPending = rows.findIndex((r) => r.status === "pending");
    assert.deepEqual(statuses(rows.slice(firstPending)), Array(200 - firstPending).fill("pending"), "issued in input order");

    const rerun = await runCli([...args, "--concurrency", "32"]);
    assert.equal(rerun.code, 0, rerun.stderr);
    const final = await readResult(out);
    assert.deepEqual(statuses(final), Array(200).fill("issued"));
    assertLedgerMatchesResult(sim, final, 200);
    for (const [id, calls] of sim.callsByRequestId()) assert.equal(calls, 1, `${id} sent once in all`);
    for (let i = 0; i < 200; i++) if (rows[i]!.status === "issued") assert.equal(final[i]!.points_code, rows[i]!.points_code);
  });
});
