import assert from "node:assert/strict";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { JournalStore } from "../../src/checkpoint/journal-store.js";
import { encodeLine } from "../../src/checkpoint/line-codec.js";
import { DEFAULT_GROUP } from "../../src/simulator/index.js";
import { runCli, tempDir, writeText } from "../support/cli.js";
import { startSimulator } from "../support/simulator.js";
import { issueArgs } from "../support/job.js";
import { writeFigures } from "./support/figures.js";
import { checkExactlyOnce } from "./support/invariants.js";
import { campaignArgs, recipientsTable } from "./support/recipients.js";
import { replay, rngFor, subSeed } from "./support/seed.js";

/**
 * The checker checks itself: a clean run passes it, and each planted violation of exactly-once (a
 * code on the wrong row, a row lost, duplicated or reordered, a cell altered, the checkpoint
 * disagreeing, a code the ledger issued outside the file) is caught. A prover that cannot fail
 * proves nothing.
 */

const FILE = "test/proof/checker.test.ts";

describe("the exactly-once checker catches planted violations", () => {
  test("a clean run passes; every mutation of result, checkpoint or ledger is caught", async () => {
    const dir = await tempDir("pcb-proof-checker-");
    const sim = await startSimulator({ seed: subSeed("checker-sim") });
    const input = recipientsTable(30, rngFor("checker-input"));
    const inputFile = await writeText(dir, "in.csv", input.text);
    const out = join(dir, "in.results.csv");
    const state = join(dir, "in.checkpoint");
    const campaign = "checker";
    const run = await runCli(issueArgs(inputFile, sim, ...campaignArgs(campaign), "--out", out, "--state", state));
    assert.equal(run.code, 0, run.stderr);
    const check = (resultFile: string, stateFile: string) =>
      checkExactlyOnce({ sim, campaign, input, resultFile, stateFile, initialBudget: DEFAULT_GROUP.budget, attempts: "exact" });
    const clean = await check(out, state);
    assert.deepEqual(clean.violations, [], `a clean run passes ${replay(FILE)}`);

    const table = parse(await readFile(out, "utf8")) as string[][];
    const header = table[0]!;
    const col = (name: string): number => header.indexOf(name);
    const resultMutations: Array<[string, (rows: string[][]) => void]> = [
      ["two codes swapped between recipients", (rows) => ([rows[3]![col("points_code")], rows[7]![col("points_code")]] = [rows[7]![col("points_code")]!, rows[3]![col("points_code")]!])],
      ["a row lost", (rows) => rows.splice(5, 1)],
      ["a row duplicated", (rows) => rows.splice(5, 0, [...rows[5]!])],
      ["two rows reordered", (rows) => ([rows[2], rows[9]] = [rows[9]!, rows[2]!])],
      ["a pass-through cell altered", (rows) => (rows[4]![col("email")] = "someone-else@example.com")],
      ["a row marked pending", (rows) => (rows[6]![col("status")] = "pending")],
      ["a code blanked", (rows) => (rows[8]![col("points_code")] = "")],
      ["an attempts count changed", (rows) => (rows[10]![col("attempts")] = "2")],
      ["a request_id changed", (rows) => (rows[11]![col("request_id")] = "00000000-0000-5000-8000-000000000000")],
    ];
    const caught: Record<string, number> = {};
    for (const [i, [name, mutate]] of resultMutations.entries()) {
      const rows = table.slice(1).map((r) => [...r]);
      mutate(rows);
      const file = join(dir, `mutated-${i}.csv`);
      await writeFile(file, stringify([header, ...rows]));
      caught[name] = (await check(file, state)).violations.length;
    }

    // The checkpoint disagrees: a later, well-formed record says a row failed.
    const rid = table[3]![col("request_id")]!;
    const mutatedState = join(dir, "mutated.checkpoint");
    await copyFile(state, mutatedState);
    const store = await JournalStore.open(state, campaign, { readOnly: true });
    const fp = store.get(rid)!.fp;
    await store.close();
    const failed = encodeLine({ t: "outcome", rid, fp, status: "failed", attempts: 1, groupId: "29952775505428481", value: 1, errorCode: "X", at: new Date().toISOString() });
    await writeFile(mutatedState, Buffer.concat([await readFile(mutatedState), failed]));
    caught["checkpoint says failed where the CSV says issued"] = (await check(out, mutatedState)).violations.length;

    // The ledger holds a code the file knows nothing of (another campaign on the same group).
    const stray = await writeText(dir, "stray.csv", "recipient_id,amount\nSTRAY,1\n");
    const strayRun = await runCli(issueArgs(stray, sim, ...campaignArgs("someone-else"), "--out", join(dir, "stray.results.csv")));
    assert.equal(strayRun.code, 0, strayRun.stderr);
    caught["a code issued outside the file (and charged)"] = (await check(out, state)).violations.length;

    const missed = Object.entries(caught).filter(([, n]) => n === 0).map(([name]) => name);
    await writeFigures({ part: "checker", name: "mutations", violations: missed.length, mutations: Object.keys(caught).length, caught: Object.keys(caught).length - missed.length });
    assert.deepEqual(missed, [], `mutations the checker let through ${replay(FILE)}`);
  });
});
