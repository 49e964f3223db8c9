import assert from "node:assert/strict";
import { chmod, copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after as afterAll, describe, test } from "node:test";
import { acquireLock } from "../../src/checkpoint/lock.js";
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { JournalStore } from "../../src/checkpoint/journal-store.js";
import { encodeLine } from "../../src/checkpoint/line-codec.js";
import { deriveRequestId } from "../../src/job/request-id.js";
import { DEFAULT_GROUP, type Simulator } from "../../src/simulator/index.js";
import { runCli, tempDir, writeText } from "../support/cli.js";
import { startSimulator } from "../support/simulator.js";
import { fileMode, issueArgs } from "../support/job.js";
import { writeFigures } from "./support/figures.js";
import { checkExactlyOnce, EXACTLY_ONCE_RULES, type ExactlyOnceCheck, type ExactlyOnceRule } from "./support/invariants.js";
import { campaignArgs, GROUP_ID, recipientsTable, type Recipients } from "./support/recipients.js";
import { replay, rngFor, subSeed } from "./support/seed.js";

/**
 * The checker checks itself: a clean run passes it, and each planted violation of exactly-once (a
 * code on the wrong row, a row lost, duplicated or reordered, a cell altered, the checkpoint
 * disagreeing, the ledger disagreeing, a code the ledger issued outside the file) is caught as
 * exactly the violations it must cause, by rule and row. Then each rule is switched off in turn:
 * some plant must notice it missing, or that rule is not tested by anything. A prover that cannot
 * fail proves nothing.
 */

const FILE = "test/proof/checker.test.ts";
const CAMPAIGN = "checker";

/** An expected violation: its rule, and the result file's line when it is about one row. */
type Expected = [ExactlyOnceRule] | [ExactlyOnceRule, number];

interface Plant {
  name: string;
  check: Omit<ExactlyOnceCheck, "disabledRules">;
  expect: Expected[];
}

const key = (rule: string, row?: number): string => (row === undefined ? rule : `${rule}@${row}`);
const keys = (expected: Expected[]): string[] => expected.map(([rule, row]) => key(rule, row)).sort();
const lines = (rule: ExactlyOnceRule, from: number, to: number): Expected[] => Array.from({ length: to - from + 1 }, (_, i) => [rule, from + i]);

/** The simulator as the checker sees it, with some of its answers replaced: a ledger that lies. */
function ledgerSays(sim: Simulator, says: Partial<Pick<Simulator, "ledger" | "callsByRequestId" | "budgets">>): Simulator {
  // Everything not replaced is the real simulator's (the prototype chain reaches its methods and state).
  return Object.assign(Object.create(sim) as Simulator, says);
}

async function found(plant: Plant, disabled?: ExactlyOnceRule): Promise<string[]> {
  const result = await checkExactlyOnce({ ...plant.check, ...(disabled ? { disabledRules: new Set([disabled]) } : {}) });
  return result.found.map((f) => key(f.rule, f.row)).sort();
}

/** Each plant caught exactly as expected, and the rules some plant notices switched off. */
async function evaluate(
  plants: Plant[],
  alreadyNoticed: ReadonlySet<ExactlyOnceRule> = new Set(),
): Promise<{ wrong: string[]; noticed: Set<ExactlyOnceRule> }> {
  const wrong: string[] = [];
  for (const plant of plants) {
    const got = await found(plant);
    const want = keys(plant.expect);
    if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${plant.name}: expected ${want.join(", ")}; got ${got.join(", ") || "nothing"}`);
  }
  const noticed = new Set<ExactlyOnceRule>();
  for (const rule of EXACTLY_ONCE_RULES.filter((r) => !alreadyNoticed.has(r))) {
    for (const plant of plants) {
      if (JSON.stringify(await found(plant, rule)) === JSON.stringify(keys(plant.expect))) continue;
      noticed.add(rule); // one plant noticing is enough; the rest would only cost time
      break;
    }
  }
  return { wrong, noticed };
}

describe("the exactly-once checker catches planted violations", () => {
  test("a clean run passes; every planted violation is caught as exactly its rule and row; every rule switched off is noticed", async () => {
    const dir = await tempDir("pcb-proof-checker-");
    const sim = await startSimulator({ seed: subSeed("checker-sim") });
    const input = recipientsTable(30, rngFor("checker-input"));
    const inputFile = await writeText(dir, "in.csv", input.text);
    const out = join(dir, "in.results.csv");
    const state = join(dir, "in.checkpoint");
    const run = await runCli(issueArgs(inputFile, sim, ...campaignArgs(CAMPAIGN), "--out", out, "--state", state));
    assert.equal(run.code, 0, run.stderr);
    const base = { sim, campaign: CAMPAIGN, input, resultFile: out, state: state, initialBudget: DEFAULT_GROUP.budget, attempts: "exact" } as const;
    const clean = await checkExactlyOnce(base);
    assert.deepEqual(clean.found, [], `a clean run passes ${replay(FILE)}`);

    // Mutated copies keep the original's mode, so a mode violation never stands in for the one planted.
    const resultMode = await fileMode(out);
    const stateMode = await fileMode(state);
    assert.equal(resultMode, 0o600);
    assert.equal(stateMode, 0o600);

    // The table with its header: table[line - 1] is the result file's line `line`.
    const table = parse(await readFile(out, "utf8")) as string[][];
    const col = (name: string): number => table[0]!.indexOf(name);
    const cell = (line: number, name: string): string => table[line - 1]![col(name)]!;
    const ridOf = (line: number): string => cell(line, "request_id");
    assert.ok(
      table.slice(1).every((r) => r[col("attempts")] === "1"),
      "a fault-free run sends each row once",
    );
    let n = 0;
    const resultPlant = async (name: string, mutate: (rows: string[][]) => void, expect: Expected[]): Promise<Plant> => {
      const rows = table.map((r) => [...r]);
      mutate(rows);
      const file = join(dir, `mutated-${n++}.csv`);
      await writeFile(file, stringify(rows));
      await chmod(file, resultMode);
      return { name, check: { ...base, resultFile: file }, expect };
    };
    const checkpointPlant = async (name: string, records: object[], expect: Expected[]): Promise<Plant> => {
      const file = join(dir, `mutated-${n++}.checkpoint`);
      await copyFile(state, file);
      await writeFile(file, Buffer.concat([await readFile(file), ...records.map((r) => encodeLine(r))]));
      await chmod(file, stateMode);
      return { name, check: { ...base, state: file }, expect };
    };
    const store = await JournalStore.open(state, CAMPAIGN, { readOnly: true });
    const fpOf = (line: number): string => store.get(ridOf(line))!.fp;
    const ledger = sim.ledger();
    const entryOf = (line: number) => ledger.find((e) => e.requestId === ridOf(line))!;
    const stranger = deriveRequestId(CAMPAIGN, "STRANGER");
    const now = new Date().toISOString();
    // The input as a test might have built it wrongly: recipient of line 3 given line 2's id.
    const twice: Recipients = { ...input, rows: input.rows.map((r, i) => (i === 1 ? [input.rows[0]![0]!, ...r.slice(1)] : r)) };

    const plants: Plant[] = [
      // ---- the result file ----------------------------------------------------------------------
      await resultPlant(
        "two codes swapped between recipients",
        (t) => ([t[4]![col("points_code")], t[8]![col("points_code")]] = [cell(9, "points_code"), cell(5, "points_code")]),
        [
          ["ledger-code", 5],
          ["ledger-code", 9],
          ["checkpoint-code", 5],
          ["checkpoint-code", 9],
        ],
      ),
      await resultPlant("a row lost", (t) => t.splice(6, 1), [["result-row-count"], ...lines("result-input-cells", 7, 30), ["attempts-total"]]),
      await resultPlant("a row duplicated", (t) => t.splice(6, 0, [...t[6]!]), [
        ["result-row-count"],
        ...lines("result-input-cells", 8, 31),
        ["request-id-twice", 8],
        ["code-twice", 8],
        ["attempts-total"],
      ]),
      await resultPlant("two rows reordered", (t) => ([t[3], t[10]] = [t[10]!, t[3]!]), [
        ["result-input-cells", 4],
        ["result-input-cells", 11],
      ]),
      await resultPlant("a pass-through cell altered", (t) => (t[5]![col("email")] = "someone-else@example.com"), [["result-input-cells", 6]]),
      await resultPlant("an amount altered", (t) => (t[13]![col("amount")] = String(Number(cell(14, "amount")) + 1)), [
        ["result-input-cells", 14],
        ["ledger-amount", 14],
      ]),
      await resultPlant("a row marked pending", (t) => (t[7]![col("status")] = "pending"), [
        ["status", 8],
        ["checkpoint-status", 8],
      ]),
      await resultPlant("a code blanked", (t) => (t[9]![col("points_code")] = ""), [
        ["ledger-code", 10],
        ["checkpoint-code", 10],
      ]),
      await resultPlant("one code on two rows", (t) => (t[15]![col("points_code")] = cell(15, "points_code")), [
        ["code-twice", 16],
        ["ledger-code", 16],
        ["checkpoint-code", 16],
      ]),
      await resultPlant("an attempts count changed", (t) => (t[11]![col("attempts")] = "2"), [
        ["attempts-calls", 12],
        ["attempts-total"],
        ["checkpoint-attempts", 12],
      ]),
      await resultPlant("an attempts count of zero", (t) => (t[16]![col("attempts")] = "0"), [
        ["attempts-invalid", 17],
        ["attempts-total"],
        ["checkpoint-attempts", 17],
      ]),
      await resultPlant("a request_id changed", (t) => (t[12]![col("request_id")] = "00000000-0000-5000-8000-000000000000"), [
        ["request-id", 13],
        ["issued-without-ledger", 13],
        ["attempts-calls", 13],
        ["checkpoint-missing", 13],
      ]),
      await resultPlant("response_data changed", (t) => (t[17]![col("response_data")] = "{}"), [["checkpoint-data", 18]]),
      await resultPlant("issued_at changed", (t) => (t[18]![col("issued_at")] = "2000-01-01T00:00:00.000Z"), [["checkpoint-issued-at", 19]]),
      await resultPlant("a cell too many", (t) => t[19]!.push("extra"), [["result-cell-count", 20]]),
      await resultPlant("a column renamed", (t) => (t[0]![col("email")] = "mail"), [["result-header"]]),
      {
        name: "the result file readable by others",
        check: {
          ...base,
          resultFile: await (async () => {
            const file = join(dir, "readable.csv");
            await copyFile(out, file);
            await chmod(file, 0o644);
            return file;
          })(),
        },
        expect: [["file-mode"]],
      },
      // ---- the checkpoint -----------------------------------------------------------------------
      await checkpointPlant(
        "checkpoint says failed where the CSV says issued",
        [{ t: "outcome", rid: ridOf(4), fp: fpOf(4), status: "failed", attempts: 1, groupId: GROUP_ID, value: 1, errorCode: "X", at: now }],
        [
          ["checkpoint-status", 4],
          ["checkpoint-attempts", 4],
          ["checkpoint-code", 4],
          ["checkpoint-data", 4],
          ["checkpoint-issued-at", 4],
        ],
      ),
      await checkpointPlant(
        "checkpoint has a row sent again, in doubt",
        [{ t: "sent", rid: ridOf(21), fp: fpOf(21), row: 21, at: now }],
        [
          ["checkpoint-status", 21],
          ["checkpoint-in-doubt", 21],
        ],
      ),
      await checkpointPlant(
        "checkpoint knows a requestId of no recipient",
        [{ t: "sent", rid: stranger, fp: fpOf(2), row: 99, at: now }],
        [["checkpoint-count"], ["checkpoint-stranger"]],
      ),
      {
        name: "a lock left behind",
        check: {
          ...base,
          state: await (async () => {
            const file = join(dir, "locked.checkpoint");
            await copyFile(state, file);
            await chmod(file, stateMode);
            // A run still holding the checkpoint's lock (a kernel flock, released when this file's tests end).
            const held = await acquireLock(`${file}.lock`);
            afterAll(() => held.release());
            return file;
          })(),
        },
        expect: [["lock-left"]],
      },
      // ---- the ledger ---------------------------------------------------------------------------
      {
        name: "the ledger holds a requestId twice",
        check: { ...base, sim: ledgerSays(sim, { ledger: () => [...ledger, { ...entryOf(22) }] }) },
        expect: [["ledger-twice"], ["ledger-count"]],
      },
      {
        name: "the ledger charged a code twice",
        check: { ...base, sim: ledgerSays(sim, { ledger: () => ledger.map((e) => (e === entryOf(23) ? { ...e, charges: 2 } : e)) }) },
        expect: [["ledger-charges"]],
      },
      {
        name: "the ledger charged another group",
        check: { ...base, sim: ledgerSays(sim, { ledger: () => ledger.map((e) => (e === entryOf(24) ? { ...e, groupId: "1" } : e)) }) },
        expect: [["ledger-group", 24]],
      },
      {
        name: "no call recorded for a row the ledger has a code for",
        check: { ...base, sim: ledgerSays(sim, { callsByRequestId: () => new Map([...sim.callsByRequestId()].filter(([rid]) => rid !== ridOf(25))) }) },
        expect: [
          ["call-missing", 25],
          ["attempts-calls", 25],
        ],
      },
      {
        name: "the budget dropped by one charge more",
        check: { ...base, sim: ledgerSays(sim, { budgets: () => sim.budgets().map((g) => (g.groupId === GROUP_ID ? { ...g, budget: g.budget - 1 } : g)) }) },
        expect: [["budget"]],
      },
      // ---- the input ----------------------------------------------------------------------------
      {
        name: "two input recipients share an id",
        check: { ...base, input: twice },
        expect: [["result-input-cells", 3], ["input-request-ids"], ["ledger-stranger"], ["call-stranger"], ["checkpoint-stranger"]],
      },
    ];
    await store.close();
    const before = await evaluate(plants);

    // The ledger holds a code the file knows nothing of (another campaign on the same group).
    const stray = await writeText(dir, "stray.csv", "recipient_id,amount\nSTRAY,1\n");
    const strayRun = await runCli(issueArgs(stray, sim, ...campaignArgs("someone-else"), "--out", join(dir, "stray.results.csv")));
    assert.equal(strayRun.code, 0, strayRun.stderr);
    const strayPlant: Plant = {
      name: "a code issued outside the file (and charged)",
      check: base,
      expect: [["ledger-stranger"], ["ledger-count"], ["call-stranger"], ["attempts-total"], ["budget"]],
    };
    const after = await evaluate([strayPlant], before.noticed);

    const wrong = [...before.wrong, ...after.wrong];
    const unnoticed = EXACTLY_ONCE_RULES.filter((rule) => !before.noticed.has(rule) && !after.noticed.has(rule));
    const mutations = plants.length + 1;
    await writeFigures({
      part: "checker",
      name: "mutations",
      violations: wrong.length + unnoticed.length,
      mutations,
      caught: mutations - wrong.length,
      rules: EXACTLY_ONCE_RULES.length,
      rulesNoticedOff: EXACTLY_ONCE_RULES.length - unnoticed.length,
    });
    assert.deepEqual(wrong, [], `plants not caught as exactly the violations they cause ${replay(FILE)}`);
    assert.deepEqual(unnoticed, [], `rules the self-test does not notice switched off ${replay(FILE)}`);
  });
});
