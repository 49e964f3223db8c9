import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { readLockStatus } from "../../src/checkpoint/lock-status.js";
import { DEFAULT_GROUP } from "../../src/simulator/index.js";
import { collect, startCli, tempDir, writeText } from "../support/cli.js";
import { issueArgs } from "../support/job.js";
import {
  inProcessHandover,
  inProcessRound,
  leaveDeadOwner,
  LockWorker,
  newTally,
  processRound,
  startWorkers,
  type RoundTally,
} from "../support/lock-contest.js";
import { startSimulator } from "../support/simulator.js";
import { writeFigures } from "./support/figures.js";
import { checkExactlyOnce, formatViolations } from "./support/invariants.js";
import { campaignArgs, recipientsTable } from "./support/recipients.js";
import { intBetween, replay, rngFor, subSeed } from "./support/seed.js";

/**
 * The checkpoint lock under contention. Rounds of 8 contenders, in one process and in 8 separate
 * processes, all told to try at once, each round starting from a seeded leftover (the file emptied
 * by a release, naming a SIGKILLed run, or deleted while free): exactly one may win, and every
 * refusal must name the winner. Hand-overs start the contenders while the holder releases: never
 * two winners. Holders are SIGKILLed mid-contest: `status` must say free and the next round must
 * have its one winner at once. Finally real `issue` runs race on one checkpoint against the
 * simulator: every one exits 0 or 5, only one ever sends, and every exactly-once invariant holds.
 */

const FILE = "test/proof/lock-stress.test.ts";
const CONTENDERS = 8;
const IN_PROCESS_ROUNDS = 1_000;
const HANDOVERS = 500;
const PROCESS_ROUNDS = 200;
const KILLS = 10;
const CLI_ROUNDS = 2;
const CLI_RUNS = 5;

type Leftover = "emptied" | "dead-owner" | "absent";
const LEFTOVERS: Leftover[] = ["emptied", "dead-owner", "absent"];

async function prepare(lockFile: string, leftover: Leftover): Promise<void> {
  if (leftover === "dead-owner") await leaveDeadOwner(lockFile);
  else if (leftover === "absent")
    await rm(lockFile, { force: true }); // deleted while nobody holds it: harmless
  else await writeFile(lockFile, "", { mode: 0o600 });
}

function tallyViolations(what: string, tally: RoundTally, rightWinners: (winners: number) => boolean): string[] {
  const violations: string[] = [];
  for (const [winners, rounds] of Object.entries(tally.winnersPerRound)) {
    if (!rightWinners(Number(winners))) violations.push(`${what}: ${rounds} round(s) with ${winners} winner(s)`);
  }
  violations.push(...tally.otherErrors.slice(0, 10).map((e) => `${what}: a refusal that is not the lock's own: ${e}`));
  if (tally.unnamedHolders > 0) violations.push(`${what}: ${tally.unnamedHolders} refusal(s) naming someone other than the winner`);
  return violations;
}

function tallyFigures(tally: RoundTally, leftovers: Record<string, number>): Record<string, unknown> {
  return {
    rounds: tally.rounds,
    contenders: tally.contenders,
    winnersPerRound: tally.winnersPerRound,
    startingFrom: leftovers,
    otherErrors: tally.otherErrors.length,
    unnamedHolders: tally.unnamedHolders,
  };
}

describe("lock stress: one winner, whatever the contest", () => {
  test(`${IN_PROCESS_ROUNDS} rounds of ${CONTENDERS} contenders in one process, then ${HANDOVERS} hand-overs`, { timeout: 240_000 }, async () => {
    const random = rngFor("lock-in-process");
    const lockFile = join(await tempDir("pcb-proof-lock-"), "run.checkpoint.lock");
    const tally = newTally(CONTENDERS);
    const leftovers: Record<string, number> = {};
    const started = Date.now();
    for (let round = 0; round < IN_PROCESS_ROUNDS; round++) {
      const leftover = LEFTOVERS[intBetween(random, 0, LEFTOVERS.length - 1)]!;
      leftovers[leftover] = (leftovers[leftover] ?? 0) + 1;
      await prepare(lockFile, leftover);
      await inProcessRound(lockFile, CONTENDERS, tally);
    }
    const violations = tallyViolations("in one process", tally, (w) => w === 1);
    await writeFigures({
      part: "lock",
      name: "in-process",
      violations: violations.length,
      violationSamples: violations.slice(0, 10),
      ...tallyFigures(tally, leftovers),
      elapsedMs: Date.now() - started,
    });

    const handovers = newTally(CONTENDERS);
    const handoverStarted = Date.now();
    for (let round = 0; round < HANDOVERS; round++) await inProcessHandover(lockFile, CONTENDERS, handovers);
    const handoverViolations = tallyViolations("hand-over", handovers, (w) => w <= 1);
    // A round in which every contender tried before the release has no winner; if none ever had
    // one, the contest never happened.
    if ((handovers.winnersPerRound["1"] ?? 0) === 0) handoverViolations.push("hand-over: no round ever had a winner");
    await writeFigures({
      part: "lock",
      name: "hand-over",
      violations: handoverViolations.length,
      violationSamples: handoverViolations.slice(0, 10),
      ...tallyFigures(handovers, {}),
      elapsedMs: Date.now() - handoverStarted,
    });

    const all = [...violations, ...handoverViolations];
    assert.deepEqual(all, [], formatViolations("lock in one process", all, replay(FILE)));
  });

  describe(`${CONTENDERS} separate processes`, () => {
    const workers: LockWorker[] = [];
    after(async () => {
      await Promise.all(workers.map((w) => w.kill()));
    });

    test(`${PROCESS_ROUNDS} rounds, ${KILLS} of them ending with the winner SIGKILLed`, { timeout: 240_000 }, async () => {
      const random = rngFor("lock-processes");
      const lockFile = join(await tempDir("pcb-proof-lock-"), "run.checkpoint.lock");
      workers.push(...(await startWorkers(lockFile, CONTENDERS)));
      const tally = newTally(CONTENDERS);
      const leftovers: Record<string, number> = {};
      const killRounds = new Set<number>();
      while (killRounds.size < KILLS) killRounds.add(intBetween(random, 0, PROCESS_ROUNDS - 2));
      const violations: string[] = [];
      const started = Date.now();
      for (let round = 0; round < PROCESS_ROUNDS; round++) {
        const leftover = LEFTOVERS[intBetween(random, 0, LEFTOVERS.length - 1)]!;
        leftovers[leftover] = (leftovers[leftover] ?? 0) + 1;
        await prepare(lockFile, leftover);
        const killed = await processRound(workers, tally, killRounds.has(round) ? "kill" : "release");
        if (!killRounds.has(round)) continue;
        // The killed holder's lock is gone with it: status says free before anyone else has tried.
        const status = await readLockStatus(lockFile);
        if (status.state !== "free") violations.push(`round ${round}: status says ${JSON.stringify(status)} after the holder was SIGKILLed`);
        for (const gone of killed) workers.splice(workers.indexOf(gone), 1, await LockWorker.start(lockFile));
      }
      violations.push(...tallyViolations(`${CONTENDERS} processes`, tally, (w) => w === 1));
      await writeFigures({
        part: "lock",
        name: "processes",
        violations: violations.length,
        violationSamples: violations.slice(0, 10),
        ...tallyFigures(tally, leftovers),
        killedHolders: killRounds.size,
        elapsedMs: Date.now() - started,
      });
      assert.deepEqual(violations, [], formatViolations("lock across processes", violations, replay(FILE)));
    });
  });

  test(`${CLI_ROUNDS} rounds of ${CLI_RUNS} issue runs started together on one checkpoint: exit 0 or 5, one sender, exactly once`, {
    timeout: 240_000,
  }, async () => {
    const violations: string[] = [];
    const exits: Record<string, number> = {};
    let refusedNamingARun = 0;
    let createRequests = 0;
    const started = Date.now();
    for (let round = 0; round < CLI_ROUNDS; round++) {
      const dir = await tempDir("pcb-proof-lock-cli-");
      // Slow enough answers that the runs starting alongside find the first one still sending.
      const sim = await startSimulator({ latencyMs: 100, seed: subSeed(`lock-cli-sim-${round}`) });
      const input = recipientsTable(20, rngFor(`lock-cli-input-${round}`));
      const inputFile = await writeText(dir, "in.csv", input.text);
      const out = join(dir, "out.csv");
      const state = join(dir, "out.checkpoint");
      const campaign = `lock-race-${round}`;
      const base = issueArgs(inputFile, sim, ...campaignArgs(campaign), "--out", out, "--state", state, "--concurrency", "2", "--log-level", "error");
      const children = Array.from({ length: CLI_RUNS }, (_, i) => startCli([...base, "--summary-json", join(dir, `summary-${i}.json`)]));
      const pids = children.map((c) => c.pid!);
      const results = await Promise.all(children.map((c) => collect(c, 180_000)));
      const senders: number[] = [];
      let requestsReported = 0;
      for (const [i, result] of results.entries()) {
        const tag = `round ${round}, run ${i} (pid ${pids[i]})`;
        exits[String(result.code)] = (exits[String(result.code)] ?? 0) + 1;
        if (result.code === 5) {
          const named = pids.some((pid, j) => j !== i && result.stderr.includes(`(pid ${pid} on `)) || result.stderr.includes("owner not yet written");
          if (named) refusedNamingARun++;
          else violations.push(`${tag}: refused without naming another run of this round: ${result.stderr.trim()}`);
        } else if (result.code === 0) {
          const summary = JSON.parse(await readFile(join(dir, `summary-${i}.json`), "utf8")) as { requests: number };
          requestsReported += summary.requests;
          if (summary.requests > 0) senders.push(pids[i]!);
        } else violations.push(`${tag}: exit ${result.code}, expected 0 or 5: ${result.stderr.trim().split("\n")[0]}`);
        if (/^\s+at /m.test(result.stderr)) violations.push(`${tag}: stack trace in stderr`);
      }
      if (senders.length !== 1) violations.push(`round ${round}: ${senders.length} runs sent requests (pids ${senders.join(", ")}); exactly one may`);
      const stats = sim.stats();
      createRequests += stats.createRequests;
      if (requestsReported !== stats.createRequests)
        violations.push(`round ${round}: the runs that exited 0 report ${requestsReported} request(s), the simulator saw ${stats.createRequests}`);
      if (results.some((r) => r.code === 0)) {
        const checked = await checkExactlyOnce({
          sim,
          campaign,
          input,
          resultFile: out,
          state: state,
          initialBudget: DEFAULT_GROUP.budget,
          attempts: "exact",
        });
        violations.push(...checked.violations.map((v) => `round ${round}: ${v}`));
      } else violations.push(`round ${round}: no run exited 0`);
    }
    await writeFigures({
      part: "lock",
      name: "cli-race",
      violations: violations.length,
      violationSamples: violations.slice(0, 10),
      rounds: CLI_ROUNDS,
      runsPerRound: CLI_RUNS,
      exits,
      refusedNamingARun,
      createRequests,
      elapsedMs: Date.now() - started,
    });
    assert.deepEqual(violations, [], formatViolations("issue runs racing on one checkpoint", violations, replay(FILE)));
  });
});
