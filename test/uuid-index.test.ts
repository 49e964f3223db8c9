import assert from "node:assert/strict";
import { test } from "node:test";
import { RowIndex } from "../src/checkpoint/row-index.js";
import { keyWords, UuidIndex } from "../src/checkpoint/uuid-index.js";
import { deriveRequestId } from "../src/job/request-id.js";

test("UuidIndex maps 100,000 UUIDs to dense ids and back, including keys differing only in their last digit", () => {
  const index = new UuidIndex();
  const keys = Array.from({ length: 100_000 }, (_, i) => deriveRequestId("c", String(i)));
  const sequential = Array.from({ length: 300 }, (_, i) => `00000000-0000-5000-8000-${i.toString(16).padStart(12, "0")}`);
  for (const [i, key] of [...keys, ...sequential].entries()) assert.deepEqual(index.add(key), { id: i, added: true });
  for (const [i, key] of [...keys, ...sequential].entries()) {
    assert.equal(index.idOf(key), i);
    assert.equal(index.uuidAt(i), key);
  }
  assert.deepEqual(index.add(keys[7]!), { id: 7, added: false });
  assert.equal(index.idOf(deriveRequestId("c", "absent")), -1);
  assert.equal(index.size, 100_300);
});

test("keys must be 128 bits of lower-case hex", () => {
  assert.equal(keyWords("not-a-uuid"), undefined);
  assert.equal(keyWords("ADDD3EA6-4D35-5CF0-BCAE-D67F49B89B5C"), undefined);
  assert.deepEqual(keyWords("00000001000000020000000300000004"), [1, 2, 3, 4]);
  assert.throws(() => new UuidIndex().add("r1"), TypeError);
});

test("RowIndex keeps each row's state exactly, and later sets replace earlier ones", () => {
  const index = new RowIndex();
  const fp = "0123456789abcdef0123456789abcdef";
  const rows = Array.from({ length: 5000 }, (_, i) => deriveRequestId("c", `r${i}`));
  rows.forEach((rid, i) => {
    index.set(rid, {
      fp,
      status: i % 2 ? "issued" : "sent",
      inDoubt: i % 2 === 0,
      attempts: i,
      outcomeAt: i % 2 ? { offset: 2 ** 40 + i, length: 300 } : undefined,
    });
  });
  index.set(rows[0]!, { fp: "ffffffffffffffffffffffffffffffff", status: "failed", inDoubt: false, attempts: 9, outcomeAt: { offset: 5, length: 6 } });
  assert.deepEqual(index.get(rows[0]!), {
    fp: "ffffffffffffffffffffffffffffffff",
    status: "failed",
    inDoubt: false,
    attempts: 9,
    outcomeAt: { offset: 5, length: 6 },
  });
  assert.deepEqual(index.get(rows[4999]!), { fp, status: "issued", inDoubt: false, attempts: 4999, outcomeAt: { offset: 2 ** 40 + 4999, length: 300 } });
  assert.deepEqual(index.get(rows[4998]!), { fp, status: "sent", inDoubt: true, attempts: 4998, outcomeAt: undefined });
  assert.equal(index.get(deriveRequestId("c", "none")), undefined);
  assert.equal([...index.entries()].length, 5000);
});
