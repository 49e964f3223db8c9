import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { stringify } from "csv-stringify/sync";
import { BatchError } from "../../src/errors.js";
import { indexHeader, parseColumnMap } from "../../src/job/columns.js";
import { readInputRows, resolveInput, type ResolvedInputSpec } from "../../src/job/input-rows.js";
import { prepareRun } from "../../src/job/prepare-run.js";
import { validateRow } from "../../src/job/validate-row.js";
import { runCli, tempDir } from "../support/cli.js";
import { startSimulator } from "../support/simulator.js";
import { exists, issueArgs } from "../support/job.js";
import { CORPUS, HEADER, type CorpusCase } from "./support/corpus.js";
import { writeFigures } from "./support/figures.js";
import { formatViolations } from "./support/invariants.js";
import { figureName, skipFor, STORE_KINDS, type StoreKind, stateFor } from "./support/stores.js";
import { sql } from "../support/pg.js";
import { campaignArgs } from "./support/recipients.js";
import { PROOF_SEED, replay, subSeed } from "./support/seed.js";

/**
 * Hostile input. Property-based tests (fast-check, seeded by PROOF_SEED) run the pure validator and
 * the streaming reader + planner in-process on generated cells and generated CSV files, against
 * independent oracles written from the README's rules; a corpus of malformed files goes through the
 * real CLI, with each store (support/stores.ts). Every malformed file must be refused with exit 2, a
 * message naming row, column and rule, zero requests at the simulator, no result file, nothing of it
 * in the database, and never a stack trace.
 */

const FILE = "test/proof/hostile-input.test.ts";
const COLUMNS = HEADER.split(",");
const MAP = parseColumnMap([]);
const { index: INDEX } = indexHeader(COLUMNS, MAP);
const CAMPAIGN = "hostile";

// ---- oracles: the README's rules, written independently of src/ ----------------------------------

const codePoints = (s: string): number => Array.from(s).length;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;
const WHITESPACE_ONLY = /^[\s\uFEFF]*$/u;

type Verdict = "ok" | "problem";

function amountVerdict(s: string): Verdict {
  return /^[1-9][0-9]{0,5}$/.test(s) ? "ok" : "problem";
}

function nameVerdict(s: string): Verdict {
  if (s === "" || WHITESPACE_ONLY.test(s) || codePoints(s) > 40 || CONTROL.test(s)) return "problem";
  return "ok";
}

function recipientVerdict(s: string): Verdict {
  if (s === "" || s !== s.trim() || codePoints(s) > 256 || CONTROL.test(s)) return "problem";
  return "ok";
}

function groupVerdict(s: string): Verdict {
  return /^[1-9][0-9]*$/.test(s) && BigInt(s) <= 2n ** 63n - 1n ? "ok" : "problem";
}

/** Days since 0000-03-01 for a real proleptic-Gregorian date, else undefined. */
function dayOf(s: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (mo < 1 || mo > 12 || d < 1 || d > days[mo - 1]!) return undefined;
  let n = d;
  for (let i = 0; i < mo - 1; i++) n += days[i]!;
  for (let year = 0; year < y; year++) n += (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 366 : 365;
  return n;
}

/** The logical columns an oracle says are at fault in a record (no defaults given). */
function expectedProblemColumns(record: readonly string[]): Set<string> {
  const [id, amount, name, group, start, end] = record as [string, string, string, string, string, string];
  const bad = new Set<string>();
  if (recipientVerdict(id) === "problem") bad.add("recipient_id");
  if (amountVerdict(amount) === "problem") bad.add("amount");
  if (nameVerdict(name) === "problem") bad.add("gift_card_name");
  if (groupVerdict(group) === "problem") bad.add("group_id");
  const s = dayOf(start);
  const e = dayOf(end);
  if (s === undefined) bad.add("start_at");
  if (e === undefined) bad.add("end_at");
  if (s !== undefined && e !== undefined && s > e) bad.add("end_at");
  return bad;
}

// ---- generators ------------------------------------------------------------------------------------

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: min, maxLength: max });
const nasty = fc.constantFrom("", " ", "\u0000", "\u0085", "\t", "\r", "\n", '"', ",", "\uFEFF", "\u3000", "é", "名", "🎉", "e\u0301", "👨‍👩‍👧", "\u200b");
const anyText = (max: number) => fc.string({ unit: "binary", maxLength: max }).filter((s) => !s.includes("\uFFFD"));

const amountArb = fc.oneof(
  fc.integer({ min: 1, max: 999_999 }).map(String),
  fc.constantFrom("1e3", "0x10", "-1", "1.5", "1000000", "0", "+500", "05", "５００", " 500", "500 ", "1,000", "1_000", "Infinity", "NaN", "٥٠٠"),
  digits(1, 9),
  fc.tuple(fc.integer({ min: 1, max: 999_999 }).map(String), nasty).map(([a, b]) => a + b),
  anyText(8),
);

const nameArb = fc
  .oneof(
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 45 }),
    fc.string({ unit: "binary", minLength: 1, maxLength: 45 }),
    fc.tuple(fc.integer({ min: 34, max: 41 }), fc.constantFrom("👍🏽", "👨‍👩‍👧", "か\u3099", "e\u0301", "🇯🇵", "名")).map(([n, tail]) => "a".repeat(n) + tail),
    fc.constantFrom("   ", "\u3000", "\uFEFF", "a\u0000b", "tab\there", "a\u0085"),
  )
  .filter((s) => !s.includes("\uFFFD"));

const recipientArb = fc
  .oneof(
    fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/),
    fc.string({ unit: "binary", minLength: 1, maxLength: 20 }),
    fc.tuple(fc.constantFrom(" ", "\t", "\u3000"), fc.stringMatching(/^[A-Z0-9]{1,6}$/)).map(([pad, id]) => pad + id),
    fc.integer({ min: 250, max: 260 }).map((n) => "x".repeat(n)),
  )
  .filter((s) => s !== "" && !s.includes("\uFFFD"));

const groupArb = fc.oneof(
  fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }).map(String),
  fc.constantFrom("29952775505428481", "9223372036854775807", "9223372036854775808", "0", "-1", "01", "1.0", "1e5", " 1", "+1", "99999999999999999999"),
  digits(1, 20),
);

const dateArb = fc.oneof(
  fc
    .tuple(fc.integer({ min: 2024, max: 2028 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }))
    .map(([y, m, d]) => `${y}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`),
  fc
    .tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }))
    .map(([y, m, d]) => `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`),
  fc.constantFrom(
    "2094-02-30",
    "2026-2-3",
    "2026/04/01",
    "20260401",
    " 2094-04-01",
    "2026-04-01T00:00",
    "2092-02-29",
    "2093-02-29",
    "2000-02-29",
    "1900-02-29",
  ),
);

const hostileRecordArb = fc.tuple(recipientArb, amountArb, nameArb, groupArb, dateArb, dateArb, anyText(30));

/**
 * Records every rule accepts: without them the generated cases were almost all refused (11 of 700
 * records valid, no clean file at all), and the accepting side of each rule went all but untested.
 */
const validDateArb = fc
  .tuple(fc.integer({ min: 2024, max: 2028 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }))
  .map(([y, m, d]) => `${y}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`);
const validRecordArb = fc
  .tuple(
    fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/),
    fc.integer({ min: 1, max: 999_999 }).map(String),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }).filter((s) => nameVerdict(s) === "ok" && !s.includes("\uFFFD")),
    fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }).map(String),
    validDateArb,
    validDateArb,
    anyText(30),
  )
  .map(
    ([id, amount, name, group, a, b, extra]) =>
      // biome-ignore lint/complexity/useMathMinMax: the dates are yyyy-MM-dd strings, ordered as text
      [id, amount, name, group, a < b ? a : b, a < b ? b : a, extra] as [string, string, string, string, string, string, string],
  );

const recordArb = fc.oneof({ weight: 1, arbitrary: validRecordArb }, { weight: 2, arbitrary: hostileRecordArb });

/** Per property: runs asked of fast-check, cases its generator produced, cases checked, and what they were. */
interface Tally {
  asked: number;
  drawn: number;
  checked: number;
  outcomes: Record<string, number>;
}
const tallies = new Map<string, Tally>();
/** Properties that found a counterexample: reported as violations in the figures. */
const failures = new Map<string, string>();

/**
 * Runs a property. The generator itself counts each case it produces, and the predicate names what
 * each case turned out to be (e.g. accepted or refused), so the figures say what was really run.
 */
async function check<T>(name: string, arbitrary: fc.Arbitrary<T>, numRuns: number, predicate: (value: T) => Promise<string> | string): Promise<void> {
  const tally: Tally = { asked: numRuns, drawn: 0, checked: 0, outcomes: {} };
  tallies.set(name, tally);
  const counted = arbitrary.map((value) => {
    tally.drawn++;
    return value;
  });
  const property = fc.asyncProperty(counted, async (value) => {
    const outcome = await predicate(value);
    tally.checked++;
    tally.outcomes[outcome] = (tally.outcomes[outcome] ?? 0) + 1;
  });
  try {
    await fc.assert(property, { numRuns, seed: subSeed(`hostile-${name}`), endOnFailure: false });
  } catch (error) {
    const lines = (error as Error).message.split("\n").filter((l) => /Counterexample|seed:/.test(l));
    const cause = (error as { cause?: Error }).cause?.message?.split("\n")[0];
    failures.set(name, [...lines, ...(cause ? [cause] : [])].join(" / "));
    throw error;
  }
}

// ---- the properties --------------------------------------------------------------------------------

describe("hostile input, property-based (fast-check, in-process)", () => {
  test("validateRow agrees with the oracle on every cell: problems exactly where a rule is broken, named by row and column", async () => {
    await check("cells", fc.tuple(recordArb, fc.integer({ min: 2, max: 100_000 })), 700, ([record, row]) => {
      const result = validateRow(record, row, INDEX, MAP, {});
      const expected = expectedProblemColumns(record);
      const got = new Set("problems" in result ? result.problems.map((p) => p.column) : []);
      assert.deepEqual([...got].sort(), [...expected].sort(), `record ${JSON.stringify(record)} ${replay(FILE)}`);
      if ("problems" in result) {
        for (const p of result.problems) {
          assert.equal(p.row, row);
          assert.ok(p.rule.length > 0);
          assert.equal(p.value, record[COLUMNS.indexOf(p.column)] ?? "", `a problem quotes its cell`);
        }
      } else {
        assert.deepEqual(result.ok.request, {
          groupId: record[3],
          giftCardName: record[2],
          giftCardValue: Number(record[1]),
          startAt: record[4],
          endAt: record[5],
        });
        assert.equal(result.ok.recipientId, record[0]);
      }
      return expected.size === 0 ? "valid" : "invalid";
    });
  });

  test("names: exactly 1..40 code points (emoji, ZWJ, combining marks at the boundary), no controls, not blank", async () => {
    const boundary = fc.tuple(
      fc.array(fc.constantFrom("a", "名", "👍🏽", "👨‍👩‍👧", "か\u3099", "e\u0301", "🇯🇵", " ", "\u0085"), { minLength: 1, maxLength: 30 }),
    );
    await check("names", boundary, 200, ([parts]) => {
      const name = parts.join("");
      const record = ["N-1", "500", name, "29952775505428481", "2094-04-01", "2094-06-30", ""];
      const result = validateRow(record, 2, INDEX, MAP, {});
      assert.equal("ok" in result, nameVerdict(name) === "ok", `name ${JSON.stringify(name)} (${codePoints(name)} code points) ${replay(FILE)}`);
      if ("problems" in result && codePoints(name) > 40 && !WHITESPACE_ONLY.test(name)) {
        assert.ok(
          result.problems.some((p) => p.rule.includes(`(has ${codePoints(name)})`)),
          "the message gives the count",
        );
      }
      return "ok" in result ? "valid" : "invalid";
    });
  });

  test("whole files: every row read back exactly (quotes, commas, newlines, BOM, CRLF), every bad row and duplicate listed, budgets never read when any is", async () => {
    const dir = await tempDir("pcb-proof-hostile-files-");
    const poolIds = fc.constantFrom("dup-a", "dup-b", "会員-1");
    const fileArb = fc.record({
      rows: fc.oneof(
        { weight: 1, arbitrary: fc.array(validRecordArb, { minLength: 1, maxLength: 25 }) },
        {
          weight: 3,
          arbitrary: fc.array(
            fc.oneof(
              { weight: 4, arbitrary: recordArb },
              { weight: 1, arbitrary: fc.tuple(poolIds, recordArb).map(([id, r]) => [id, ...r.slice(1)] as typeof r) },
            ),
            { minLength: 0, maxLength: 25 },
          ),
        },
      ),
      crlf: fc.boolean(),
      bom: fc.boolean(),
      quoteAll: fc.boolean(),
    });
    let n = 0;
    await check("files", fileArb, 200, async ({ rows, crlf, bom, quoteAll }) => {
      const file = join(dir, `f${n++}.csv`);
      await writeFile(file, stringify([COLUMNS, ...rows], { record_delimiter: crlf ? "windows" : "unix", bom, quoted: quoteAll }));
      const input: ResolvedInputSpec = await resolveInput({ file, encoding: "auto", campaign: CAMPAIGN, columns: MAP, defaults: {} });
      assert.equal(input.encoding, "utf8");
      // Fidelity: every record comes back exactly as written, in order.
      const read: string[][] = [];
      for await (const item of readInputRows(input)) if (item.kind !== "header") read.push(item.fields);
      assert.deepEqual(read, rows, `read back ${replay(FILE)}`);
      // Problems: exactly the rows the oracle rejects, plus every later sighting of a recipient_id
      // ("unique in the file"), whatever else is wrong with either row, as long as the id itself is valid.
      const expectedRows = new Set<number>();
      const firstSeen = new Map<string, number>();
      rows.forEach((record, i) => {
        const row = i + 2;
        if (expectedProblemColumns(record).size > 0) expectedRows.add(row);
        if (recipientVerdict(record[0]) !== "ok") return;
        if (firstSeen.has(record[0])) expectedRows.add(row);
        else firstSeen.set(record[0], row);
      });
      let budgetReads = 0;
      const outcome = await prepareRun(
        input,
        undefined,
        { retryFailed: false, allowPartial: false, acceptChanged: false, spend: { capRequired: false } },
        async () => {
          budgetReads++;
          return [];
        },
      );
      const gotRows = new Set(outcome.plan.problems.map((p) => p.row));
      assert.deepEqual(
        [...gotRows].sort((a, b) => a - b),
        [...expectedRows].sort((a, b) => a - b),
        `rows with problems ${replay(FILE)}`,
      );
      for (const p of outcome.plan.problems) if (p.rule.startsWith("duplicates row")) assert.equal(p.column, "recipient_id");
      assert.equal(budgetReads, outcome.plan.problems.length === 0 && rows.length > 0 ? 1 : 0, "budgets are read only for a clean file with rows to send");
      return outcome.plan.problems.length > 0 ? "refused" : rows.length > 0 ? "clean" : "empty";
    });
  });

  test("arbitrary bytes: refused or read, never a crash, never a budget read (the first request) once any problem is found", async () => {
    const dir = await tempDir("pcb-proof-hostile-bytes-");
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([Buffer.from(`${HEADER}\n`), Buffer.from(b)])),
      fc
        .array(fc.constantFrom(",", '"', "\n", "\r", "\u0000", "a", "1", "\xff", "é"), { maxLength: 120 })
        .map((parts) => Buffer.concat([Buffer.from(`${HEADER}\n`), Buffer.from(parts.join(""), "latin1")])),
    );
    let n = 0;
    await check("bytes", bytesArb, 200, async (bytes) => {
      const file = join(dir, `b${n++}.csv`);
      await writeFile(file, bytes);
      let budgetReads = 0;
      try {
        const input = await resolveInput({
          file,
          encoding: "auto",
          campaign: CAMPAIGN,
          columns: MAP,
          defaults: { amount: 500, giftCardName: "x", groupId: "29952775505428481", startAt: "2094-04-01", endAt: "2094-06-30" },
        });
        const outcome = await prepareRun(
          input,
          undefined,
          { retryFailed: false, allowPartial: false, acceptChanged: false, spend: { capRequired: false } },
          async () => {
            budgetReads++;
            return [];
          },
        );
        if (outcome.plan.problems.length > 0) assert.equal(budgetReads, 0, "a file with problems reaches no API");
        for (const p of outcome.plan.problems) {
          assert.ok(Number.isSafeInteger(p.row) && p.row >= 1, `row ${p.row}`);
          assert.ok(p.rule.length > 0, "a rule");
        }
        return outcome.plan.problems.length > 0 ? "rows refused" : "read";
      } catch (error) {
        // A refusal the CLI turns into exit 2, with a message and no stack; never a TypeError or the like.
        assert.ok(error instanceof BatchError, `${(error as Error)?.name}: ${(error as Error)?.message} ${replay(FILE)}`);
        assert.ok(["validation", "usage"].includes(error.kind), error.kind);
        assert.equal(budgetReads, 0);
        assert.doesNotMatch(error.message, /^\s+at /m);
        return "file refused";
      }
    });
  });

  test("every problem names a column: a non-empty header name, or a marker such as (row) or (header N)", async () => {
    const dir = await tempDir("pcb-proof-hostile-columns-");
    const headerArb = fc.array(fc.oneof(fc.constantFrom(...COLUMNS, "", " ", "email", "status"), fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 9 });
    const fileArb = fc.tuple(
      headerArb,
      fc.array(fc.array(fc.oneof(fc.constantFrom("", "500", "x", "2094-04-01"), anyText(5)), { maxLength: 9 }), { maxLength: 5 }),
    );
    let n = 0;
    await check("columns", fileArb, 150, async ([header, rows]) => {
      const file = join(dir, `h${n++}.csv`);
      await writeFile(file, stringify([header, ...rows.filter((r) => r.length > 0)]));
      const input = await resolveInput({ file, encoding: "auto", campaign: CAMPAIGN, columns: MAP, defaults: {} });
      const outcome = await prepareRun(
        input,
        undefined,
        { retryFailed: false, allowPartial: false, acceptChanged: false, spend: { capRequired: false } },
        async () => [],
      );
      for (const p of outcome.plan.problems) {
        assert.ok(p.column.trim().length > 0, `row ${p.row}: problem "${p.rule}" names no column (header ${JSON.stringify(header)}) ${replay(FILE)}`);
      }
      return outcome.plan.problems.length > 0 ? "problems" : "none";
    });
  });

  test(`at least 1,000 generated cases ran (seed ${PROOF_SEED}), each property all its runs, on both sides of its rules`, async () => {
    const generated = [...tallies.values()].reduce((sum, t) => sum + t.drawn, 0);
    await writeFigures({
      part: "hostile",
      name: "properties",
      violations: failures.size,
      violationSamples: [...failures].map(([name, message]) => `property ${name}: ${message}`),
      generatedCases: generated,
      casesByProperty: Object.fromEntries([...tallies].map(([name, t]) => [name, t.drawn])),
      outcomesByProperty: Object.fromEntries([...tallies].map(([name, t]) => [name, t.outcomes])),
    });
    assert.deepEqual([...tallies.keys()].sort(), ["bytes", "cells", "columns", "files", "names"], "every property ran");
    for (const [name, t] of tallies) {
      assert.equal(t.drawn, t.asked, `property ${name}: the generator produced ${t.drawn} cases, ${t.asked} were asked`);
      assert.equal(t.checked, t.drawn, `property ${name}: ${t.checked} of ${t.drawn} generated cases were checked`);
    }
    assert.ok(generated >= 1000, `${generated} generated cases`);
    // A generator that drifted to one side (every record valid, or every file refused) would test
    // only half of a rule: each side must be a real share of the cases.
    const share = (name: string, outcome: string): number => (tallies.get(name)!.outcomes[outcome] ?? 0) / tallies.get(name)!.drawn;
    for (const [name, outcome] of [
      ["cells", "valid"],
      ["cells", "invalid"],
      ["names", "valid"],
      ["names", "invalid"],
      ["files", "clean"],
      ["files", "refused"],
      ["bytes", "read"],
      ["bytes", "rows refused"],
      ["bytes", "file refused"],
      ["columns", "problems"],
    ] as const) {
      assert.ok(
        share(name, outcome) >= 0.05,
        `property ${name}: ${outcome} in ${(share(name, outcome) * 100).toFixed(1)}% of cases, expected at least 5% (${JSON.stringify(tallies.get(name)!.outcomes)})`,
      );
    }
  });
});

// ---- the corpus, through the real CLI ---------------------------------------------------------------

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The line of `stderr` reporting `row`, if it also names one of `columns` and matches `rule`. */
function findReport(stderr: string, row: number, columns: string[], rule: RegExp): { line?: string; nearest?: string } {
  const rowPattern = new RegExp(`\\brow ${row}(?![0-9])`);
  const lines = stderr.split("\n").filter((l) => rowPattern.test(l));
  const columnPattern = new RegExp(`\\bcolumn (${columns.map(escapeRegExp).join("|")})(?=[,:\\s]|$)`);
  return { line: lines.find((l) => columnPattern.test(l) && rule.test(l)), nearest: lines.find((l) => rule.test(l)) ?? lines[0] };
}

async function runCase(c: CorpusCase, dir: string, kind: StoreKind): Promise<string[]> {
  const problems: string[] = [];
  const input = join(dir, `${c.name}.csv`);
  await writeFile(input, c.bytes);
  const out = join(dir, `${c.name}.results.csv`);
  const sim = await startSimulator({ seed: subSeed(`hostile-sim-${c.name}`) });
  // The file store's default state sits beside --out; PostgreSQL's is named.
  const state = kind === "file" ? [] : ["--state", stateFor(kind, dir)];
  const result = await runCli(issueArgs(input, sim, ...campaignArgs(CAMPAIGN), "--out", out, ...state, ...(c.args ?? [])), { timeoutMs: 60_000 });
  if (result.code !== 2) problems.push(`exit ${result.code}, expected 2: ${(result.stdout + result.stderr).trim().slice(0, 300)}`);
  if (/^\s+at /m.test(result.stderr)) problems.push(`stack trace in stderr:\n${result.stderr.slice(0, 500)}`);
  if (sim.stats().requests !== 0) problems.push(`${sim.stats().requests} request(s) reached the simulator`);
  if (await exists(out)) problems.push("a result file was written");
  if (state[1] !== undefined) problems.push(...(await pgWritten(state[1])));
  if (!result.stderr.includes(input)) problems.push("the message does not name the file");
  for (const e of c.expect) {
    const { line, nearest } = findReport(result.stderr, e.row, e.columns, e.rule);
    if (!line)
      problems.push(
        `no line names row ${e.row}, column ${e.columns.join(" or ")} and the rule ${e.rule}; nearest: ${nearest?.trim().slice(0, 200) ?? "(no line names that row)"}; stderr starts: ${result.stderr.trim().slice(0, 200)}`,
      );
  }
  for (const good of c.goodRows) {
    if (new RegExp(`\\brow ${good}[,:]`).test(result.stderr)) problems.push(`good row ${good} is listed as a problem`);
  }
  return problems;
}

/**
 * The corpus for the PostgreSQL store: one file per family. Reading and validating are the same code
 * whatever the store; what the store adds is that a refused run must leave nothing of itself in the
 * database, which one refusal per family shows without running the whole corpus twice.
 */
function firstOfEachFamily(corpus: readonly CorpusCase[]): CorpusCase[] {
  const seen = new Set<string>();
  return corpus.filter((c) => !seen.has(c.family) && seen.add(c.family));
}

/** What a refused run left in PostgreSQL: no plan, no input copy, no row (the lock's run record aside). */
async function pgWritten(state: string): Promise<string[]> {
  const schema = new URL(state).searchParams.get("schema");
  const [found] = await sql<{ table: string | null }>("SELECT to_regclass($1)::text AS table", [`${schema}.rows`]);
  if (!found?.table) return [];
  const [written] = await sql<{ rows: string; snapshots: string; plans: string }>(
    `SELECT (SELECT count(*) FROM ${schema}.rows)::text AS rows, (SELECT count(*) FROM ${schema}.snapshots)::text AS snapshots,
            (SELECT count(*) FROM ${schema}.campaigns WHERE latest_plan IS NOT NULL OR opened_at IS NOT NULL)::text AS plans`,
  );
  const problems: string[] = [];
  if (written?.rows !== "0") problems.push(`${written?.rows} row(s) written to the database`);
  if (written?.snapshots !== "0") problems.push("a copy of the input was written to the database");
  if (written?.plans !== "0") problems.push("a plan was recorded in the database");
  return problems;
}

for (const kind of STORE_KINDS)
  describe(`hostile input, a corpus of malformed files through the real CLI (${kind} state)`, { concurrency: 3, skip: skipFor(kind) }, () => {
    const results = new Map<string, string[]>();
    for (const c of kind === "file" ? CORPUS : firstOfEachFamily(CORPUS)) {
      test(`${c.family}: ${c.name} → exit 2 naming row, column and rule; nothing sent; no stack`, { timeout: 120_000 }, async () => {
        const dir = await tempDir("pcb-proof-corpus-");
        const problems = await runCase(c, dir, kind);
        results.set(c.name, problems);
        await writeFigures({
          part: "hostile",
          name: figureName(`corpus-${c.name}`, kind),
          store: kind,
          family: c.family,
          violations: problems.length,
          violationSamples: problems.slice(0, 5),
        });
        assert.deepEqual(problems, [], formatViolations(`corpus ${c.name}`, problems, replay(FILE)));
      });
    }
  });
