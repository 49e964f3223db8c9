import assert from "node:assert/strict";
import { test } from "node:test";
import { parts } from "../src/async-parts.js";

/** 0 … n−1 in batches of `batch` (the last one shorter). */
async function* count(n: number, batch = 1): AsyncGenerator<number[]> {
  for (let i = 0; i < n; i += batch) yield Array.from({ length: Math.min(batch, n - i) }, (_, j) => i + j);
}

async function collect(n: number, size: number, batch = 1): Promise<number[][]> {
  const out: number[][] = [];
  for await (const part of parts(count(n, batch), size)) {
    const rows: number[] = [];
    for await (const b of part) {
      assert.ok(b.length > 0, "no empty batch is handed out");
      rows.push(...b);
    }
    out.push(rows);
  }
  return out;
}

test("parts: consecutive runs of at most `size`, every row once, in order", async () => {
  assert.deepEqual(await collect(7, 3), [[0, 1, 2], [3, 4, 5], [6]]);
  assert.deepEqual(await collect(6, 3), [[0, 1, 2], [3, 4, 5], []]);
  assert.deepEqual(await collect(0, 3), [[]]);
  const big = await collect(250_001, 100_000, 256);
  assert.deepEqual(
    big.map((p) => p.length),
    [100_000, 100_000, 50_001],
  );
  assert.deepEqual(big.flat().slice(99_998, 100_002), [99_998, 99_999, 100_000, 100_001]);
  assert.deepEqual(
    big.flat().every((x, i) => x === i),
    true,
  );
});

test("parts: a batch that straddles a part's end is split, its rest starting the next part", async () => {
  assert.deepEqual(await collect(10, 4, 3), [
    [0, 1, 2, 3],
    [4, 5, 6, 7],
    [8, 9],
  ]);
  assert.deepEqual(await collect(10, 2, 7), [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], []]);
});

test("parts: a part left unread ends them", async () => {
  let seen = 0;
  for await (const part of parts(count(10, 3), 4)) {
    for await (const _ of part) {
      if (++seen === 2) break;
    }
  }
  assert.equal(seen, 2);
});
