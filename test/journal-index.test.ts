import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { appendFile, copyFile, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { indexFileOf } from "../src/checkpoint/index-file.js";
import { JournalStore } from "../src/checkpoint/journal-store.js";
import { BatchError } from "../src/errors.js";
import { deriveRequestId } from "../src/job/request-id.js";
import { tempDir } from "./support/cli.js";

/**
 * The index file (src/checkpoint/index-file.ts): a cache of the journal's replay. Opening with it
 * must give exactly what a full replay gives, and an index that does not belong to the journal
 * beside it must be ignored, never trusted.
 */

const rid = (name: string): string => deriveRequestId("camp", name);
const fp = (name: string): string => createHash("sha256").update(name).digest("hex").slice(0, 32);

/** Enough rows for the journal to outgrow the index threshold (1 MiB), written as a run would: many in flight. */
async function bigJournal(dir: string, rows = 4000): Promise<string> {
  const file = join(dir, "big.checkpoint");
  const store = await JournalStore.open(file, "camp");
  await store.recordAccepted(rid("r1"), fp("r1-changed"));
  for (let start = 0; start < rows; start += 500) {
    const names = Array.from({ length: Math.min(500, rows - start) }, (_, i) => `r${start + i}`);
    await Promise.all(names.map((n, i) => store.recordSent(rid(n), fp(n), start + i + 2)));
    await Promise.all(
      names.map((n, i) =>
        store.recordOutcome({
          rid: rid(n),
          fp: fp(n),
          status: i % 7 === 0 ? "failed" : "issued",
          attempts: 1 + (i % 3),
          groupId: "29952775505428481",
          value: 100,
          ...(i % 7 === 0 ? { errorCode: "SOME_ERROR", errorMessage: "refused" } : { code: `CODE-${n}`, data: `{"giftCardCode":"CODE-${n}"}` }),
        }),
      ),
    );
  }
  await store.close();
  return file;
}

/** Everything a reader of the store can see, for comparing an indexed open with a full replay. */
async function view(file: string): Promise<unknown> {
  const store = await JournalStore.open(file, "camp", { readOnly: true });
  try {
    const rows = [...store.entries()];
    const outcomes = await store.readOutcomes(rows.map(([, s]) => s));
    return {
      rows: rows.map(([id, s], i) => [id, s.status, s.fp, s.attempts, s.inDoubt, s.acceptedFp, outcomes[i]?.code, outcomes[i]?.errorCode]),
      info: { ...store.info },
      target: store.target,
      plan: store.lastPlan(),
    };
  } finally {
    await store.close();
  }
}

async function fullReplayView(file: string, dir: string): Promise<unknown> {
  const copy = join(dir, `copy-${Math.random().toString(36).slice(2)}.checkpoint`);
  await copyFile(file, copy);
  return view(copy);
}

/** Overwrites one byte in the middle of the journal: a full replay refuses that line; the index does not read it. */
async function damageMiddle(file: string): Promise<void> {
  const bytes = await readFile(file);
  const at = bytes.indexOf('"t":"sent"', Math.floor(bytes.length / 2));
  const handle = await open(file, "r+");
  await handle.write(Buffer.from("X"), 0, 1, at + 2);
  await handle.close();
}

describe("journal index file", () => {
  test("closing a grown journal writes an index (0600); opening with it sees exactly what a full replay sees", async () => {
    const dir = await tempDir();
    const file = await bigJournal(dir);
    const index = indexFileOf(file);
    assert.equal((await stat(index)).mode & 0o777, 0o600);
    const indexed = await view(file);
    assert.deepEqual(indexed, await fullReplayView(file, dir));
    assert.equal((indexed as { rows: unknown[] }).rows.length, 4000);
  });

  test("the open really uses the index: damage inside the part it covers is not replayed", async () => {
    const dir = await tempDir();
    const file = await bigJournal(dir);
    await damageMiddle(file);
    // Without the index the damaged line is refused; with it the open succeeds from the cache.
    await assert.rejects(fullReplayView(file, dir), (e: unknown) => e instanceof BatchError && e.code === "CHECKPOINT_DAMAGED");
    assert.equal(((await view(file)) as { rows: unknown[] }).rows.length, 4000);
  });

  test("an outcome damaged inside the part the index covers is refused when it is read back, never taken for no outcome", async () => {
    const dir = await tempDir();
    const file = await bigJournal(dir);
    const bytes = await readFile(file);
    const at = bytes.indexOf('"code":"CODE-', bytes.indexOf('"t":"outcome"', Math.floor(bytes.length / 2)));
    const damaged = bytes.subarray(bytes.lastIndexOf('"rid":"', at) + 7, bytes.lastIndexOf('"rid":"', at) + 7 + 36).toString();
    const handle = await open(file, "r+");
    await handle.write(Buffer.from("X"), 0, 1, at + 8);
    await handle.close();
    const refused = (e: unknown): boolean => e instanceof BatchError && e.code === "CHECKPOINT_DAMAGED" && /no longer reads back/.test(e.message);
    const store = await JournalStore.open(file, "camp", { readOnly: true });
    try {
      const states = [...store.entries()].map(([, state]) => state);
      await assert.rejects(store.readOutcomes(states), refused);
      await assert.rejects(store.readOutcome(store.get(damaged) as NonNullable<ReturnType<typeof store.get>>), refused);
    } finally {
      await store.close();
    }
  });

  test("records appended after the index are replayed on top of it", async () => {
    const dir = await tempDir();
    const file = await bigJournal(dir);
    const before = await stat(indexFileOf(file));
    const store = await JournalStore.open(file, "camp");
    await store.recordSent(rid("late"), fp("late"), 9999);
    await store.recordOutcome({ rid: rid("r3"), fp: fp("r3"), status: "issued", attempts: 2, groupId: "1", value: 5, code: "CODE-again" });
    await store.close();
    // Too little was appended to rewrite the index: the next open replays the tail over it.
    assert.equal((await stat(indexFileOf(file))).mtimeMs, before.mtimeMs);
    const indexed = (await view(file)) as { rows: [string, string, string, number, boolean, string, string][] };
    assert.deepEqual(indexed, await fullReplayView(file, dir));
    const late = indexed.rows.find(([id]) => id === rid("late"));
    assert.deepEqual(late?.slice(1, 5), ["sent", fp("late"), 0, true]);
    const r3 = indexed.rows.find(([id]) => id === rid("r3"));
    assert.equal(r3?.[3], 1 + 2, "attempts add up across the index and the tail");
    assert.equal(r3?.[6], "CODE-again");
  });

  test("a rerun that adds under a sixteenth of the journal leaves the index as it is; one that adds more rewrites it", async () => {
    const dir = await tempDir();
    const file = await bigJournal(dir, 80_000);
    const index = indexFileOf(file);
    const journalBytes = (await stat(file)).size;
    assert.ok(journalBytes > 16 * 1.5 * 2 ** 20, "the journal must be big enough for a sixteenth to exceed 1 MiB");
    const addRows = async (from: number, rows: number, resend: string[] = []): Promise<void> => {
      const store = await JournalStore.open(file, "camp");
      await Promise.all(Array.from({ length: rows }, (_, i) => store.recordSent(rid(`x${from + i}`), fp(`x${from + i}`), 100_000 + from + i)));
      // Rows of the index file written to again: their changed pages go into the new index.
      for (const name of resend)
        await store.recordOutcome({ rid: rid(name), fp: fp(`${name}-b`), status: "issued", attempts: 1, groupId: "1", value: 5, code: `CODE-${name}-b` });
      await store.close();
    };
    const written = (await stat(index)).mtimeMs;
    // Some 1.2 MiB: more than the 1 MiB floor, less than a sixteenth of the journal.
    await addRows(0, 9_000);
    assert.equal((await stat(index)).mtimeMs, written);
    assert.deepEqual(await view(file), await fullReplayView(file, dir));
    // Past a sixteenth of the journal since the index: the closing run writes a new one.
    const resent = Array.from({ length: 40 }, (_, i) => `r${i * 1999}`);
    await addRows(9_000, Math.ceil(journalBytes / 16 / 130), resent);
    assert.notEqual((await stat(index)).mtimeMs, written);
    const rewritten = (await view(file)) as { rows: [string, string, string, number, boolean, string, string][] };
    assert.deepEqual(rewritten, await fullReplayView(file, dir));
    for (const name of resent) assert.equal(rewritten.rows.find(([id]) => id === rid(name))?.[6], `CODE-${name}-b`);
  });

  test("an index that does not check out is ignored: damaged, cut short, of another journal, or of a journal since changed at its end", async () => {
    const dir = await tempDir();
    const file = await bigJournal(dir);
    const index = indexFileOf(file);
    const good = await readFile(index);
    // A damaged middle: a full replay refuses it, so every open below that does not throw used the index.
    await damageMiddle(file);
    const refused = (e: unknown): boolean => e instanceof BatchError && e.code === "CHECKPOINT_DAMAGED";

    const flipped = Buffer.from(good);
    flipped[flipped.length - 100] = (flipped[flipped.length - 100] ?? 0) ^ 0xff;
    await writeFile(index, flipped);
    await assert.rejects(view(file), refused, "one flipped byte: the checksum no longer matches");

    await writeFile(index, good.subarray(0, good.length - 10));
    await assert.rejects(view(file), refused, "cut short");

    const other = await bigJournal(await tempDir());
    await copyFile(indexFileOf(other), index);
    await assert.rejects(view(file), refused, "another journal's index (same campaign and shape, other bytes)");

    await writeFile(index, good);
    assert.equal(((await view(file)) as { rows: unknown[] }).rows.length, 4000, "the good index is used again");

    // A byte changed near the end of the part the index covers: the journal is no longer the one indexed.
    const size = (await stat(file)).size;
    const handle = await open(file, "r+");
    await handle.write(Buffer.from("Y"), 0, 1, size - 50);
    await handle.close();
    await assert.rejects(view(file), refused);
  });

  test("a torn tail after the index is cut by a writable open, and the index still serves the rest", async () => {
    const dir = await tempDir();
    const file = await bigJournal(dir);
    const expected = await fullReplayView(file, dir);
    await appendFile(file, '1234abcd {"t":"sent","rid":"torn');
    const store = await JournalStore.open(file, "camp");
    assert.equal(store.info.tornTail, true);
    await store.close();
    const after = (await view(file)) as { info: { tornTail: boolean } };
    assert.equal(after.info.tornTail, false);
    assert.deepEqual(
      { ...after, info: { ...after.info, tornTail: true } },
      { ...(expected as object), info: { ...(expected as { info: object }).info, tornTail: true } },
    );
  });

  test("no index is written for a small journal, and a missing index costs nothing but a full replay", async () => {
    const dir = await tempDir();
    const file = await bigJournal(dir, 20);
    await assert.rejects(stat(indexFileOf(file)), { code: "ENOENT" });
    const big = await bigJournal(await tempDir());
    const expected = await view(big);
    await rm(indexFileOf(big));
    assert.deepEqual(await view(big), expected);
  });
});
