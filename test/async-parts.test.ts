import assert from "node:assert/strict";
import { test } from "node:test";
import { parts } from "../src/async-parts.js";

async function* count(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
}

async function collect(n: number, size: number): Promise<number[][]> {
  const out: number[][] = [];
  for await (const part of parts(count(n), size)) {
    const rows: number[] = [];
    for await (const x of part) rows.push(x);
    out.push(rows);
  }
  return out;
}

test("parts: consecutive runs of at most `size`, every row once, in order", async () => {
  assert.deepEqual(await collect(7, 3), [[0, 1, 2], [3, 4, 5], [6]]);
  assert.deepEqual(await collect(6, 3), [[0, 1, 2], [3, 4, 5], []]);
  assert.deepEqual(await collect(0, 3), [[]]);
  const big = await collect(250_001, 100_000);
  assert.deepEqual(
    big.map((p) => p.length),
    [100_000, 100_000, 50_001],
  );
  assert.deepEqual(big.flat().slice(99_998, 100_002), [99_998, 99_999, 100_000, 100_001]);
});

test("parts: a part left unread ends them", async () => {
  let seen = 0;
  for await (const part of parts(count(10), 4)) {
    for await (const _ of part) {
      if (++seen === 2) break;
    }
  }
  assert.equal(seen, 2);
});
