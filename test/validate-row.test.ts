import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { indexHeader, parseColumnMap } from "../src/job/columns.js";
import { validateRow, type RowDefaults } from "../src/job/validate-row.js";

const HEADER = ["recipient_id", "amount", "gift_card_name", "group_id", "start_at", "end_at", "memo"];
const map = parseColumnMap([]);
const { index } = indexHeader(HEADER, map);
const GOOD = ["M-1", "500", "春のお礼", "29952775505428481", "2094-04-01", "2094-06-30", "x"];

function check(changes: Partial<Record<(typeof HEADER)[number], string>>, defaults: RowDefaults = {}) {
  const record = HEADER.map((column, i) => changes[column] ?? GOOD[i]!);
  return validateRow(record, 7, index, map, defaults);
}

function rulesOf(result: ReturnType<typeof check>): string[] {
  return "problems" in result ? result.problems.map((p) => `${p.column}: ${p.rule}`) : [];
}

describe("validateRow", () => {
  test("a good row passes with every value intact", () => {
    const result = check({});
    assert.ok("ok" in result);
    assert.deepEqual(result.ok, {
      row: 7,
      recipientId: "M-1",
      request: { groupId: "29952775505428481", giftCardName: "春のお礼", giftCardValue: 500, startAt: "2094-04-01", endAt: "2094-06-30" },
    });
  });

  for (const amount of ["1e3", "0x10", "-1", "1.5", "1000000", " 500", "500 ", "0", "00500", "+5", "1,00", "1,000.5"]) {
    test(`amount ${JSON.stringify(amount)} is refused`, () => {
      assert.deepEqual(rulesOf(check({ amount })), ["amount: must be a whole number of yen from 1 to 999999, digits only"]);
    });
  }

  test("a thousands separator or full-width digits are refused with a hint (the amount is money: never guessed)", () => {
    const base = "amount: must be a whole number of yen from 1 to 999999, digits only";
    assert.deepEqual(rulesOf(check({ amount: "1,000" })), [`${base} (it has a thousands separator ","; write "1000", or format the cell without separators)`]);
    assert.deepEqual(rulesOf(check({ amount: "12,345" })), [
      `${base} (it has a thousands separator ","; write "12345", or format the cell without separators)`,
    ]);
    assert.deepEqual(rulesOf(check({ amount: "５００" })), [`${base} (it is written with full-width digits; type ASCII digits 0-9, e.g. "500")`]);
  });

  test("an end date before today is refused; today itself and a past start date pass", () => {
    const today = "2094-05-15";
    const at = (start: string, end: string) =>
      validateRow(
        HEADER.map((c, i) => (c === "start_at" ? start : c === "end_at" ? end : GOOD[i]!)),
        7,
        index,
        map,
        {},
        today,
      );
    assert.deepEqual(rulesOf(at("2094-04-01", "2094-05-14")), [
      "end_at: is in the past (today is 2094-05-15 in Asia/Tokyo): the code would expire before anyone could use it",
    ]);
    assert.ok("ok" in at("2094-04-01", "2094-05-15"));
    assert.ok("ok" in at("2094-05-15", "2094-05-15"));
  });

  test("amounts 1 and 999999 pass", () => {
    assert.ok("ok" in check({ amount: "1" }));
    assert.ok("ok" in check({ amount: "999999" }));
  });

  test("names count Unicode characters, not bytes or UTF-16 units", () => {
    assert.ok("ok" in check({ gift_card_name: "🌸".repeat(40) }));
    assert.ok("ok" in check({ gift_card_name: "あ".repeat(40) }));
    assert.deepEqual(rulesOf(check({ gift_card_name: "a".repeat(41) })), ["gift_card_name: must be at most 40 characters (has 41)"]);
    assert.deepEqual(rulesOf(check({ gift_card_name: "🌸".repeat(41) })), ["gift_card_name: must be at most 40 characters (has 41)"]);
    // e + combining acute is two code points: 20 pairs sit at the 40 limit, one more character is over.
    assert.equal(rulesOf(check({ gift_card_name: "e\u0301".repeat(20) })).length, 0);
    assert.equal(rulesOf(check({ gift_card_name: `${"e\u0301".repeat(20)}x` })).length, 1);
    assert.deepEqual(rulesOf(check({ gift_card_name: "   " })), ["gift_card_name: must not be blank"]);
    assert.deepEqual(rulesOf(check({ gift_card_name: "a\u0000b" })), ["gift_card_name: must not contain control characters"]);
  });

  test("dates must be real yyyy-MM-dd days, start on or before end", () => {
    assert.deepEqual(rulesOf(check({ start_at: "2094-02-30" })), ["start_at: must be a real calendar date written yyyy-MM-dd"]);
    assert.deepEqual(rulesOf(check({ end_at: "2026-2-3" })), ["end_at: must be a real calendar date written yyyy-MM-dd"]);
    assert.deepEqual(rulesOf(check({ start_at: "2094-07-01" })), ["end_at: must not be before start_at (2094-07-01)"]);
    assert.ok("ok" in check({ start_at: "2096-02-29", end_at: "2096-02-29" }));
    assert.equal(rulesOf(check({ start_at: "2095-02-29", end_at: "2095-03-01" })).length, 1);
  });

  test("group_id must be a positive int64 in digits", () => {
    for (const bad of ["abc", "-5", "0", "9223372036854775808", "1.0", " 1", "1e5"]) {
      assert.deepEqual(rulesOf(check({ group_id: bad })), ["group_id: must be a positive 64-bit integer written with digits only"], bad);
    }
    assert.ok("ok" in check({ group_id: "9223372036854775807" }));
  });

  test("recipient_id is required and exact", () => {
    assert.deepEqual(rulesOf(check({ recipient_id: "" })), ["recipient_id: is required"]);
    assert.deepEqual(rulesOf(check({ recipient_id: " M-1" })), ["recipient_id: must not start or end with spaces"]);
  });

  test("empty optional cells take the defaults; with neither, each missing value is named", () => {
    const HEADER2 = ["recipient_id"];
    const idx = indexHeader(HEADER2, map).index;
    const defaults: RowDefaults = { amount: 300, giftCardName: "N", groupId: "5", startAt: "2094-01-01", endAt: "2094-01-01" };
    const ok = validateRow(["R"], 2, idx, map, defaults);
    assert.ok("ok" in ok);
    assert.equal(ok.ok.request.giftCardValue, 300);
    const missing = validateRow(["R"], 2, idx, map, {});
    assert.ok("problems" in missing);
    assert.deepEqual(
      missing.problems.map((p) => p.column),
      ["amount", "gift_card_name", "group_id", "start_at", "end_at"],
    );
  });

  test("every problem of a row is reported, with the row number and the mapped column name", () => {
    const m = parseColumnMap(["recipient_id=member_no", "amount=yen"]);
    const idx = indexHeader(["member_no", "yen"], m).index;
    const result = validateRow(["", "1.5"], 12, idx, m, { giftCardName: "n", groupId: "1", startAt: "2094-01-01", endAt: "2094-01-02" });
    assert.ok("problems" in result);
    assert.deepEqual(
      result.problems.map((p) => [p.row, p.column, p.value]),
      [
        [12, "member_no", ""],
        [12, "yen", "1.5"],
      ],
    );
  });
});

describe("header", () => {
  test("missing recipient column, duplicate and reserved names are problems", () => {
    const defaults = { giftCardName: "n", groupId: "1", startAt: "2094-01-01", endAt: "2094-01-02" };
    const { problems } = indexHeader(["amount", "amount", "status", ""], map, defaults);
    assert.deepEqual(
      problems.map((p) => p.rule),
      [
        "header names must be unique",
        "is reserved for the result file; rename it",
        "header names must not be empty",
        'required column is missing from the header: headers found: "amount", "amount", "status", ""',
      ],
    );
  });

  test("a missing column names the headers found and the --column to use, matching case-insensitively", () => {
    const defaults = { amount: 1, giftCardName: "n", groupId: "1", startAt: "2094-01-01", endAt: "2094-01-02" };
    assert.deepEqual(
      indexHeader(["Recipient_ID", "amount"], map, defaults).problems.map((p) => p.rule),
      [
        'required column is missing from the header: headers found: "Recipient_ID", "amount"; did you mean "Recipient_ID"? map it with --column recipient_id=Recipient_ID',
      ],
    );
    assert.deepEqual(
      indexHeader(["member_no", "amount"], map, defaults).problems.map((p) => p.rule),
      [
        'required column is missing from the header: headers found: "member_no", "amount"; map yours with --column recipient_id=<header>, e.g. --column recipient_id=member_no',
      ],
    );
    // Without a default, a missing optional column is a header problem too, not one per row.
    assert.deepEqual(
      indexHeader(["recipient_id"], map, { ...defaults, amount: undefined }).problems.map((p) => [p.column, p.missing]),
      [["amount", true]],
    );
  });

  test("--column entries are checked", () => {
    assert.throws(() => parseColumnMap(["recipient=member"]), /Unknown column "recipient"/);
    assert.throws(() => parseColumnMap(["recipient_id"]), /Expected --column as logical=header/);
  });
});

describe("duplicates", () => {
  test("a duplicate of an otherwise invalid row is still reported, under the mapped column name", async () => {
    const { mkdtemp, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { prepareRun } = await import("../src/job/prepare-run.js");
    const dir = await mkdtemp(join(tmpdir(), "pcb-dup-"));
    const file = join(dir, "in.csv");
    await writeFile(file, "member_no,amount\nM-1,1e3\nM-2,5\nM-1,7\n");
    let budgetReads = 0;
    const outcome = await prepareRun(
      {
        file,
        encoding: "utf8",
        campaign: "c",
        columns: parseColumnMap(["recipient_id=member_no"]),
        defaults: { giftCardName: "n", groupId: "1", startAt: "2094-01-01", endAt: "2094-01-02" },
      },
      undefined,
      { retryFailed: false, allowPartial: false, acceptChanged: false, spend: { capRequired: false } },
      async () => {
        budgetReads++;
        return [];
      },
    );
    assert.equal(budgetReads, 0, "an invalid file never reads budgets");
    assert.deepEqual(
      outcome.plan.problems.map((p) => [p.row, p.column, p.rule]),
      [
        [2, "amount", "must be a whole number of yen from 1 to 999999, digits only"],
        [4, "member_no", "duplicates row 2; each recipient may appear once"],
      ],
    );
  });
});
