import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { DEFAULT_GROUP, FAULT_KINDS, type FaultKind, type FaultRates } from "../../src/simulator/index.js";
import { runCli, tempDir, writeText } from "../support/cli.js";
import { startSimulator } from "../support/simulator.js";
import { issueArgs } from "../support/job.js";
import { writeFigures } from "./support/figures.js";
import { checkExactlyOnce, formatViolations } from "./support/invariants.js";
import { figureName, skipFor, STORE_KINDS, stateFor } from "./support/stores.js";
import { campaignArgs, recipientsTable } from "./support/recipients.js";
import { replay, rngFor, subSeed } from "./support/seed.js";

/**
 * Chaos: the simulator injects each fault kind alone at 20 % or more of create requests, then all
 * kinds together, then answers that come too late for a short client timeout. Every run must
 * complete (exit 0) with every exactly-once invariant intact, and the attempts column must count
 * exactly the requests the simulator saw for each row (at least them, where a short client timeout
 * can abort a request before the server parses it). Every case runs with each store (support/stores.ts).
 */

const FILE = "test/proof/chaos.test.ts";

interface ChaosCase {
  name: string;
  rows: number;
  faults: FaultRates;
  latencyMs: number;
  jitterMs: number;
  extra: string[];
}

// 429 and 503 carry Retry-After: 1, so those rows wait a second per retry: many in flight at once
// keep the case short. A hang is only noticed by the client timeout, so those cases set a short one.
const ALONE: Array<[FaultKind, number, string[]]> = [
  ["rateLimit", 0.3, ["--concurrency", "48"]],
  ["maintenance", 0.3, ["--concurrency", "48"]],
  ["error500BeforeCommit", 0.3, ["--concurrency", "12"]],
  ["error500AfterCommit", 0.3, ["--concurrency", "12"]],
  ["resetBeforeCommit", 0.3, ["--concurrency", "12"]],
  ["resetAfterCommit", 0.3, ["--concurrency", "12"]],
  ["truncateAfterCommit", 0.3, ["--concurrency", "12"]],
  ["hangAfterCommit", 0.25, ["--concurrency", "24", "--timeout", "250"]],
];

const CASES: ChaosCase[] = [
  ...ALONE.map(([kind, rate, extra]) => ({ name: kind, rows: 240, faults: { [kind]: rate }, latencyMs: 2, jitterMs: 6, extra })),
  {
    // Every kind at once. At 8 % each, 28 % of attempts fail before commit and 28 % of commits lose
    // their answer. (At 20 % each only 17 % of attempts succeed, and the exponential backoff of the
    // unluckiest rows alone takes minutes: the harshness is covered kind by kind above.)
    name: "all-together",
    rows: 200,
    faults: Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0.08])) as FaultRates,
    latencyMs: 2,
    jitterMs: 6,
    extra: ["--concurrency", "64", "--timeout", "250"],
  },
  {
    // The answer is often slower than the client's patience: a timed-out request is still committed by
    // the server afterwards, so most rows are in doubt at least once and resolved by a replay. The
    // budget read shares the timeout and may give up after its 4 tries (exit 4, nothing sent): the
    // run is then simply repeated, as the README tells a scheduler to do.
    name: "timeout-shorter-than-latency",
    rows: 160,
    faults: {},
    latencyMs: 20,
    jitterMs: 70,
    extra: ["--concurrency", "24", "--timeout", "80"],
  },
];

// One suite per store: a store's cases run at once, the stores one after the other.
for (const kind of STORE_KINDS)
  describe(`chaos (${kind} state): every fault kind alone, then all together, then late answers: exactly once`, {
    concurrency: true,
    skip: skipFor(kind),
  }, () => {
    for (const c of CASES) {
      test(`${c.name} (${kind} state): ${JSON.stringify(c.faults)}, ${c.rows} rows ${c.extra.join(" ")}`, {
        timeout: 180_000,
        skip: skipFor(kind),
      }, async () => {
        const dir = await tempDir(`pcb-proof-chaos-${c.name}-`);
        const sim = await startSimulator({ faults: c.faults, latencyMs: c.latencyMs, jitterMs: c.jitterMs, seed: subSeed(`chaos-sim-${c.name}`) });
        const input = recipientsTable(c.rows, rngFor(`chaos-input-${c.name}`));
        const inputFile = await writeText(dir, "in.csv", input.text);
        const out = join(dir, "out.csv");
        const state = stateFor(kind, dir, "out.checkpoint");
        const summaryFile = join(dir, "summary.json");
        const campaign = `chaos-${c.name}`;
        const args = issueArgs(
          inputFile,
          sim,
          ...campaignArgs(campaign),
          "--out",
          out,
          "--state",
          state,
          "--max-attempts",
          "100",
          "--log-level",
          "error",
          "--summary-json",
          summaryFile,
          ...c.extra,
        );

        const started = Date.now();
        const violations: string[] = [];
        let result = await runCli(args, { timeoutMs: 170_000 });
        let runs = 1;
        // Only the late-answer case may need a rerun, and only after a budget read that timed out.
        while (c.name === "timeout-shorter-than-latency" && result.code === 4 && runs < 6) {
          result = await runCli(args, { timeoutMs: 170_000 });
          runs++;
        }
        const elapsedMs = Date.now() - started;
        if (result.code !== 0) violations.push(`exit ${result.code} (expected 0) after ${runs} run(s): ${result.stdout}\n${result.stderr}`);
        if (/^\s+at /m.test(result.stderr)) violations.push("stack trace in stderr");

        const stats = sim.stats();
        const injected = stats.faultsInjected;
        for (const kind of FAULT_KINDS) {
          const enabled = (c.faults[kind] ?? 0) > 0;
          if (enabled && injected[kind] === 0) violations.push(`${kind} enabled but never injected`);
          if (!enabled && injected[kind] !== 0) violations.push(`${kind} injected ${injected[kind]} times but not enabled`);
        }
        if (result.code === 0) {
          const checked = await checkExactlyOnce({
            sim,
            campaign,
            input,
            resultFile: out,
            state: state,
            initialBudget: DEFAULT_GROUP.budget,
            attempts: c.extra.includes("--timeout") ? "timeouts" : "exact",
          });
          violations.push(...checked.violations);
        }
        const summary = result.code === 0 ? (JSON.parse(await readFile(summaryFile, "utf8")) as { requests: number; retries: number }) : undefined;
        const totalFaults = Object.values(injected).reduce((a, b) => a + b, 0);
        await writeFigures({
          part: "chaos",
          name: figureName(c.name, kind),
          store: kind,
          violations: violations.length,
          violationSamples: violations.slice(0, 10),
          rows: c.rows,
          faultRates: c.faults,
          faultsInjected: Object.fromEntries(Object.entries(injected).filter(([, n]) => n > 0)),
          totalFaults,
          createRequests: stats.createRequests,
          // After-commit faults are drawn only on a request's first commit (a replay is never faulted),
          // so their share of all requests is lower than their rate; per row it is about the rate.
          observedFaultRate: stats.createRequests > 0 ? Math.round((totalFaults / stats.createRequests) * 1000) / 1000 : 0,
          faultsPerRow: Math.round((totalFaults / c.rows) * 1000) / 1000,
          retries: summary?.retries,
          clientTimeoutMs: c.extra.includes("--timeout") ? Number(c.extra[c.extra.indexOf("--timeout") + 1]) : 30_000,
          runs,
          elapsedMs,
        });
        assert.deepEqual(violations, [], formatViolations(`chaos ${c.name} (${kind} state)`, violations, replay(FILE)));
      });
    }
  });
