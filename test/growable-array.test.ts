import assert from "node:assert/strict";
import { test } from "node:test";
import { growable, grownTo } from "../src/growable-array.js";

const BIG = 64 * 1024; // elements: 256 KiB of Uint32, past the plain-array limit

test("a big column grows in place: the same memory, its contents kept, the rest zero", () => {
  const column = growable(Uint32Array, BIG);
  assert.equal((column.buffer as ArrayBuffer).resizable, true);
  column.set([1, 2, 3, 4]);
  const grown = grownTo(column, 1_000_000);
  assert.equal(grown.length, 1_000_000);
  assert.equal(grown.buffer, column.buffer, "grown in place, not copied");
  assert.deepEqual([...grown.subarray(0, 6)], [1, 2, 3, 4, 0, 0]);
  assert.equal(grown[999_999], 0);
  // The old view still reads the same memory: nothing was moved.
  grown[0] = 42;
  assert.equal(column[0], 42);
  assert.equal(grownTo(grown, 10), grown, "never shrinks");
});

test("a small column is a plain array until it grows big, and grows in place from then on", () => {
  const small = growable(Uint32Array, 4);
  assert.equal((small.buffer as ArrayBuffer).resizable, false);
  small.set([5, 6]);
  const big = grownTo(small, BIG);
  assert.notEqual(big.buffer, small.buffer);
  assert.equal((big.buffer as ArrayBuffer).resizable, true);
  assert.deepEqual([...big.subarray(0, 3)], [5, 6, 0]);
  assert.equal(grownTo(big, BIG * 2).buffer, big.buffer);
});

test("each element type keeps its values across growth", () => {
  const floats = growable(Float64Array, 2);
  floats.set([2 ** 53 - 1, 0.5]);
  assert.deepEqual([...grownTo(floats, BIG).subarray(0, 3)], [2 ** 53 - 1, 0.5, 0]);
  const signed = growable(Int32Array, 1);
  signed[0] = -7;
  assert.deepEqual([...grownTo(signed, BIG).subarray(0, 2)], [-7, 0]);
  const bytes = growable(Uint8Array, 0);
  assert.deepEqual([...grownTo(bytes, 2)], [0, 0]);
});

test("a view into part of a growable buffer is copied, never resizing memory others use", () => {
  const whole = growable(Uint32Array, BIG);
  whole.set([1, 2, 3, 4]);
  const tail = whole.subarray(2);
  const fromTail = grownTo(tail, BIG);
  assert.notEqual(fromTail.buffer, whole.buffer);
  assert.deepEqual([...fromTail.subarray(0, 3)], [3, 4, 0]);
  assert.equal(whole.buffer.byteLength, BIG * 4);
});

test("past its reserved address space a column moves to a bigger reservation, contents kept", () => {
  const column = growable(Uint8Array, BIG);
  column[BIG - 1] = 9;
  const reserved = (column.buffer as ArrayBuffer).maxByteLength;
  const moved = grownTo(column, reserved + 1);
  assert.notEqual(moved.buffer, column.buffer);
  assert.equal(moved[BIG - 1], 9);
  assert.equal(moved.length, reserved + 1);
});
