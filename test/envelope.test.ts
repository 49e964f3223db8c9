import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { plainForm, readCreateEnvelope, readCreateEnvelopeExact } from "../src/paypay/envelope.js";

/**
 * A create answer's envelope is read with JSON.parse, and `data`'s text cut from the body, where
 * that gives exactly what the lossless reading gives (src/paypay/envelope.ts). These check the two
 * readings against each other on any envelope, including the forms the cut must leave alone.
 */

const SIMULATOR_BODY =
  '{"resultInfo":{"code":"SUCCESS","message":"Success","codeId":"08100001"},"data":{"giftCardCode":"2VE77SBTA3G3HT6U","requestId":"0a8f7b2e-1111-5222-8333-444455556666","groupId":29952775505428481,"giftCardName":"x","giftCardValue":1,"startAt":"2094-04-01","endAt":"2094-06-30"}}';
const SIMULATOR_DATA = SIMULATOR_BODY.slice(SIMULATOR_BODY.indexOf('"data":') + 7, -1);

/** JSON text of a tree whose numbers are kept as the exact text they were generated with. */
type Tree = { n: string } | { s: string } | { lit: "true" | "false" | "null" } | { a: Tree[] } | { o: Array<[string, Tree]> };

const numberText = fc.oneof(
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc.constantFrom("0", "-0", "1.0", "1e5", "1E+5", "2.50", "-3.25e-7", "9007199254740993", "29952775505428481"),
);
// Plain text most of the time (the cut applies); sometimes quotes, backslashes, controls, emoji.
const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(..."abcXYZ019-_ .:,{}[]あ円") }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme" }) },
  { weight: 1, arbitrary: fc.constantFrom('a"b', "a\\b", "line\nbreak", "tab\t", "🌸", "\u2028") },
);
const key = fc.oneof({ weight: 5, arbitrary: text }, { weight: 1, arbitrary: fc.constantFrom("0", "12", "1a", "__proto__", "data", "giftCardCode") });

const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    numberText.map((n) => ({ n })),
    text.map((s) => ({ s })),
    fc.constantFrom("true", "false", "null").map((lit) => ({ lit }) as Tree),
    fc.array(tie("tree"), { maxLength: 4 }).map((a) => ({ a })),
    fc.array(fc.tuple(key, tie("tree")), { maxLength: 5 }).map((o) => ({ o })),
  ),
}));

function write(node: Tree, space: string): string {
  if ("n" in node) return node.n;
  if ("s" in node) return JSON.stringify(node.s);
  if ("lit" in node) return node.lit;
  if ("a" in node) return `[${node.a.map((item) => space + write(item, space)).join(",")}]`;
  return `{${node.o.map(([k, v]) => `${space}${JSON.stringify(k)}${space}:${space}${write(v, space)}`).join(",")}}`;
}

const envelope = fc.record({
  code: fc.oneof(fc.constantFrom("SUCCESS", "BUDGET_NOT_ENOUGH", ""), text).map((s) => ({ s }) as Tree),
  message: fc.oneof(
    text.map((s) => ({ s }) as Tree),
    numberText.map((n) => ({ n }) as Tree),
  ),
  codeValue: fc.oneof(
    text.map((s) => ({ s }) as Tree),
    numberText.map((n) => ({ n }) as Tree),
  ),
  data: fc.oneof({ weight: 5, arbitrary: fc.array(fc.tuple(key, tree), { maxLength: 5 }) }, { weight: 1, arbitrary: fc.constant(undefined) }),
  extra: fc.array(fc.tuple(key, tree), { maxLength: 2 }),
  space: fc.constantFrom("", "", "", " ", "\n"),
  codeFirst: fc.boolean(),
});

type GeneratedEnvelope = typeof envelope extends fc.Arbitrary<infer T> ? T : never;

function bodyOf(e: GeneratedEnvelope): string {
  const resultInfo: Tree = {
    o: [
      ["code", e.code],
      ["message", e.message],
      ["codeId", { s: "08100001" }],
    ],
  };
  const data: Tree | undefined =
    e.data === undefined ? undefined : { o: e.codeFirst ? [["giftCardCode", e.codeValue], ...e.data] : [...e.data, ["giftCardCode", e.codeValue]] };
  const members: Array<[string, Tree]> = [["resultInfo", resultInfo], ...(data ? ([["data", data]] as Array<[string, Tree]>) : []), ...e.extra];
  return write({ o: members }, e.space);
}

describe("reading a create answer's envelope", () => {
  test("the fast reading equals the lossless one on any envelope", () => {
    fc.assert(
      fc.property(envelope, (e) => {
        const body = bodyOf(e);
        assert.deepEqual(readCreateEnvelope(body, "giftCardCode"), readCreateEnvelopeExact(body, "giftCardCode"), body);
      }),
      { numRuns: 3000 },
    );
  });

  test("the simulator's success is cut from the body, every digit of the groupId kept", () => {
    assert.deepEqual(plainForm(SIMULATOR_BODY, JSON.parse(SIMULATOR_BODY)), { dataText: SIMULATOR_DATA });
    assert.deepEqual(readCreateEnvelope(SIMULATOR_BODY, "giftCardCode"), {
      code: "SUCCESS",
      message: "Success",
      issuedCode: "2VE77SBTA3G3HT6U",
      dataText: SIMULATOR_DATA,
    });
    assert.match(SIMULATOR_DATA, /"groupId":29952775505428481,/);
    // Only an object is cut: a `data` of another kind, followed by an object, gives no text.
    const scalarData = '{"resultInfo":{"code":"SUCCESS"},"data":0,"extra":{"a":1}}';
    assert.deepEqual(plainForm(scalarData, JSON.parse(scalarData)), {});
  });

  test("every form the cut would get wrong is left to the lossless reading", () => {
    const cases: Record<string, string> = {
      "whitespace between tokens": '{"resultInfo":{"code":"SUCCESS"},"data": {"giftCardCode":"A"}}',
      "an escape": '{"resultInfo":{"code":"SUCCESS"},"data":{"giftCardCode":"A\\u0042"}}',
      "a repeated key inside data": '{"resultInfo":{"code":"SUCCESS"},"data":{"giftCardCode":"A","x":1,"x":1}}',
      "data given twice": '{"resultInfo":{"code":"SUCCESS"},"data":{"giftCardCode":"A"},"data":{"giftCardCode":"B"}}',
      "an integer-like key": '{"resultInfo":{"code":"SUCCESS"},"data":{"giftCardCode":"A","1":true}}',
      "a character outside the BMP": '{"resultInfo":{"code":"SUCCESS"},"data":{"giftCardCode":"🌸"}}',
      "a lone surrogate": '{"resultInfo":{"code":"SUCCESS"},"data":{"giftCardCode":"A\ud800"}}',
    };
    for (const [name, body] of Object.entries(cases)) {
      assert.equal(plainForm(body, JSON.parse(body)), undefined, name);
      const exact = readCreateEnvelopeExact(body, "giftCardCode");
      assert.deepEqual(readCreateEnvelope(body, "giftCardCode"), exact, name);
    }
    assert.equal(readCreateEnvelope(cases["data given twice"] as string, "giftCardCode"), undefined, "lossless-json refuses differing repeats");
    assert.equal(readCreateEnvelope(cases["an integer-like key"] as string, "giftCardCode")?.dataText, '{"1":true,"giftCardCode":"A"}');
  });
});
