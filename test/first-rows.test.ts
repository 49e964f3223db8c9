import assert from "node:assert/strict";
import { test } from "node:test";
import { FirstRows } from "../src/job/first-rows.js";
import { mulberry32 } from "../src/simulator/prng.js";

test("first rows: every id's row, in one run for a file without gaps and one run per gap otherwise", () => {
  const plain = new FirstRows();
  for (let id = 0; id < 100_000; id++) plain.push(id, id + 2);
  assert.equal(plain.runs, 1);
  assert.equal(plain.rowOf(0), 2);
  assert.equal(plain.rowOf(99_999), 100_001);

  const random = mulberry32(3);
  const gappy = new FirstRows();
  const expected: number[] = [];
  let row = 2;
  for (let id = 0; id < 5_000; id++) {
    row += random() < 0.1 ? 1 + Math.floor(random() * 3) : 0; // empty, invalid or duplicate rows between
    gappy.push(id, row);
    expected.push(row);
    row++;
  }
  assert.ok(gappy.runs > 100 && gappy.runs < 1_000, `${gappy.runs} runs`);
  for (const [id, want] of expected.entries()) assert.equal(gappy.rowOf(id), want);
  assert.throws(() => gappy.push(7, 1), /Expected id 5000, got 7/);
  assert.throws(() => gappy.rowOf(5_000), /Expected an id below 5000/);
});
