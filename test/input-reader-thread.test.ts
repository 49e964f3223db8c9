import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import iconv from "iconv-lite";
import { parseColumnMap } from "../src/job/columns.js";
import { derivedRowsPath, DerivedRowsWriter } from "../src/job/derived-rows.js";
import { packBatch, unpackBatch } from "../src/job/input-batch-codec.js";
import { OFF_THREAD_MIN_BYTES, readInputBatchesOffThread, readWholeInput } from "../src/job/input-reader-thread.js";
import { readInputBatches, type InputItem, type ResolvedInputSpec } from "../src/job/input-rows.js";
import { fingerprintOf } from "../src/job/prepared-row.js";
import { tempDir } from "./support/cli.js";

/**
 * The input read on a second thread (src/job/input-reader-thread.ts) must be the input read on the
 * main thread: the same items in the same order, row for row, and the same error when the file is
 * bad. Every case here reads one real file both ways and compares the whole result.
 */

const DEFAULTS = { giftCardName: "Spring gift", groupId: "29952775505428481", startAt: "2094-04-01", endAt: "2094-06-30", amount: 100 };

async function specOf(dir: string, name: string, text: string | Buffer, encoding: "utf8" | "cp932" = "utf8"): Promise<ResolvedInputSpec> {
  const file = join(dir, name);
  await writeFile(file, text);
  return { file, encoding, campaign: "spring", columns: parseColumnMap([]), defaults: { ...DEFAULTS } };
}

async function collect(batches: AsyncIterable<InputItem[]>): Promise<{ items: InputItem[]; batches: number }> {
  const items: InputItem[] = [];
  let count = 0;
  for await (const batch of batches) {
    items.push(...batch);
    count++;
  }
  return { items, batches: count };
}

async function failureOf(batches: AsyncIterable<InputItem[]>): Promise<Error> {
  try {
    await collect(batches);
  } catch (error) {
    return error as Error;
  }
  assert.fail("expected the read to fail");
}

async function assertSameBothWays(spec: ResolvedInputSpec, derived?: Awaited<ReturnType<DerivedRowsWriter["finish"]>>): Promise<InputItem[]> {
  const here = await collect(readInputBatches(spec, undefined, derived));
  // The thread leaves fingerprints to the receiver (a plan pass) or makes them itself (a result pass).
  for (const fingerprintThere of [false, true]) {
    const there = await collect(readInputBatchesOffThread(spec, derived, fingerprintThere));
    assert.deepEqual(there.items, here.items, `fingerprints made ${fingerprintThere ? "on the thread" : "on receipt"}`);
    assert.equal(there.batches, here.batches, "the same batches, so the store is asked for the same rows at a time");
  }
  return here.items;
}

const rowsOf = (items: InputItem[]): Extract<InputItem, { kind: "row" }>[] => items.filter((i) => i.kind === "row");

describe("input read on a second thread", () => {
  test("valid rows across many batches, with per-row columns, quoting, multi-byte text and emoji, are the main thread's rows", async () => {
    const dir = await tempDir();
    const lines = ["recipient_id,amount,gift_card_name,start_at,end_at,note"];
    for (let i = 0; i < 1_500; i++) {
      const name = i % 3 === 0 ? `"春の, ""ギフト"" ${i}"` : i % 3 === 1 ? `Gift 🎁 ${i}` : "";
      lines.push(`M-${i},${1 + (i % 999)},${name},2094-04-0${1 + (i % 9)},2094-06-30,"line one\nline two ${i}"`);
    }
    const items = await assertSameBothWays(await specOf(dir, "rows.csv", `${lines.join("\r\n")}\r\n`));
    const rows = rowsOf(items);
    assert.equal(rows.length, 1_500);
    // The comparison above is only worth something if the rows differ from one another in every field.
    assert.equal(new Set(rows.map((r) => r.prepared.request.giftCardName)).size, 1_001);
    assert.equal(new Set(rows.map((r) => r.prepared.request.giftCardValue)).size, 999);
    assert.equal(new Set(rows.map((r) => r.prepared.request.startAt)).size, 9);
    assert.equal(new Set(rows.map((r) => r.prepared.fingerprint)).size, 1_500);
    assert.equal(rows[0]?.prepared.fingerprint, fingerprintOf(rows[0]!.prepared.request));
    assert.equal(rows[1]?.fields[2], "Gift 🎁 1");
  });

  test("invalid, empty, duplicate and header rows keep their kinds, problems and places among the valid ones", async () => {
    const dir = await tempDir();
    const text = [
      "recipient_id,amount,email",
      "A-1,100,a@example.com",
      ",,",
      "A-2,abc,b@example.com",
      "A-1,100,again@example.com",
      "A-3,100",
      "",
      "A-4,1000000,d@example.com",
      "A-5,5,e@example.com",
    ].join("\n");
    const items = await assertSameBothWays(await specOf(dir, "mixed.csv", `${text}\n`));
    assert.deepEqual(
      items.map((i) => i.kind),
      ["header", "row", "empty", "invalid", "row", "invalid", "invalid", "row"],
    );
  });

  test("a header without recipient_id ends the read after the header, as on the main thread", async () => {
    const dir = await tempDir();
    const items = await assertSameBothWays(await specOf(dir, "no-id.csv", "member,amount\nA-1,100\nA-2,100\n"));
    assert.equal(items.length, 1);
    assert.equal(items[0]?.kind, "header");
  });

  test("Shift_JIS input, with a byte sequence that does not decode, reads alike", async () => {
    const dir = await tempDir();
    const good = iconv.encode("recipient_id,gift_card_name\nJ-1,春のギフト\nJ-2,夏のギフト\n", "cp932");
    const text = Buffer.concat([good, Buffer.from("J-3,"), Buffer.from([0x81, 0x0a])]);
    const items = await assertSameBothWays(await specOf(dir, "sjis.csv", text, "cp932"));
    assert.deepEqual(
      items.map((i) => i.kind),
      ["header", "row", "row", "invalid"],
    );
  });

  test("a CSV syntax error and a missing file give the main thread's error: class name, kind, code and message", async () => {
    const dir = await tempDir();
    const rows = Array.from({ length: 600 }, (_, i) => `B-${i},100`);
    const broken = await specOf(dir, "broken.csv", `recipient_id,amount\n${rows.join("\n")}\nB-x,"unclosed\n`);
    const missing = { ...broken, file: join(dir, "nowhere.csv") };
    for (const spec of [broken, missing]) {
      const here = await failureOf(readInputBatches(spec));
      const there = await failureOf(readInputBatchesOffThread(spec));
      assert.equal(there.name, here.name);
      assert.equal(there.message, here.message);
      assert.equal((there as { kind?: string }).kind, (here as { kind?: string }).kind);
      assert.equal((there as { code?: string }).code, (here as { code?: string }).code);
      assert.ok((here as { code?: string }).code, "both are the tool's own errors, with a code");
    }
  });

  test("with the plan pass's spill, rows take its requestIds and fingerprints on both threads", async () => {
    const dir = await tempDir();
    const lines = Array.from({ length: 700 }, (_, i) => `S-${i},${1 + i}`);
    const spec = await specOf(dir, "spill.csv", `recipient_id,amount\n${lines.join("\n")}\n`);
    // A spill whose values no hash gives: a thread that ignored it would derive other ones.
    const writer = await DerivedRowsWriter.create(derivedRowsPath(join(dir, "state")), spec.file);
    const forged = (n: number, digit: string): string => `${digit.repeat(8)}-0000-5000-8000-${String(n).padStart(12, "0")}`;
    for (let i = 0; i < 700; i++) assert.ok(writer.add(i + 2, forged(i, "a"), forged(i, "b").replaceAll("-", "")));
    const derived = await writer.finish();
    try {
      const rows = rowsOf(await assertSameBothWays(spec, derived));
      assert.equal(rows.length, 700);
      assert.equal(rows[699]?.prepared.request.requestId, forged(699, "a"));
      assert.equal(rows[699]?.prepared.fingerprint, forged(699, "b").replaceAll("-", ""));
    } finally {
      await derived.remove();
    }
  });

  test("a reader that stops early stops the thread, and the next read starts afresh", async () => {
    const dir = await tempDir();
    const lines = Array.from({ length: 5_000 }, (_, i) => `E-${i},100`);
    const spec = await specOf(dir, "early.csv", `recipient_id,amount\n${lines.join("\n")}\n`);
    let seen = 0;
    for await (const batch of readInputBatchesOffThread(spec)) {
      seen += batch.length;
      break;
    }
    assert.ok(seen > 0 && seen < 5_001);
    const { items } = await collect(readInputBatchesOffThread(spec));
    assert.equal(items.length, 5_001);
  });

  test("readWholeInput reads a file past the threshold to the same items", async () => {
    const dir = await tempDir();
    const lines: string[] = [];
    for (let i = 0; lines.length * 40 < OFF_THREAD_MIN_BYTES * 1.2; i++) lines.push(`W-${String(i).padStart(8, "0")},100,w${i}@example.com`);
    const spec = await specOf(dir, "big.csv", `recipient_id,amount,email\n${lines.join("\n")}\n`);
    const here = await collect(readInputBatches(spec));
    const whole = await collect(readWholeInput(spec));
    assert.deepEqual(whole.items, here.items);
  });
});

describe("packed batches", () => {
  const row = (n: number, fingerprint: string): InputItem => ({
    kind: "row",
    fields: [`R-${n}`, `名前 ${n} 🎁`, ""],
    prepared: {
      row: n,
      recipientId: `R-${n}`,
      request: {
        requestId: `0000000${n}-0000-5000-8000-000000000000`,
        groupId: `${n}9952775505428481`,
        giftCardName: `名前 ${n} 🎁`,
        giftCardValue: n * 7,
        startAt: `2094-04-0${n}`,
        endAt: `2094-06-2${n}`,
      },
      fingerprint,
    },
  });

  test("round-trips rows and the items between them, each string and number in its own place", () => {
    const items: InputItem[] = [
      { kind: "header", header: ["recipient_id", "name", "x"], index: { recipient_id: 0 } as never, problems: [] },
      row(1, "a".repeat(32)),
      { kind: "empty", fields: ["", "", ""], row: 3 },
      row(4, "b".repeat(32)),
      { kind: "invalid", fields: ["", "x", "y"], row: 5, problems: [{ row: 5, column: "recipient_id", value: "", rule: "is required" }] },
      row(6, "c".repeat(32)),
    ];
    assert.deepEqual(unpackBatch(packBatch(items)), items);
    assert.deepEqual(unpackBatch(packBatch([])), []);
  });

  test("a row sent without its fingerprint gets the fingerprint of its body", () => {
    const sent = row(2, "");
    const [back] = unpackBatch(packBatch([sent]));
    assert.ok(back?.kind === "row");
    assert.equal(back.prepared.fingerprint, fingerprintOf(back.prepared.request));
    assert.match(back.prepared.fingerprint, /^[0-9a-f]{32}$/);
  });
});
