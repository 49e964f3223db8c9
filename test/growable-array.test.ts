import assert from "node:assert/strict";
import { test } from "node:test";
import { growable, grownTo } from "../src/growable-array.js";

test("a growable column grows in place: the same memory, its contents kept, the rest zero", () => {
  const column = growable(Uint32Array, 4);
  column.set([1, 2, 3, 4]);
  const grown = grownTo(column, 1_000_000);
  assert.equal(grown.length, 1_000_000);
  assert.equal(grown.buffer, column.buffer, "grown in place, not copied");
  assert.equal((grown.buffer as ArrayBuffer).resizable, true);
  assert.deepEqual([...grown.subarray(0, 6)], [1, 2, 3, 4, 0, 0]);
  assert.equal(grown[999_999], 0);
  // The old view still reads the same memory: nothing was moved.
  grown[0] = 42;
  assert.equal(column[0], 42);
  assert.equal(grownTo(grown, 10), grown, "never shrinks");
});

test("each element type keeps its values across growth", () => {
  const floats = growable(Float64Array, 2);
  floats.set([2 ** 53 - 1, 0.5]);
  assert.deepEqual([...grownTo(floats, 3)], [2 ** 53 - 1, 0.5, 0]);
  const signed = growable(Int32Array, 1);
  signed[0] = -7;
  assert.deepEqual([...grownTo(signed, 2)], [-7, 0]);
  const bytes = growable(Uint8Array, 0);
  assert.deepEqual([...grownTo(bytes, 2)], [0, 0]);
});

test("a column that is not a whole growable buffer is copied into one, and the copy then grows in place", () => {
  const plain = new Uint32Array([5, 6]);
  const fromPlain = grownTo(plain, 3);
  assert.notEqual(fromPlain.buffer, plain.buffer);
  assert.deepEqual([...fromPlain], [5, 6, 0]);
  assert.equal(grownTo(fromPlain, 8).buffer, fromPlain.buffer);
  // A view into the middle of a growable buffer must not resize memory others use.
  const whole = growable(Uint32Array, 4);
  whole.set([1, 2, 3, 4]);
  const tail = whole.subarray(2);
  const fromTail = grownTo(tail, 4);
  assert.notEqual(fromTail.buffer, whole.buffer);
  assert.deepEqual([...fromTail], [3, 4, 0, 0]);
  assert.equal(whole.buffer.byteLength, 16);
});
