import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { cellsField, copyField } from "../src/checkpoint/pg/copy-text.js";

// The load's text must read back as the generic build did: JSON.stringify(Object.fromEntries(…)),
// then COPY's escapes (backslash, tab, line feed, carriage return) by a regex replace.
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };
const generic = (value: string): string => value.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c] ?? c);
/** COPY's text format read back (the escapes the load writes; \N never, as nothing is null). */
const readCopyField = (field: string): string => field.replace(/\\(.)/gs, (_, c: string) => ({ t: "\t", n: "\n", r: "\r" })[c] ?? c);

const text = fc.oneof(
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.stringMatching(/^[a-z"\\\t\r\n\u0000\u001f{}:,]{0,12}$/),
  fc.constantFrom("", "\\", "\\N", "\\.", '"', "山田 太郎", "\ud83d\ude00", "\ud800", "__proto__", "1", "tab\there"),
);

test("copyField escapes what the generic replace escaped, and only that", () => {
  fc.assert(
    fc.property(text, (value) => {
      assert.equal(copyField(value), generic(value));
      assert.equal(readCopyField(copyField(value)), value);
    }),
    { numRuns: 5000, seed: 13 },
  );
});

test("cellsField: the same JSON object as Object.fromEntries + JSON.stringify, a header named twice keeping its last value", () => {
  fc.assert(
    fc.property(
      fc
        .array(fc.oneof(text, fc.constantFrom("recipient_id", "amount")), { maxLength: 6 })
        .chain((header) => fc.tuple(fc.constant(header), fc.array(text, { minLength: header.length, maxLength: header.length }))),
      ([header, fields]) => {
        const field = cellsField(header)(fields);
        assert.ok(!/[\t\n\r]/.test(field), "no raw tab or line break: JSON escapes them");
        const expected = JSON.stringify(Object.fromEntries(header.map((name, i) => [name, fields[i] ?? ""])));
        assert.deepEqual(JSON.parse(readCopyField(field)), JSON.parse(expected));
        // Without a header named twice or like an array index (which an object lists first) the text
        // itself is what the generic build wrote, escaped for COPY; jsonb orders keys its own way anyway.
        const plain = new Set(header).size === header.length && !header.some((name) => /^(0|[1-9][0-9]*)$/.test(name));
        if (plain) assert.equal(field, generic(expected));
      },
    ),
    { numRuns: 5000, seed: 17 },
  );
});

test('cellsField: a row shorter than its header gets "" for the missing cells', () => {
  assert.equal(cellsField(["a", "b"])(["x"]), '{"a":"x","b":""}');
  assert.equal(cellsField([])([]), "{}");
});
