import assert from "node:assert/strict";
import { open, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { readIndexFile, writeIndexFile } from "../src/checkpoint/index-file.js";
import { PAGE_ROWS } from "../src/checkpoint/paged-rows.js";
import type { RowState } from "../src/checkpoint/records.js";
import { RowIndex, type Status } from "../src/checkpoint/row-index.js";
import { deriveRequestId } from "../src/job/request-id.js";
import { tempDir } from "./support/cli.js";

/**
 * The row index kept a page at a time (src/checkpoint/paged-rows.ts), its pages read from an index
 * file or from the spill file its changed pages go to, must answer exactly as a plain Map of the
 * same writes, through any mix of reads and writes, and write an index file that answers the same.
 */

const STATUSES: Status[] = ["sent", "issued", "failed", "pending"];
const rid = (n: number): string => deriveRequestId("paged", `r${n}`);
const fpOf = (n: number): string => (n * 2654435761).toString(16).padStart(8, "0").slice(-8).repeat(4);

type Op =
  | { kind: "sent"; row: number; fp: number }
  | { kind: "outcome"; row: number; fp: number; status: number; inDoubt: boolean; attempts: number; offset: number; length: number }
  | { kind: "set"; row: number; fp: number; status: number; attempts: number; offset: number };

function apply(index: RowIndex, reference: Map<string, RowState>, op: Op): void {
  const key = rid(op.row);
  const before = reference.get(key);
  if (op.kind === "sent") {
    index.markSent(key, fpOf(op.fp));
    reference.set(key, { fp: fpOf(op.fp), status: "sent", inDoubt: true, attempts: before?.attempts ?? 0, outcomeAt: before?.outcomeAt });
  } else if (op.kind === "outcome") {
    const status = STATUSES[op.status] as Status;
    index.markOutcome(key, fpOf(op.fp), status, op.inDoubt, op.attempts, op.offset, op.length);
    const outcomeAt = op.length > 0 ? { offset: op.offset, length: op.length } : undefined;
    reference.set(key, { fp: fpOf(op.fp), status, inDoubt: op.inDoubt, attempts: (before?.attempts ?? 0) + op.attempts, outcomeAt });
  } else {
    const state: RowState = {
      fp: fpOf(op.fp),
      status: STATUSES[op.status] as Status,
      inDoubt: false,
      attempts: op.attempts,
      outcomeAt: { offset: op.offset, length: 7 },
    };
    index.set(key, state);
    reference.set(key, state);
  }
}

/** Every row the reference holds, in a shuffled order (so pages are read out of order too), and some it does not. */
function assertSame(index: RowIndex, reference: Map<string, RowState>, absent: number[], order: number): void {
  assert.equal(index.size, reference.size);
  const keys = [...reference.keys()];
  for (let i = 0; i < keys.length; i++) {
    const key = keys[(i * order) % keys.length] as string;
    assert.deepEqual(index.get(key), reference.get(key), key);
  }
  for (const n of absent) assert.equal(index.get(rid(n)), undefined);
  const entries = [...index.entries()];
  assert.equal(new Set(entries.map(([key]) => key)).size, reference.size);
  for (const [key, state] of entries) assert.deepEqual(state, reference.get(key));
}

async function reopened(dir: string, name: string, index: RowIndex): Promise<RowIndex> {
  // The journal only has to be there, with the length the index file claims to cover.
  const journal = join(dir, `${name}.journal`);
  await writeFile(journal, "journal bytes\n");
  const handle = await open(journal, "r");
  try {
    await writeIndexFile(join(dir, `${name}.index`), handle, { length: 14, lines: 1 }, {}, index);
    const read = await readIndexFile(join(dir, `${name}.index`), handle, 14, join(dir, name));
    assert.ok(read, "the index file just written reads back");
    return read.index;
  } finally {
    await handle.close();
  }
}

const operation = (rows: number): fc.Arbitrary<Op> =>
  fc.oneof(
    fc.record({ kind: fc.constant("sent" as const), row: fc.nat(rows), fp: fc.nat(50) }),
    fc.record({
      kind: fc.constant("outcome" as const),
      row: fc.nat(rows),
      fp: fc.nat(50),
      status: fc.nat(3),
      inDoubt: fc.boolean(),
      attempts: fc.integer({ min: 1, max: 5 }),
      offset: fc.nat(2 ** 40),
      length: fc.nat(900),
    }),
    fc.record({ kind: fc.constant("set" as const), row: fc.nat(rows), fp: fc.nat(50), status: fc.nat(3), attempts: fc.nat(9), offset: fc.nat(2 ** 33) }),
  );

describe("a row index kept a page at a time", () => {
  test("answers as the index it was written from, after any reads and writes, and writes a file that answers the same", async () => {
    const dir = await tempDir();
    // More pages than the cache keeps, and a last page the file fills only in part.
    const fileRows = PAGE_ROWS * 20 + 321;
    await fc.assert(
      fc.asyncProperty(fc.array(operation(fileRows + 3 * PAGE_ROWS), { maxLength: 3000 }), fc.integer({ min: 1, max: 7919 }), async (ops, order) => {
        const reference = new Map<string, RowState>();
        const written = new RowIndex(undefined, join(dir, "fresh"));
        for (let n = 0; n < fileRows; n++) {
          apply(written, reference, {
            kind: "outcome",
            row: n,
            fp: n,
            status: n % 4,
            inDoubt: n % 5 === 0,
            attempts: 1 + (n % 3),
            offset: n * 700,
            length: n % 9,
          });
        }
        const paged = await reopened(dir, "first", written);
        await written.close();
        try {
          // Rows past the file's take ids after its last, some in its last page's room.
          for (const op of ops) apply(paged, reference, op);
          assertSame(paged, reference, [fileRows + 10 * PAGE_ROWS, -1], order);
          const again = await reopened(dir, "second", paged);
          try {
            assertSame(again, reference, [fileRows + 10 * PAGE_ROWS], order);
          } finally {
            await again.close();
          }
        } finally {
          await paged.close();
        }
      }),
      { numRuns: 12 },
    );
  });

  test("a read of many rows in an order other than the file's still finds each row (the pages dropped are read again)", async () => {
    const dir = await tempDir();
    const reference = new Map<string, RowState>();
    const written = new RowIndex();
    // More pages than stay in memory, and a last one the file fills in part.
    const rows = PAGE_ROWS * 60 + 100;
    for (let n = 0; n < rows; n++) apply(written, reference, { kind: "set", row: n, fp: n, status: n % 4, attempts: n % 10, offset: n });
    const paged = await reopened(dir, "order", written);
    try {
      // Forwards: the last page comes into a buffer another page left; rows added to it start empty.
      for (let n = 0; n < rows; n++) assert.deepEqual(paged.get(rid(n)), reference.get(rid(n)));
      for (let n = rows; n < rows + 50; n++) apply(paged, reference, { kind: "sent", row: n, fp: n });
      for (let n = rows; n < rows + 50; n++) assert.deepEqual(paged.get(rid(n)), reference.get(rid(n)));
      // Backwards, then striding across every page, then writing to one row of each page and reading all again.
      for (let n = rows - 1; n >= 0; n--) assert.deepEqual(paged.get(rid(n)), reference.get(rid(n)));
      assertSame(paged, reference, [rows + 51], 4099);
      for (let n = 0; n < rows; n += PAGE_ROWS) apply(paged, reference, { kind: "sent", row: n + 7, fp: 1 });
      assertSame(paged, reference, [rows + 51], 1);
    } finally {
      await paged.close();
    }
  });

  test("a new campaign's rows leave memory for a spill file beside the checkpoint and come back as written; the file is never seen in the directory", async () => {
    const dir = await tempDir();
    const reference = new Map<string, RowState>();
    const index = new RowIndex(undefined, join(dir, "campaign.checkpoint"));
    const rows = PAGE_ROWS * 120;
    try {
      // Sent in order, answered a little later and out of order, some resent much later: pages go
      // out changed, come back for the late outcomes, and go out again.
      for (let n = 0; n < rows; n++) {
        apply(index, reference, { kind: "sent", row: n, fp: n });
        if (n >= 300)
          apply(index, reference, {
            kind: "outcome",
            row: n - 300 + ((n * 7) % 200),
            fp: n,
            status: n % 4,
            inDoubt: false,
            attempts: 1,
            offset: n * 3,
            length: 1 + (n % 700),
          });
        if (n % 997 === 0) apply(index, reference, { kind: "set", row: (n * 31) % (n + 1), fp: 3, status: 2, attempts: 4, offset: 9 });
      }
      assertSame(index, reference, [rows + 5], 7919);
      assert.deepEqual(await readdir(dir), [], "the spill file is unlinked as soon as it is made");
      const again = await reopened(dir, "spilled", index);
      try {
        assertSame(again, reference, [rows + 5], 1);
      } finally {
        await again.close();
      }
    } finally {
      await index.close();
    }
  });
});
