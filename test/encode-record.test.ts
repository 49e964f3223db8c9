import assert from "node:assert/strict";
import { test } from "node:test";
import { stringify } from "csv-stringify/sync";
import fc from "fast-check";
import { encodeCell, type RecordDelimiter, recordEnd } from "../src/csv/encode-record.js";

// The result file's records must read exactly as csv-stringify would have written them.
const cell = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.stringMatching(/^[a-z",\r\n =+@\t-]{0,12}$/),
  // Non-ASCII beside quotes and commas: such cells must not take the encoder's byte-by-byte (ASCII) path.
  fc.stringMatching(/^[a-z",\r\né日本😀]{0,12}$/u),
  fc.constantFrom("", '"', ",", "\n", "\r", "\r\n", '""', 'a"b,c', "\n\r", '{"giftCardCode":"X1","n":1}'),
  // Cells longer than the encoder's scratch room for a byte-by-byte copy (16 KiB), with and without a line break.
  fc.constantFrom('a"'.repeat(9000), `${'"'.repeat(16_383)}\n`, `,${"x".repeat(16_384)}`, `\r${'"'.repeat(20_000)}`),
);

/** A record as the result file's lines are made (src/job/result-lines.ts): cells joined, then the record's end. */
function encodeRecord(fields: readonly string[], delimiter: RecordDelimiter): string {
  return fields.map((field) => encodeCell(field, delimiter)).join(",") + recordEnd(delimiter);
}

for (const delimiter of ["unix", "windows"] as const) {
  test(`encoded cells write what csv-stringify writes (${delimiter})`, () => {
    fc.assert(
      fc.property(fc.array(cell, { minLength: 1, maxLength: 8 }), (fields) => {
        assert.equal(encodeRecord(fields, delimiter), stringify([fields], { record_delimiter: delimiter }));
      }),
      { numRuns: 3000, seed: 15 },
    );
  });
}
