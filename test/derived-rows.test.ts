import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parseColumnMap } from "../src/job/columns.js";
import { DerivedRows, derivedRowsPath } from "../src/job/derived-rows.js";
import { readInputBatches, type InputItem, type ResolvedInputSpec } from "../src/job/input-rows.js";
import { prepareRun } from "../src/job/prepare-run.js";
import { tempDir } from "./support/cli.js";

/**
 * The plan pass's spill of requestIds and fingerprints (src/job/derived-rows.ts): a result pass
 * that reads it must see exactly the rows a pass that derives everything sees, and a spill that does
 * not line up with the rows must never be used for them.
 */

const settings = { retryFailed: false, allowPartial: false, acceptChanged: false, spend: { capRequired: false } };

async function csv(dir: string, name: string, rows: string[]): Promise<ResolvedInputSpec> {
  const file = join(dir, name);
  await writeFile(file, `recipient_id,amount,email\n${rows.join("\n")}\n`);
  return {
    file,
    encoding: "utf8",
    campaign: "spring",
    columns: parseColumnMap([]),
    defaults: { giftCardName: "Spring gift", groupId: "29952775505428481", startAt: "2094-04-01", endAt: "2094-06-30" },
  };
}

async function spillOf(spec: ResolvedInputSpec, dir: string): Promise<DerivedRows> {
  const prepared = await prepareRun(spec, undefined, settings, async () => [], { spillTo: derivedRowsPath(join(dir, "state")) });
  assert.ok(prepared.derived);
  return prepared.derived;
}

async function items(spec: ResolvedInputSpec, derived?: DerivedRows, only?: (row: number) => boolean): Promise<InputItem[]> {
  const all: InputItem[] = [];
  for await (const batch of readInputBatches(spec, only, derived)) all.push(...batch);
  return all;
}

const requestIds = (all: InputItem[]): string[] => all.flatMap((i) => (i.kind === "row" ? [i.prepared.request.requestId] : []));

const recipients = (n: number, prefix = "M"): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(6, "0")},${100 + (i % 5)},m${i}@example.com`);

describe("derived rows spill", () => {
  test("rows read with the spill are exactly the rows derived afresh, across many batches, blank lines and empty rows", async () => {
    const dir = await tempDir();
    const rows = recipients(3000);
    rows.splice(700, 0, ",,");
    rows.splice(1500, 0, "");
    const spec = await csv(dir, "in.csv", rows);
    const spill = await spillOf(spec, dir);
    assert.equal(spill.rows, 3000);
    assert.deepEqual(await items(spec, spill), await items(spec));
    await spill.remove();
    assert.deepEqual(await readdir(dir), ["in.csv"], "the spill is removed");
  });

  test("the spill is what the pass reads, so it serves only the file it was made from", async () => {
    const dir = await tempDir();
    const spill = await spillOf(await csv(dir, "planned.csv", recipients(500)), dir);
    // Another file with the same layout but other recipients: forced onto it, the spill would hand
    // out the planned file's requestIds (the pass really reads them)…
    const other = await csv(dir, "other.csv", recipients(500, "X"));
    const forced = await items(other, new DerivedRows(spill.path, other.file, spill.rows));
    const fresh = await items(other);
    assert.notDeepEqual(requestIds(forced), requestIds(fresh));
    // …which is why no reader is given for any file but its own.
    assert.equal(await spill.readerFor(other.file), undefined);
    assert.deepEqual(await items(other, spill), fresh);
  });

  test("a pass that reads some rows only (the applier) takes their records and passes over the rest", async () => {
    const dir = await tempDir();
    const planned = await csv(dir, "planned.csv", recipients(40_000));
    const spill = await spillOf(planned, dir);
    // Runs of rows read and left out, across batches (256 records), and a gap longer than the
    // reader's buffer (16,384 records) with no row read at all.
    const only = (row: number): boolean => (row % 7 === 0 && (row < 3000 || row > 25_000)) || (row > 600 && row < 1400) || row > 39_990;
    assert.deepEqual(await items(planned, spill, only), await items(planned, undefined, only));
    // Forced onto another file with the same layout, the spill hands out the planned file's
    // requestIds for those very rows: the pass takes them from the spill, it does not derive them.
    const other = await csv(dir, "other.csv", recipients(40_000, "X"));
    const forced = await items(other, new DerivedRows(spill.path, other.file, spill.rows), only);
    assert.deepEqual(requestIds(forced), requestIds(await items(planned, undefined, only)));
    assert.notDeepEqual(requestIds(forced), requestIds(await items(other, undefined, only)));
  });

  test("a spill that lacks a row the pass reads is dropped there; every row is still derived right", async () => {
    const dir = await tempDir();
    const rows = recipients(2000);
    const valid = rows[999] as string;
    // Planned with row 1001 invalid (it takes no record), then read with it valid, as if the passes disagreed.
    rows[999] = "M-000999,not-a-number,m999@example.com";
    const spec = await csv(dir, "in.csv", rows);
    const spill = await spillOf(spec, dir);
    rows[999] = valid;
    await writeFile(spec.file, `recipient_id,amount,email\n${rows.join("\n")}\n`);
    const read = await items(spec, spill);
    assert.deepEqual(read, await items(spec));
    assert.equal(read.filter((i) => i.kind === "invalid").length, 0);
  });
});
