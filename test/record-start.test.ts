import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import iconv from "iconv-lite";
import type { InputEncoding } from "../src/csv/encoding.js";
import { readCsvBatches, type CsvRecord } from "../src/csv/read-records.js";
import { recordStart } from "../src/csv/record-start.js";
import { tempDir } from "./support/cli.js";

/**
 * recordStart (src/csv/record-start.ts) finds where a record begins by following quotes and line
 * ends alone. Whatever it finds, a read that begins there must give exactly the records a read of
 * the whole file gives from that record on, numbered the same: each case reads a real file both
 * ways with csv-parse (read-records.ts) and compares.
 */

async function all(file: string, encoding: InputEncoding, from?: Parameters<typeof readCsvBatches>[3]): Promise<CsvRecord[]> {
  const records: CsvRecord[] = [];
  for await (const batch of readCsvBatches(file, encoding, file, from)) records.push(...batch);
  return records;
}

/** For every record after the header: reading from where recordStart puts it gives the rest of the whole read. */
async function assertEveryStart(file: string, encoding: InputEncoding = "utf8"): Promise<number> {
  const whole = await all(file, encoding);
  for (let i = 1; i < whole.length; i++) {
    const row = (whole[i] as CsvRecord).row;
    const start = await recordStart(file, row);
    assert.ok(start, `record ${row} of ${whole.length} found`);
    const rest = await all(file, encoding, { ...start, row });
    assert.deepEqual(rest, [whole[0], ...whole.slice(i)], `a read from record ${row}`);
  }
  assert.equal(await recordStart(file, whole.length + 1), undefined, "no record past the last");
  return whole.length;
}

const HEADER = "recipient_id,email,note";

describe("recordStart: where a read of the input may begin", () => {
  test("LF, CRLF and CR files, with quoted line breaks, doubled quotes, empty lines and no final line end", async () => {
    const dir = await tempDir();
    const rows = [
      HEADER,
      'R1,a@example.com,"two\nlines"',
      'R2,b@example.com,"say ""hi"", then\r\nleave"',
      "",
      "R3,c@example.com,",
      '"R4","d@example.com",""',
      "",
      "",
      'R5,e@example.com,"a ""quoted"" \r word"',
      ",,",
      "R6,f@example.com,last",
    ];
    for (const [name, end] of [
      ["lf", "\n"],
      ["crlf", "\r\n"],
      ["cr", "\r"],
    ] as const) {
      const file = join(dir, `${name}.csv`);
      await writeFile(file, rows.join(end));
      assert.equal(await assertEveryStart(file), 8, name);
      await writeFile(file, `\uFEFF${rows.join(end)}${end}${end}`);
      assert.equal(await assertEveryStart(file), 8, `${name} with a BOM and trailing line ends`);
    }
  });

  test("Shift_JIS: second bytes never pass for a quote or a line end", async () => {
    const dir = await tempDir();
    // ソ and 表 end in 0x5C; 日本語 and full-width quotes exercise the rest of the second-byte range.
    const text = [HEADER, "R1,a@example.com,ソフト表示", 'R2,b@example.com,"日本語,“引用”\n改行"', "R3,c@example.com,ｶﾀｶﾅ"].join("\r\n");
    const file = join(dir, "sjis.csv");
    await writeFile(file, iconv.encode(text, "cp932"));
    assert.equal(await assertEveryStart(file, "cp932"), 4);
  });

  test("generated files: every start agrees with csv-parse", async () => {
    const dir = await tempDir();
    const cell = fc.oneof(
      fc.constantFrom("", "x", "名前", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "crlf\r\nthere", '""', " "),
      fc.string({ maxLength: 6 }),
    );
    const quoted = (value: string): string => `"${value.replaceAll('"', '""')}"`;
    const plain = (value: string): boolean => !/[",\r\n]/.test(value);
    const line = fc.array(cell, { minLength: 3, maxLength: 3 }).map((cells) => cells.map((c) => (plain(c) && c !== "" ? c : quoted(c))).join(","));
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof({ weight: 5, arbitrary: line }, { weight: 1, arbitrary: fc.constant("") }), { minLength: 1, maxLength: 12 }),
        fc.constantFrom("\n", "\r\n", "\r"),
        fc.boolean(),
        async (lines, end, finalEnd) => {
          const file = join(dir, `gen-${run++}.csv`);
          await writeFile(file, [HEADER, ...lines].join(end) + (finalEnd ? end : ""));
          await assertEveryStart(file);
        },
      ),
      { numRuns: 150 },
    );
  });

  test("a record number that cannot be a data row's is not looked for", async () => {
    const dir = await tempDir();
    const file = join(dir, "small.csv");
    await writeFile(file, `${HEADER}\nR1,a@example.com,x\n`);
    assert.equal(await recordStart(file, 1), undefined);
    assert.equal(await recordStart(file, 0), undefined);
    assert.equal(await recordStart(file, 2.5), undefined);
    assert.deepEqual(await recordStart(file, 2), { offset: HEADER.length + 1, recordDelimiter: "\n" });
  });
});
