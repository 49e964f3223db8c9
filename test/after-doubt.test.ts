import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { RowState } from "../src/checkpoint/records.js";
import { afterDoubt, REPLAY_REFUSED_NOTE, wasInDoubt, type RecordedFields } from "../src/job/after-doubt.js";

const refused: RecordedFields = { status: "failed", errorCode: "INVALID_REQUEST_PARAMS", errorMessage: "requestId already used" };
const issued: RecordedFields = { status: "issued", code: "ABCD-EFGH", data: "{}" };
const unknown: RecordedFields = { status: "pending", errorCode: "TIMEOUT", errorMessage: "no answer", unknown: true };
const exhausted: RecordedFields = { status: "pending", errorCode: "BUDGET_NOT_ENOUGH", errorMessage: "no budget" };
const state = (status: RowState["status"], inDoubt: boolean): RowState => ({ fp: "f", status, inDoubt, attempts: 1 });

describe("afterDoubt: what a row's last answer records, given doubt and PayPay's replay behaviour", () => {
  test("replay original (the contract): every answer is recorded as it came", () => {
    for (const fields of [refused, issued, unknown, exhausted]) {
      assert.deepEqual(afterDoubt(fields, { previous: state("sent", true), attempts: 3, replay: "original" }), fields);
    }
  });

  test("replay refused: a refusal after an earlier unknown attempt in this run stays pending and in doubt, naming verify", () => {
    const recorded = afterDoubt(refused, { previous: undefined, attempts: 2, replay: "refused" });
    assert.equal(recorded.status, "pending");
    assert.equal(recorded.unknown, true);
    assert.equal(recorded.errorCode, "INVALID_REQUEST_PARAMS");
    assert.ok(recorded.errorMessage?.startsWith("INVALID_REQUEST_PARAMS: requestId already used; "));
    assert.ok(recorded.errorMessage?.includes(REPLAY_REFUSED_NOTE));
    assert.match(recorded.errorMessage ?? "", /`verify` found .*replay: refused/);
  });

  test("replay refused: a refusal of a row an earlier run left sent or pending stays in doubt too", () => {
    for (const previous of [state("sent", true), state("pending", true), state("pending", false)]) {
      const recorded = afterDoubt(refused, { previous, attempts: 1, replay: "refused" });
      assert.equal(recorded.status, "pending", `previous ${previous.status}`);
      assert.equal(recorded.unknown, true);
    }
    // A group-exhausted answer was pending already; in doubt now, it is marked unknown as well.
    assert.equal(afterDoubt(exhausted, { previous: state("sent", true), attempts: 1, replay: "refused" }).unknown, true);
  });

  test("replay refused: a first answer to a row never sent before means what it says", () => {
    assert.deepEqual(afterDoubt(refused, { previous: undefined, attempts: 1, replay: "refused" }), refused);
    assert.deepEqual(
      afterDoubt(refused, { previous: state("failed", false), attempts: 1, replay: "refused" }),
      refused,
      "a --retry-failed resend of a failed row",
    );
  });

  test("replay refused: an issued code and an unknown outcome are never changed", () => {
    assert.deepEqual(afterDoubt(issued, { previous: state("sent", true), attempts: 4, replay: "refused" }), issued);
    assert.deepEqual(afterDoubt(unknown, { previous: state("sent", true), attempts: 4, replay: "refused" }), unknown);
  });

  test("wasInDoubt: earlier sent or pending, or more than one attempt now", () => {
    assert.equal(wasInDoubt(undefined, 1), false);
    assert.equal(wasInDoubt(undefined, 2), true);
    assert.equal(wasInDoubt(state("failed", false), 1), false);
    assert.equal(wasInDoubt(state("issued", false), 1), false);
    assert.equal(wasInDoubt(state("sent", true), 1), true);
    assert.equal(wasInDoubt(state("pending", false), 1), true);
  });
});
