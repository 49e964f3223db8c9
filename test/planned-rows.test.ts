import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { JournalStore } from "../src/checkpoint/journal-store.js";
import { parseColumnMap } from "../src/job/columns.js";
import { readInputBatches, type InputItem, type ResolvedInputSpec } from "../src/job/input-rows.js";
import type { Plan } from "../src/job/plan.js";
import { plannedBatches } from "../src/job/planned-rows.js";
import type { PreparedRow } from "../src/job/prepared-row.js";
import { RowSet } from "../src/job/row-set.js";
import { tempDir } from "./support/cli.js";

/**
 * The applier begins reading the input at the first row the plan sends (src/job/planned-rows.ts).
 * It must hand out exactly the rows a read from the top hands out, and it must read from the top
 * whenever the row it finds is not the plan's. To tell the two reads apart, some files here break
 * the CSV grammar before that row (`a""b` in an unquoted cell: csv-parse refuses it, while quotes
 * and line ends stay where they were): only a read from the top trips on it.
 */

const DEFAULTS = { giftCardName: "Gift", groupId: "29952775505428481", startAt: "2094-04-01", endAt: "2094-06-30", amount: 100 };
const HEADER = "recipient_id,note";

function lines(count: number, note: (i: number) => string = (i) => `note ${i}`): string[] {
  return Array.from({ length: count }, (_, i) => `R${String(i).padStart(6, "0")},${note(i)}`);
}

async function fileOf(dir: string, name: string, rows: string[], end = "\n"): Promise<ResolvedInputSpec> {
  const file = join(dir, name);
  await writeFile(file, [HEADER, ...rows].join(end) + end);
  return { file, encoding: "utf8", campaign: "spring", columns: parseColumnMap([]), defaults: { ...DEFAULTS } };
}

async function rowsOf(spec: ResolvedInputSpec): Promise<PreparedRow[]> {
  const rows: PreparedRow[] = [];
  for await (const batch of readInputBatches(spec)) for (const item of batch as InputItem[]) if (item.kind === "row") rows.push(item.prepared);
  return rows;
}

async function planned(spec: ResolvedInputSpec, toSend: number[], firstSend: Plan["firstSend"]): Promise<PreparedRow[]> {
  const store = await JournalStore.open(join(spec.file, "..", `${Math.random()}.checkpoint`), "spring");
  const set = new RowSet();
  for (const row of toSend) set.add(row);
  const rows: PreparedRow[] = [];
  try {
    for await (const batch of plannedBatches(store, { cutoffs: {}, input: spec, toSend: set, firstSend })) rows.push(...batch);
  } finally {
    await store.close();
  }
  return rows;
}

const firstOf = (row: PreparedRow): Plan["firstSend"] => ({ row: row.row, requestId: row.request.requestId, fingerprint: row.fingerprint });

describe("the applier's rows, read from the first row the plan sends", () => {
  test("rows appended to a file: the rows sent are the ones a read from the top gives, and the rows before are not parsed", async () => {
    const dir = await tempDir();
    const all = lines(3_000, (i) => (i % 97 === 0 ? `"a ""quoted"", multi\nline note ${i}"` : `note ${i}`));
    const good = await fileOf(dir, "good.csv", all);
    const whole = await rowsOf(good);
    const sent = whole.filter((r) => r.row > 2_500 && r.row % 3 !== 0);
    const plannedFrom = (spec: ResolvedInputSpec): Promise<PreparedRow[]> =>
      planned(
        spec,
        sent.map((r) => r.row),
        firstOf(sent[0] as PreparedRow),
      );
    assert.deepEqual(await plannedFrom(good), sent);
    // The same bytes from the first sent row on, a cell that breaks the grammar before it.
    const broken = await fileOf(dir, "broken.csv", [...all.slice(0, 10), 'R999999,a""b', ...all.slice(11)]);
    assert.deepEqual(await plannedFrom(broken), sent);
    await assert.rejects(rowsOf(broken), { code: "CSV_SYNTAX" }, "a read from the top trips on the broken cell");
  });

  test("CRLF line ends and quoted line breaks before the first row sent", async () => {
    const dir = await tempDir();
    const spec = await fileOf(
      dir,
      "crlf.csv",
      lines(600, (i) => (i % 5 === 0 ? `"two\r\nlines ${i}"` : `n${i}`)),
      "\r\n",
    );
    const whole = await rowsOf(spec);
    const sent = whole.slice(450);
    assert.deepEqual(
      await planned(
        spec,
        sent.map((r) => r.row),
        firstOf(sent[0] as PreparedRow),
      ),
      sent,
    );
  });

  test("a first row that is not the plan's (another requestId, another body, another place): the rows come from the top", async () => {
    const dir = await tempDir();
    const all = lines(400);
    const good = await fileOf(dir, "good.csv", all);
    const broken = await fileOf(dir, "broken.csv", [...all.slice(0, 5), 'R999999,a""b', ...all.slice(6)]);
    const whole = await rowsOf(good);
    const sent = whole.slice(300);
    const rows = sent.map((r) => r.row);
    const first = firstOf(sent[0] as PreparedRow) as NonNullable<Plan["firstSend"]>;
    for (const wrong of [
      { ...first, requestId: (whole[0] as PreparedRow).request.requestId },
      { ...first, fingerprint: "0".repeat(32) },
      { ...first, row: first.row + 1 },
      { ...first, row: 10_000 },
    ]) {
      assert.deepEqual(await planned(good, rows, wrong), sent, `${JSON.stringify(wrong)}: read from the top`);
      await assert.rejects(planned(broken, rows, wrong), { code: "CSV_SYNTAX" }, `${JSON.stringify(wrong)}: the top was read`);
    }
  });
});
