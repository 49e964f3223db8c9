import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { acquireLock, type HeldLock } from "../../src/checkpoint/lock.js";
import { BatchError } from "../../src/errors.js";

/**
 * Contests for one checkpoint lock, shared by test/lock.test.ts and the proof suite. A round lets
 * every contender try once, at the same moment; the winners hold the lock until every contender
 * has answered, so a second winner in the same round would be two runs inside at once.
 */

export interface RoundTally {
  rounds: number;
  contenders: number;
  /** How many rounds ended with 0, 1, 2, ... winners: exactly one is the only right answer. */
  winnersPerRound: Record<string, number>;
  /** Refusals that were not the lock's own (exit 5) refusal. */
  otherErrors: string[];
  /** Refusals that did not name the holder's pid (or say its name was still being written). */
  unnamedHolders: number;
}

export function newTally(contenders: number): RoundTally {
  return { rounds: 0, contenders, winnersPerRound: {}, otherErrors: [], unnamedHolders: 0 };
}

export function roundsWithout(tally: RoundTally, winners: number): number {
  return tally.rounds - (tally.winnersPerRound[String(winners)] ?? 0);
}

function count(tally: RoundTally, winners: number): void {
  tally.rounds++;
  tally.winnersPerRound[String(winners)] = (tally.winnersPerRound[String(winners)] ?? 0) + 1;
}

/** Refused by the lock itself, naming the holder (or saying it is still writing its name)? */
function judgeRefusal(tally: RoundTally, error: unknown, holderPid: number | undefined): void {
  if (!(error instanceof BatchError) || error.kind !== "locked") {
    tally.otherErrors.push(String(error));
    return;
  }
  const named = holderPid !== undefined && error.message.includes(`pid ${holderPid} on `);
  if (!named && !error.message.includes("owner not yet written")) tally.unnamedHolders++;
}

/**
 * A pid no process can have (above Linux's PID_MAX_LIMIT, 2^22). A real dead pid will not do: on
 * a busy machine pids wrap within minutes and come back, even as a thread id, which kill(pid, 0)
 * also answers.
 */
export const NEVER_A_PID = 999_999_999;

/** What a SIGKILLed run leaves in the lock file: its own name. */
export async function leaveDeadOwner(lockFile: string): Promise<void> {
  await writeFile(lockFile, JSON.stringify({ pid: NEVER_A_PID, host: hostname(), startedAt: "2026-01-02T03:04:05.000Z" }), { mode: 0o600 });
}

/** `contenders` calls of acquireLock in this process, each on its own open file description. */
export async function inProcessRound(lockFile: string, contenders: number, tally: RoundTally): Promise<void> {
  const results = await Promise.allSettled(Array.from({ length: contenders }, () => acquireLock(lockFile)));
  const won = results.filter((r): r is PromiseFulfilledResult<HeldLock> => r.status === "fulfilled").map((r) => r.value);
  for (const r of results) if (r.status === "rejected") judgeRefusal(tally, r.reason, won.length > 0 ? process.pid : undefined);
  count(tally, won.length);
  for (const held of won) await held.release();
}

/**
 * A hand-over: the contenders start while the previous holder is releasing. Some try before the
 * release and lose, the others after it; the winners hold until all have answered, so a correct lock
 * lets in at most one (a lock file unlinked on release would let in one per inode).
 */
export async function inProcessHandover(lockFile: string, contenders: number, tally: RoundTally): Promise<void> {
  const previous = await acquireLock(lockFile);
  const attempts = Promise.allSettled(Array.from({ length: contenders }, () => acquireLock(lockFile)));
  await previous.release();
  const results = await attempts;
  const won = results.filter((r): r is PromiseFulfilledResult<HeldLock> => r.status === "fulfilled").map((r) => r.value);
  for (const r of results) if (r.status === "rejected") judgeRefusal(tally, r.reason, process.pid);
  count(tally, won.length);
  for (const held of won) await held.release();
}

const WORKER = resolve(import.meta.dirname, "lock-worker.mjs");

/** A contender in its own process (test/support/lock-worker.mjs), using the built lock. */
export class LockWorker {
  private readonly lines: string[] = [];
  private readonly waiters: Array<{ resolve: (line: string) => void; reject: (error: Error) => void }> = [];
  private exited: Error | undefined;
  readonly exit: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(line);
      else this.lines.push(line);
    });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    this.exit = new Promise((done) =>
      child.on("exit", (code, signal) => {
        this.exited = new Error(`lock worker ${child.pid} exited (${signal ?? code}): ${stderr.trim()}`);
        for (const waiter of this.waiters.splice(0)) waiter.reject(this.exited);
        done();
      }),
    );
  }

  static async start(lockFile: string): Promise<LockWorker> {
    const worker = new LockWorker(spawn(process.execPath, [WORKER, lockFile], { stdio: ["pipe", "pipe", "pipe"] }));
    const first = await worker.next();
    if (first !== "ready") throw new Error(`lock worker said ${JSON.stringify(first)} instead of ready`);
    return worker;
  }

  get pid(): number {
    return this.child.pid!;
  }

  send(command: "try" | "release"): void {
    this.child.stdin!.write(`${command}\n`);
  }

  next(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async attempt(): Promise<string> {
    this.send("try");
    return this.next();
  }

  async release(): Promise<void> {
    this.send("release");
    const answer = await this.next();
    if (answer !== "released") throw new Error(`lock worker ${this.pid} said ${JSON.stringify(answer)} instead of released`);
  }

  kill(): Promise<void> {
    this.child.kill("SIGKILL");
    return this.exit;
  }

  async stop(): Promise<void> {
    this.child.stdin!.end();
    await this.exit;
  }
}

export function startWorkers(lockFile: string, count: number): Promise<LockWorker[]> {
  return Promise.all(Array.from({ length: count }, () => LockWorker.start(lockFile)));
}

/**
 * Every worker is told to try at once; winners hold until all have answered, then release (or are
 * SIGKILLed, as a crashed run would be). Returns the winners.
 */
export async function processRound(workers: readonly LockWorker[], tally: RoundTally, end: "release" | "kill" = "release"): Promise<LockWorker[]> {
  for (const worker of workers) worker.send("try");
  const answers = await Promise.all(workers.map((w) => w.next()));
  const winners = workers.filter((_, i) => answers[i] === "won");
  for (const [i, answer] of answers.entries()) {
    if (answer === "won") continue;
    const match = /^lost (\S+) (.*)$/.exec(answer);
    if (match?.[1] !== "LOCKED") tally.otherErrors.push(`worker ${workers[i]!.pid}: ${answer}`);
    else if (!(winners.length === 1 && match[2]!.includes(`pid ${winners[0]!.pid} on `)) && !match[2]!.includes("owner not yet written")) {
      tally.unnamedHolders++;
    }
  }
  count(tally, winners.length);
  for (const winner of winners) await (end === "kill" ? winner.kill() : winner.release());
  return winners;
}
