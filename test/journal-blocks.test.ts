import assert from "node:assert/strict";
import { appendFile, open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { JournalBlocks } from "../src/checkpoint/journal-blocks.js";
import { tempDir } from "./support/cli.js";

// The result pass reads outcome records through these blocks (issue #15): every read must give the
// journal's bytes, as the file holds them at the time, whatever the blocks at hand.

const BLOCK = 64;
/** Records within a block (most of them, as in a real journal) and across several. */
const recordLength = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 300 }));

test("reads and cached reads give the file's bytes while the journal grows", async () => {
  const dir = await tempDir();
  const command = fc.oneof(
    fc.record({ kind: fc.constant("append" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 200 }) }),
    fc.record({ kind: fc.constant("read" as const), at: fc.double({ min: 0, max: 1.2, noNaN: true }), length: recordLength }),
    fc.record({
      kind: fc.constant("reads side by side" as const),
      reads: fc.array(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), length: recordLength }), { minLength: 2, maxLength: 4 }),
    }),
  );
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), fc.array(command, { maxLength: 40 }), async (initial, commands) => {
      const file = join(dir, `journal-${run++}`);
      await writeFile(file, initial);
      let content = Buffer.from(initial);
      const handle = await open(file, "r");
      // What each read gave, checked again at the end: a read's bytes are the caller's to keep, even
      // once the blocks they came from were let go and read into again.
      const kept: { bytes: Buffer; expected: Buffer }[] = [];
      const check = (bytes: Buffer, offset: number, length: number): void => {
        const expected = Buffer.from(content.subarray(offset, Math.min(content.length, offset + length)));
        assert.ok(bytes.equals(expected), `read(${offset}, ${length}) of ${content.length} bytes`);
        kept.push({ bytes, expected });
      };
      try {
        const blocks = new JournalBlocks(handle, BLOCK);
        for (const c of commands) {
          if (c.kind === "append") {
            await appendFile(file, c.bytes);
            content = Buffer.concat([content, c.bytes]);
          } else if (c.kind === "read") {
            const offset = Math.floor(c.at * content.length);
            const cached = blocks.cached(offset, c.length);
            if (cached !== undefined) assert.ok(cached.equals(content.subarray(offset, offset + c.length)), "a cached read holds the file's bytes");
            check(await blocks.read(offset, c.length), offset, c.length);
          } else {
            const places = c.reads.map((r) => ({ offset: Math.floor(r.at * content.length), length: r.length }));
            const results = await Promise.all(places.map(async (p) => ({ ...p, bytes: await blocks.read(p.offset, p.length) })));
            for (const { bytes, offset, length } of results) check(bytes, offset, length);
          }
        }
        for (const { bytes, expected } of kept) assert.ok(bytes.equals(expected), "a read's bytes stay as read");
      } finally {
        await handle.close();
      }
    }),
    { numRuns: 300, seed: 15 },
  );
});

test("records read in about the order written: each block is read once, the next one read ahead of need", async () => {
  const dir = await tempDir();
  const file = join(dir, "journal");
  const content = Buffer.from(Array.from({ length: 40 * BLOCK }, (_, i) => i % 251));
  await writeFile(file, content);
  const handle = await open(file, "r");
  const reads: number[] = [];
  const read = handle.read.bind(handle);
  // The real file's reads, counted by position.
  handle.read = ((buffer: Buffer, offset: number, length: number, position: number) => {
    reads.push(position);
    return read(buffer, offset, length, position);
  }) as typeof handle.read;
  try {
    const blocks = new JournalBlocks(handle, BLOCK);
    // Records of 8 bytes, each pair read in reverse: a record a little before the last one read.
    const size = 8;
    let misses = 0;
    for (let record = 0; record + 1 < content.length / size; record += 2) {
      const block = Math.floor((record * size) / BLOCK);
      if (block > 0 && (record * size) % BLOCK === 0) assert.ok(reads.includes(block * BLOCK), `block ${block} was being read before it was needed`);
      for (const r of [record + 1, record]) {
        let bytes = blocks.cached(r * size, size);
        if (bytes === undefined) {
          misses++;
          bytes = await blocks.read(r * size, size);
        }
        assert.ok(bytes.equals(content.subarray(r * size, r * size + size)));
      }
      // Time for a read ahead to land, as a pass's work on a batch gives it.
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.ok(misses < 10, `${misses} of ${content.length / size} records waited for a read`);
    assert.deepEqual(
      reads.sort((a, b) => a - b),
      Array.from({ length: 41 }, (_, k) => k * BLOCK),
      "every block read once (and the empty one past the end, read ahead)",
    );
  } finally {
    await handle.close();
  }
});

test("a read's bytes stay as read after its block is let go and its memory read into again", async () => {
  const dir = await tempDir();
  const file = join(dir, "journal");
  const content = Buffer.from(Array.from({ length: 40 * BLOCK }, (_, i) => (i * 7) % 251));
  await writeFile(file, content);
  const handle = await open(file, "r");
  try {
    const blocks = new JournalBlocks(handle, BLOCK);
    const reads: { offset: number; bytes: Buffer }[] = [];
    // Records in blocks far apart, so every block is let go soon after it is read.
    for (const block of [0, 5, 10, 15, 20, 25, 30, 35, 2, 7, 12, 17]) {
      const offset = block * BLOCK + 3;
      reads.push({ offset, bytes: await blocks.read(offset, 10) });
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    for (const { offset, bytes } of reads) assert.ok(bytes.equals(content.subarray(offset, offset + 10)), `the record at ${offset}`);
  } finally {
    await handle.close();
  }
});
