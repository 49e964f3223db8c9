import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { JournalStore } from "../src/checkpoint/journal-store.js";
import type { RowState } from "../src/checkpoint/records.js";
import { decideRow } from "../src/job/decide.js";
import { checkBudgets, Planner } from "../src/job/plan.js";
import { prepareRow } from "../src/job/prepared-row.js";
import { tempDir } from "./support/cli.js";

describe("decideRow: exactly-once on resume", () => {
  const state = (status: RowState["status"], fp = "same"): RowState => ({ status, fp, attempts: 1, inDoubt: status === "sent" || status === "pending" });
  const table: Array<[RowState | undefined, string, boolean, string]> = [
    [undefined, "same", false, "send"],
    [state("issued"), "same", false, "done"],
    [state("issued"), "same", true, "done"],
    [state("issued"), "other", false, "conflict"],
    [state("issued"), "other", true, "conflict"],
    [state("failed"), "same", false, "keep-failed"],
    [state("failed"), "same", true, "send"],
    [state("sent"), "same", false, "send"],
    [state("pending"), "same", false, "send"],
    [state("sent"), "other", false, "changed"],
    // In doubt, another body: never sent, even with --retry-failed (a code may exist for what was sent).
    [state("pending"), "other", true, "changed"],
    [state("sent"), "other", true, "changed"],
    // Pending but not in doubt (say, after BUDGET_NOT_ENOUGH): nothing was issued, --retry-failed sends the new body.
    [{ status: "pending", fp: "same", attempts: 1, inDoubt: false }, "other", true, "send"],
    [{ status: "pending", fp: "same", attempts: 1, inDoubt: false }, "other", false, "changed"],
  ];
  for (const [s, fp, retryFailed, expected] of table) {
    test(`${s?.status ?? "unknown"} with ${fp} body${retryFailed ? " and --retry-failed" : ""} → ${expected}`, () => {
      assert.equal(decideRow(fp, s, retryFailed), expected);
    });
  }
});

describe("planner and budget check", () => {
  const row = (n: number, value: number, groupId = "29952775505428481", endAt = "2094-06-30") =>
    prepareRow("c", { row: n, recipientId: `r${n}`, request: { groupId, giftCardName: "n", giftCardValue: value, startAt: "2094-04-01", endAt } });

  test("totals per group, duplicates listed with the first row, budgets compared", () => {
    const planner = new Planner(undefined, false);
    planner.add({ kind: "header", header: ["recipient_id"], index: {} as never, problems: [] });
    for (const [n, v] of [
      [2, 100],
      [3, 250],
      [4, 100],
    ] as const)
      planner.add({ kind: "row", fields: [], prepared: row(n, v) });
    planner.add({ kind: "row", fields: [], prepared: row(3, 1) });
    planner.add({ kind: "row", fields: [], prepared: row(6, 40, "7", "2095-06-30") });
    const plan = planner.finish("in.csv");
    assert.deepEqual(
      plan.problems.map((p) => [p.row, p.column, p.rule]),
      [[3, "recipient_id", "duplicates row 3; each recipient may appear once"]],
    );
    assert.equal(plan.groups.get("29952775505428481")?.sendAmount, 450);
    assert.equal(plan.actions.send, 4);
    const problems = checkBudgets(plan, [
      { groupId: "29952775505428481", budget: 400, maxPeriodDays: 365 },
      { groupId: "7", budget: 1000, maxPeriodDays: 90 },
    ]);
    assert.deepEqual(
      problems.map((p) => [p.groupId, p.kind, p.shortfall]),
      [
        ["29952775505428481", "shortfall", 50],
        ["7", "period", undefined],
      ],
    );
    assert.match(problems[1]!.message, /at most 90 days.*1 row\(s\).*first: row 6/);
    assert.deepEqual(
      checkBudgets(plan, []).map((p) => p.kind),
      ["missing-group", "missing-group"],
    );
  });

  test("duplicates are named with their first row whether the checkpoint holds the recipient or not", async () => {
    const dir = await tempDir();
    const store = await JournalStore.open(join(dir, "c.checkpoint"), "c");
    try {
      // r2 and r4 were sent by an earlier run (the planner marks them by the store's ids); r3 and r5 are new.
      for (const n of [4, 2]) await store.recordSent(row(n, 1).request.requestId, row(n, 1).fingerprint, n);
      const planner = new Planner(store, false);
      planner.add({ kind: "header", header: ["recipient_id"], index: {} as never, problems: [] });
      for (const n of [2, 3, 4, 5]) planner.add({ kind: "row", fields: [], prepared: row(n, 1) });
      for (const [at, copyOf] of [
        [6, 4],
        [7, 3],
        [8, 2],
        [9, 5],
        [10, 4],
      ] as const)
        planner.add({ kind: "row", fields: [], prepared: { ...row(copyOf, 1), row: at } });
      assert.deepEqual(
        planner.finish("in.csv").problems.map((p) => [p.row, p.rule]),
        [6, 7, 8, 9, 10].map((at, i) => [at, `duplicates row ${[4, 3, 2, 5, 4][i]}; each recipient may appear once`]),
      );
    } finally {
      await store.close();
    }
  });

  test("rows in doubt are resent but not counted against the budget again; refused pending rows are", () => {
    const rows = [row(2, 100), row(3, 200), row(4, 400)];
    const states = new Map<string, RowState>([
      [rows[0]!.request.requestId, { status: "pending", fp: rows[0]!.fingerprint, attempts: 8, inDoubt: true }],
      [rows[1]!.request.requestId, { status: "pending", fp: rows[1]!.fingerprint, attempts: 1, inDoubt: false }],
    ]);
    const store = { get: (rid: string) => states.get(rid) } as never;
    const planner = new Planner(store, false);
    planner.add({ kind: "header", header: ["recipient_id"], index: {} as never, problems: [] });
    for (const prepared of rows) planner.add({ kind: "row", fields: [], prepared });
    const group = planner.finish("in.csv").groups.get("29952775505428481")!;
    assert.deepEqual([group.sendRows, group.sendAmount, group.inDoubtRows, group.inDoubtAmount], [2, 600, 1, 100]);
  });

  test("an empty file is a problem", () => {
    assert.deepEqual(
      new Planner(undefined, false).finish("empty.csv").problems.map((p) => p.rule),
      ["empty.csv is empty: expected a header row"],
    );
  });
});
