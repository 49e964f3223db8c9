import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { describe, test } from "node:test";
import { DEFAULT_GROUP, type FaultRates, type Simulator } from "../../src/simulator/index.js";
import { collect, runCli, startCli, tempDir, writeText } from "../support/cli.js";
import { startSimulator } from "../support/simulator.js";
import { issueArgs, sleep } from "../support/job.js";
import { writeFigures } from "./support/figures.js";
import { checkExactlyOnce, formatViolations } from "./support/invariants.js";
import { figureName, skipFor, STORE_KINDS, type StoreKind, stateFor } from "./support/stores.js";
import { openProgressProbe, type ProgressProbe } from "./support/progress-probe.js";
import { campaignArgs, recipientsTable, type Recipients } from "./support/recipients.js";
import { intBetween, PROOF_SEED, replay, rngFor, shuffled, subSeed } from "./support/seed.js";

/**
 * Crash torture. The real CLI, as a child process, issues 2,000 rows against a simulator with
 * latency, and is SIGKILLed at seeded moments in every phase of a run: reading and validating the
 * input and checkpoint, requests in flight, a checkpoint append being flushed, and the result file
 * being written. After each kill it is simply run again, until a run completes (exit 0). Then every
 * exactly-once invariant is checked against the simulator's ledger, the result and the checkpoint.
 * Both campaigns run with each store: the journal file and PostgreSQL (support/stores.ts).
 *
 * A kill's phase is what was observed at the moment of the kill, not what was aimed at:
 *   validate          no request of this run had reached the simulator yet (the lock was taken, so the
 *                     checkpoint was being replayed and the input read and validated)
 *   in-flight         a create request had just arrived at the simulator, which holds it for its latency
 *   checkpoint-flush  the checkpoint had just grown (a batch written, its fdatasync under way; in
 *                     PostgreSQL, a group commit had just landed and the next was under way)
 *   result-writing    the result's temporary file `.<out>.<pid>.tmp` existed (all creates done)
 *   other             anywhere else (budget read, between phases); counted but not credited to a phase
 */

const FILE = "test/proof/crash-torture.test.ts";
const ROWS = 2000;
const PHASES = ["validate", "in-flight", "checkpoint-flush", "result-writing"] as const;
type Phase = (typeof PHASES)[number];
type Observed = Phase | "other";
const KILLS_PER_PHASE = 3; // per campaign; two campaigns → 24 kills
const WAIT_MS = 90_000;

interface CampaignSpec {
  name: string;
  concurrency: number;
  latencyMs: number;
  jitterMs: number;
  faults: FaultRates;
  extra: string[];
}

/** Two shapes of run: few slow requests in flight, and many fast ones with answers lost after commit. */
const CAMPAIGNS: CampaignSpec[] = [
  { name: "narrow", concurrency: 8, latencyMs: 6, jitterMs: 12, faults: {}, extra: [] },
  {
    name: "wide-lossy",
    concurrency: 32,
    latencyMs: 4,
    jitterMs: 24,
    faults: { error500AfterCommit: 0.03, resetAfterCommit: 0.03, truncateAfterCommit: 0.02 },
    extra: ["--max-attempts", "30"],
  },
];

interface Campaign {
  spec: CampaignSpec;
  /** Sees the run's lock and the checkpoint growing, in whichever store holds it. */
  probe: ProgressProbe;
  sim: Simulator;
  input: Recipients;
  args: string[];
  out: string;
  state: string;
  campaign: string;
  /** Lock taken → first request, of the latest run that got that far: sizes the validate window. */
  planMs: number;
}

interface KillPlan {
  phase: Phase;
  /** For sending phases: creates this run must have made before the trigger is armed. */
  growth: number;
  /** For validate and result-writing: delay after the phase is seen to begin. */
  delayFraction: number;
}

interface RunRecord {
  planned: Phase | "complete";
  observed: Observed | "exited";
  exitCode: number | null;
  ms: number;
}

async function setup(spec: CampaignSpec, kind: StoreKind): Promise<Campaign> {
  const dir = await tempDir(`pcb-proof-crash-${spec.name}-`);
  const sim = await startSimulator({ latencyMs: spec.latencyMs, jitterMs: spec.jitterMs, seed: subSeed(`crash-sim-${spec.name}`), faults: spec.faults });
  const input = recipientsTable(ROWS, rngFor(`crash-input-${spec.name}`), spec.name.slice(0, 1).toUpperCase());
  const inputFile = await writeText(dir, "recipients.csv", input.text);
  const out = join(dir, "out", "recipients.results.csv");
  const state = stateFor(kind, join(dir, "state"));
  const campaign = `crash-${spec.name}-${PROOF_SEED}`;
  const args = issueArgs(
    inputFile,
    sim,
    ...campaignArgs(campaign),
    "--out",
    out,
    "--state",
    state,
    "--concurrency",
    String(spec.concurrency),
    "--log-level",
    "error",
    ...spec.extra,
  );
  return { spec, probe: await openProgressProbe(state), sim, input, args, out, state, campaign, planMs: 150 };
}

/** Polls `predicate` every `everyMs` (0: every turn of the event loop). */
async function until(predicate: () => boolean | Promise<boolean>, what: string, everyMs = 1): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what} ${replay(FILE)}`);
    await (everyMs === 0 ? new Promise((resolve) => setImmediate(resolve)) : sleep(everyMs));
  }
}

/** One run of the CLI, SIGKILLed per `plan`; returns what was observed at the kill (or how it exited). */
async function runAndKill(c: Campaign, plan: KillPlan): Promise<RunRecord> {
  const { sim } = c;
  const started = Date.now();
  const before = sim.stats();
  const child = startCli(c.args);
  const done = collect(child, WAIT_MS * 2);
  let exited = false;
  child.once("exit", () => (exited = true));
  const pid = child.pid!;
  const tmp = join(dirname(c.out), `.${basename(c.out)}.${pid}.tmp`);
  const creates = (): number => sim.stats().createRequests - before.createRequests;
  const requests = (): number => sim.stats().requests - before.requests;
  let observed: Observed | undefined;
  const kill = (as: Observed): void => {
    if (exited) return;
    observed = as;
    child.kill("SIGKILL");
  };

  try {
    if (plan.phase === "validate") {
      await until(async () => exited || (await c.probe.lockHeld(pid)), "the run to take the lock");
      const lockedAt = Date.now();
      await sleep(Math.floor(plan.delayFraction * c.planMs * 0.7));
      if (requests() === 0) kill("validate");
      else {
        // Planning was quicker than measured before: aim earlier next time.
        c.planMs = Math.max(5, Math.min(c.planMs, Date.now() - lockedAt) / 2);
        kill(existsSync(tmp) ? "result-writing" : "other");
      }
    } else if (plan.phase === "in-flight" || plan.phase === "checkpoint-flush") {
      // Also measures this run's planning time (lock taken → first request), which sizes the
      // window a later validate kill aims into.
      let lockedAt = 0;
      let firstRequestAt = 0;
      await until(async () => {
        if (lockedAt === 0 && (await c.probe.lockHeld(pid))) lockedAt = Date.now();
        if (lockedAt !== 0 && firstRequestAt === 0 && requests() > 0) firstRequestAt = Date.now();
        return exited || creates() >= plan.growth || existsSync(tmp);
      }, `${plan.growth} creates`);
      if (lockedAt !== 0 && firstRequestAt !== 0) c.planMs = Math.max(5, firstRequestAt - lockedAt);
      if (plan.phase === "in-flight") {
        const seen = creates();
        await until(() => exited || creates() > seen || existsSync(tmp), "the next create request", 0);
        kill(existsSync(tmp) ? "result-writing" : creates() > seen ? "in-flight" : "other");
      } else {
        const size = await c.probe.progress();
        let grown = false;
        await until(async () => exited || (grown = (await c.probe.progress()) > size) || existsSync(tmp), "the next checkpoint append", 0);
        kill(existsSync(tmp) ? "result-writing" : grown ? "checkpoint-flush" : "other");
      }
    } else {
      await until(() => exited || existsSync(tmp), "the result's temporary file");
      await sleep(Math.floor(plan.delayFraction * 12));
      kill(existsSync(tmp) ? "result-writing" : "other");
    }
  } catch (error) {
    child.kill("SIGKILL");
    await done.catch(() => undefined);
    throw error;
  }
  const result = await done;
  if (observed === undefined || result.signal !== "SIGKILL") {
    return { planned: plan.phase, observed: "exited", exitCode: result.code, ms: Date.now() - started };
  }
  return { planned: plan.phase, observed, exitCode: null, ms: Date.now() - started };
}

/** The seeded schedule of one campaign: a sending kill first, then the rest, then result writing. */
function schedule(random: () => number): KillPlan[] {
  const plan = (phase: Phase): KillPlan => ({ phase, growth: intBetween(random, Math.floor(ROWS * 0.03), Math.floor(ROWS * 0.09)), delayFraction: random() });
  const sending = shuffled(random, [...Array(KILLS_PER_PHASE).fill("in-flight"), ...Array(KILLS_PER_PHASE).fill("checkpoint-flush")] as Phase[]).map(plan);
  const sequence: KillPlan[] = [...sending, ...Array.from({ length: KILLS_PER_PHASE }, () => plan("result-writing"))];
  for (let i = 0; i < KILLS_PER_PHASE; i++) sequence.splice(intBetween(random, 1, sequence.length), 0, plan("validate"));
  return sequence;
}

interface CampaignOutcome {
  kills: Record<Observed, number>;
  runs: RunRecord[];
  violations: string[];
  figures: Record<string, unknown>;
}

async function torture(spec: CampaignSpec, kind: StoreKind): Promise<CampaignOutcome> {
  const c = await setup(spec, kind);
  try {
    return await tortureCampaign(c);
  } finally {
    await c.probe.close();
  }
}

async function tortureCampaign(c: Campaign): Promise<CampaignOutcome> {
  const { spec } = c;
  const random = rngFor(`crash-schedule-${spec.name}`);
  const initialBudget = DEFAULT_GROUP.budget;
  const kills: Record<Observed, number> = { validate: 0, "in-flight": 0, "checkpoint-flush": 0, "result-writing": 0, other: 0 };
  const runs: RunRecord[] = [];
  const violations: string[] = [];

  const unexpectedExit = (run: RunRecord): void => {
    // After a SIGKILL, the next run may complete (0) or, with lossy answers, stop with rows pending (4).
    // Anything else (a refused checkpoint, a lock not taken over, an internal error) breaks the promise.
    if (run.exitCode !== 0 && run.exitCode !== 4)
      violations.push(
        `a run after ${kills.validate + kills["in-flight"] + kills["checkpoint-flush"] + kills["result-writing"] + kills.other} kill(s) exited ${run.exitCode} (planned kill: ${run.planned})`,
      );
  };

  for (const plan of schedule(random)) {
    // A run can end before the moment aimed at (e.g. result writing is quick): try again, shorter.
    for (let attempt = 0; attempt < 4; attempt++) {
      const run = await runAndKill(c, { ...plan, delayFraction: plan.delayFraction / 2 ** attempt });
      runs.push(run);
      if (run.observed !== "exited") {
        kills[run.observed]++;
        break;
      }
      unexpectedExit(run);
      if (plan.phase === "in-flight" || plan.phase === "checkpoint-flush") break; // nothing left to send
    }
  }

  // Rerun until it completes.
  let completed = false;
  for (let attempt = 0; attempt < 6 && !completed; attempt++) {
    const started = Date.now();
    const result = await runCli(c.args, { timeoutMs: WAIT_MS * 2 });
    const run: RunRecord = { planned: "complete", observed: "exited", exitCode: result.code, ms: Date.now() - started };
    runs.push(run);
    if (/^\s+at /m.test(result.stderr)) violations.push(`stack trace in stderr of a rerun:\n${result.stderr}`);
    if (result.code === 0) completed = true;
    else if (result.code !== 4) {
      violations.push(`rerun exited ${result.code}: ${result.stderr.trim()}`);
      break;
    }
  }
  if (!completed) violations.push("no rerun completed with exit 0");

  const checked = await checkExactlyOnce({
    sim: c.sim,
    campaign: c.campaign,
    input: c.input,
    resultFile: c.out,
    state: c.state,
    initialBudget,
    attempts: "killed",
  });
  violations.push(...checked.violations);
  const stats = c.sim.stats();
  return {
    kills,
    runs,
    violations,
    figures: {
      ...checked.figures,
      concurrency: spec.concurrency,
      latencyMs: `${spec.latencyMs}+[0,${spec.jitterMs})`,
      faultRates: spec.faults,
      faultsInjected: Object.fromEntries(Object.entries(stats.faultsInjected).filter(([, n]) => n > 0)),
      runs: runs.length,
      runsExitedBeforeKill: runs.filter((r) => r.planned !== "complete" && r.observed === "exited").length,
    },
  };
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // awaited by the summary test; never an unhandled rejection
  return { promise, resolve, reject };
}

for (const kind of STORE_KINDS)
  describe(`crash torture (${kind} state): SIGKILL in every phase, rerun until done, exactly once`, { concurrency: true, skip: skipFor(kind) }, () => {
    const outcomes = new Map(CAMPAIGNS.map((spec) => [spec.name, deferred<CampaignOutcome>()]));

    for (const spec of CAMPAIGNS) {
      test(`${ROWS} rows, ${spec.name} (concurrency ${spec.concurrency}): ${KILLS_PER_PHASE * PHASES.length} seeded kills, then rerun to completion`, {
        timeout: 300_000,
      }, async () => {
        const slot = outcomes.get(spec.name)!;
        let outcome: CampaignOutcome;
        try {
          outcome = await torture(spec, kind);
          slot.resolve(outcome);
        } catch (error) {
          slot.reject(error);
          throw error;
        }
        const killed = Object.values(outcome.kills).reduce((a, b) => a + b, 0);
        await writeFigures({
          part: "crash",
          name: figureName(spec.name, kind),
          store: kind,
          violations: outcome.violations.length,
          kills: killed,
          killsByPhase: outcome.kills,
          ...outcome.figures,
        });
        assert.deepEqual(outcome.violations, [], formatViolations(`crash torture ${spec.name} (${kind} state)`, outcome.violations, replay(FILE)));
      });
    }

    test("together: at least 20 kills, and every phase was killed at least once", { timeout: 310_000 }, async () => {
      const settled = await Promise.allSettled([...outcomes.values()].map((d) => d.promise));
      const failed = settled.filter((s) => s.status === "rejected");
      assert.equal(failed.length, 0, `a campaign did not finish (see its own failure) ${replay(FILE)}`);
      const total: Record<Observed, number> = { validate: 0, "in-flight": 0, "checkpoint-flush": 0, "result-writing": 0, other: 0 };
      for (const s of settled) if (s.status === "fulfilled") for (const [phase, n] of Object.entries(s.value.kills)) total[phase as Observed] += n;
      const killed = Object.values(total).reduce((a, b) => a + b, 0);
      const violations = [
        ...(killed >= 20 ? [] : [`only ${killed} kills landed (need ≥ 20)`]),
        ...PHASES.filter((p) => total[p] < 1).map((p) => `no kill landed in phase ${p}`),
      ];
      await writeFigures({
        part: "crash",
        name: figureName("all", kind),
        store: kind,
        violations: violations.length,
        kills: killed,
        killsByPhase: total,
        rows: ROWS * CAMPAIGNS.length,
        campaigns: CAMPAIGNS.length,
      });
      assert.deepEqual(violations, [], `${JSON.stringify(total)} ${replay(FILE)}`);
    });
  });
