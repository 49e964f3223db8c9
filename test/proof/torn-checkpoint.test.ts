import assert from "node:assert/strict";
import { mkdir, readFile, stat, writeFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { stringify } from "csv-stringify/sync";
import { JournalStore } from "../../src/checkpoint/journal-store.js";
import { readJournal } from "../../src/checkpoint/journal-reader.js";
import { readLockStatus } from "../../src/checkpoint/lock-status.js";
import { decodeLine } from "../../src/checkpoint/line-codec.js";
import type { OutcomeRecord } from "../../src/checkpoint/records.js";
import { decideRow } from "../../src/job/decide.js";
import { BatchError } from "../../src/errors.js";
import { DEFAULT_GROUP, type Simulator } from "../../src/simulator/index.js";
import { runCli, tempDir } from "../support/cli.js";
import { startSimulator } from "../support/simulator.js";
import { exists, issueArgs } from "../support/job.js";
import { writeFigures } from "./support/figures.js";
import { checkExactlyOnce, formatViolations } from "./support/invariants.js";
import { campaignArgs, recipientsTable, type Recipients } from "./support/recipients.js";
import { intBetween, replay, rngFor, shuffled, subSeed } from "./support/seed.js";

/**
 * Torn and damaged checkpoints. A real checkpoint is built by running the CLI twice (6 rows, then 4
 * more), so it holds every record type: header, run, sent and outcome. Then:
 *
 * - a power cut mid-write: the file is cut at every byte offset of its last record (an outcome that
 *   carries an issued code). Every cut must open, keep every other row exactly as before, and leave
 *   the cut row in doubt, to be resent under its same requestId. The real CLI resumes a seeded sample
 *   of the cuts (every boundary class plus random offsets; PROOF_TORN_ALL_CLI=1 runs every offset
 *   through the CLI) and must finish with exit 0, exactly once against the simulator's ledger.
 * - damage anywhere else: every byte of every earlier record is flipped (a seeded XOR) and, separately,
 *   overwritten with a newline, and read by the journal reader the store replays with; per record, a
 *   flip, a flip of its newline and a stray newline are also opened from disk with JournalStore.open.
 *   Each must be refused, naming the file, the damaged record's line and its byte offset, never
 *   silently skipped. A seeded flip in each earlier record, and at the newline
 *   ending each of the last two earlier records, go through the real CLI: exit 2, the same naming, no
 *   stack trace, no request sent, the checkpoint left byte for byte as it was.
 */

const FILE = "test/proof/torn-checkpoint.test.ts";
const CAMPAIGN = "torn-proof";
const ALL_CLI = process.env.PROOF_TORN_ALL_CLI === "1";
const CLI_SAMPLE = 24;

interface Built {
  dir: string;
  sim: Simulator;
  input: Recipients;
  inputFile: string;
  base: Buffer;
  /** Byte offset where each record starts, and one past its newline. */
  starts: number[];
  ends: number[];
  lastStart: number;
  /** The requestId whose outcome is the last record. */
  cutRid: string;
  reference: Map<string, { status: string; code?: string; fp: string }>;
}

function csvText(input: Recipients, rows: number): string {
  return stringify([input.header, ...input.rows.slice(0, rows)]);
}

async function build(): Promise<Built> {
  const dir = await tempDir("pcb-proof-torn-");
  const sim = await startSimulator({ seed: subSeed("torn-sim"), latencyMs: 1 });
  const input = recipientsTable(10, rngFor("torn-input"));
  const inputFile = join(dir, "in.csv");
  const out = join(dir, "build.results.csv");
  const state = join(dir, "build.checkpoint");
  for (const rows of [6, 10]) {
    await writeFile(inputFile, csvText(input, rows));
    const run = await runCli(issueArgs(inputFile, sim, ...campaignArgs(CAMPAIGN), "--out", out, "--state", state, "--log-level", "warn"));
    assert.equal(run.code, 0, `building the checkpoint (${rows} rows): ${run.stderr} ${replay(FILE)}`);
  }
  // A run ends with a `complete` record (src/job/finished-run.ts). A power cut while the last outcome
  // was being written leaves nothing after that outcome: take the journal as it stood then.
  let base = await readFile(state);
  for (;;) {
    const tailStart = base.subarray(0, base.length - 1).lastIndexOf(0x0a) + 1;
    if ((decodeLine(base.subarray(tailStart, base.length - 1)) as { t?: string } | undefined)?.t !== "complete") break;
    base = base.subarray(0, tailStart);
  }
  await writeFile(state, base);
  const starts: number[] = [];
  const ends: number[] = [];
  for (let start = 0; start < base.length; ) {
    const nl = base.indexOf(0x0a, start);
    assert.ok(nl >= 0, "the built checkpoint ends with a newline");
    starts.push(start);
    ends.push(nl + 1);
    start = nl + 1;
  }
  const lastStart = starts.at(-1)!;
  const last = decodeLine(base.subarray(lastStart, base.length - 1)) as OutcomeRecord;
  assert.equal(last?.t, "outcome", "the last record is an outcome");
  assert.equal(last.status, "issued", "the last record carries an issued code");
  const store = await JournalStore.open(state, CAMPAIGN, { readOnly: true });
  const reference = new Map<string, { status: string; code?: string; fp: string }>();
  for (const [rid, s] of store.entries()) reference.set(rid, { status: s.status, code: (await store.readOutcome(s))?.code, fp: s.fp });
  await store.close();
  assert.equal(reference.size, 10);
  return { dir, sim, input, inputFile, base, starts, ends, lastStart, cutRid: last.rid, reference };
}

/** Opens a cut copy as a run would (read-write: the torn tail is cut off) and checks what it holds. */
async function checkCut(b: Built, length: number, file: string): Promise<string[]> {
  const problems: string[] = [];
  await writeFile(file, b.base.subarray(0, length));
  let store: JournalStore;
  try {
    store = await JournalStore.open(file, CAMPAIGN);
  } catch (error) {
    return [`cut at ${length}: refused: ${(error as Error).message}`];
  }
  try {
    const intact = length === b.base.length;
    for (const [rid, ref] of b.reference) {
      const state = store.get(rid);
      if (!state) {
        problems.push(`cut at ${length}: ${rid} forgotten`);
        continue;
      }
      if (rid === b.cutRid && !intact) {
        // The outcome is gone: the row is in doubt and a resume sends it again, same requestId, same body.
        if (state.status !== "sent" || !state.inDoubt) problems.push(`cut at ${length}: the cut row is ${state.status}, expected sent and in doubt`);
        if (decideRow(ref.fp, state, false) !== "send") problems.push(`cut at ${length}: a resume would not resend the cut row`);
        if (state.fp !== ref.fp) problems.push(`cut at ${length}: the cut row's fingerprint changed`);
      } else {
        const code = (await store.readOutcome(state))?.code;
        if (state.status !== ref.status || code !== ref.code)
          problems.push(`cut at ${length}: ${rid} is ${state.status} ${code}, was ${ref.status} ${ref.code}`);
      }
    }
  } finally {
    await store.close();
  }
  const size = (await stat(file)).size;
  const expected = length === b.base.length ? length : b.lastStart;
  if (size !== expected) problems.push(`cut at ${length}: after opening, the file is ${size} bytes, expected ${expected} (torn tail cut off, nothing else)`);
  return problems;
}

/** A read-only FileHandle over a buffer: all the journal reader needs. */
function memoryHandle(data: Buffer): FileHandle {
  const read = async (buffer: Buffer, offset: number, length: number, position: number) => {
    const bytesRead = Math.max(0, Math.min(length, data.length - position));
    data.copy(buffer, offset, position, position + bytesRead);
    return { bytesRead, buffer };
  };
  return { read } as unknown as FileHandle;
}

/** Which record (0-based) holds byte `position`. */
function recordAt(b: Built, position: number): number {
  return b.starts.findLastIndex((start) => start <= position);
}

function namesPosition(message: string, file: string, record: number, b: Built): boolean {
  return message.includes(file) && message.includes(`line ${record + 1}`) && message.includes(`byte ${b.starts[record]}`);
}

// Built once at load time, so its temp directory and simulator live (and are cleaned up) with the file.
const built = await build();

describe("torn and damaged checkpoints", () => {
  test("cut at every byte offset of the last record: opens, forgets nothing but the torn record, whose row is resent", async () => {
    const b = built;
    const scratch = join(b.dir, "cuts");
    await mkdir(scratch);
    const violations: string[] = [];
    let offsets = 0;
    for (let length = b.lastStart; length <= b.base.length; length++) {
      offsets++;
      violations.push(...(await checkCut(b, length, join(scratch, "cut.checkpoint"))));
    }
    await writeFigures({
      part: "torn",
      name: "cut-every-offset-open",
      violations: violations.length,
      offsets,
      lastRecordBytes: b.base.length - b.lastStart,
      records: b.starts.length,
      checkpointBytes: b.base.length,
    });
    assert.deepEqual(violations, [], formatViolations("torn tail", violations, replay(FILE)));
  });

  test(`the real CLI resumes from ${ALL_CLI ? "every" : "a seeded sample of"} cut(s): exit 0, the cut row resent once, exactly once against the ledger`, {
    timeout: 600_000,
  }, async () => {
    const b = built;
    const size = b.base.length;
    const last = b.base.subarray(b.lastStart);
    const multibyte = last.findIndex((byte) => byte >= 0x80);
    // Every class of cut: nothing of the record, inside the checksum, at the space, inside the JSON,
    // inside a multi-byte UTF-8 character, all but the newline, and the intact file.
    const classes = [0, 1, 7, 8, 9, 10, multibyte + 1, size - b.lastStart - 2, size - b.lastStart - 1, size - b.lastStart].map((d) => b.lastStart + d);
    const random = rngFor("torn-cli-offsets");
    const everything = Array.from({ length: size - b.lastStart + 1 }, (_, i) => b.lastStart + i);
    const offsets = ALL_CLI ? everything : [...new Set([...classes, ...shuffled(random, everything)])].slice(0, CLI_SAMPLE).sort((x, y) => x - y);
    const violations: string[] = [];
    for (const length of offsets) {
      const caseDir = join(b.dir, `cli-${length}`);
      await mkdir(caseDir);
      const state = join(caseDir, "in.checkpoint");
      const out = join(caseDir, "in.results.csv");
      await writeFile(state, b.base.subarray(0, length));
      const callsBefore = b.sim.callsByRequestId();
      const createsBefore = b.sim.stats().createRequests;
      const run = await runCli(issueArgs(b.inputFile, b.sim, ...campaignArgs(CAMPAIGN), "--out", out, "--state", state, "--log-level", "warn"));
      const tag = `cut at ${length} (${length - b.lastStart} of ${size - b.lastStart} bytes of the last record)`;
      if (run.code !== 0) violations.push(`${tag}: exit ${run.code}: ${run.stderr.trim()}`);
      if (/^\s+at /m.test(run.stderr)) violations.push(`${tag}: stack trace in stderr`);
      const resent = b.sim.stats().createRequests - createsBefore;
      const expected = length < size ? 1 : 0;
      if (resent !== expected) violations.push(`${tag}: ${resent} create request(s) sent, expected ${expected}`);
      if (expected === 1 && (b.sim.callsByRequestId().get(b.cutRid) ?? 0) !== (callsBefore.get(b.cutRid) ?? 0) + 1)
        violations.push(`${tag}: the resent request was not the cut row's requestId`);
      if (run.code === 0) {
        const checked = await checkExactlyOnce({
          sim: b.sim,
          campaign: CAMPAIGN,
          input: b.input,
          resultFile: out,
          state: state,
          initialBudget: DEFAULT_GROUP.budget,
          attempts: "shared",
        });
        violations.push(...checked.violations.map((m) => `${tag}: ${m}`));
      }
    }
    await writeFigures({
      part: "torn",
      name: "cut-cli-resume",
      violations: violations.length,
      cliRuns: offsets.length,
      exhaustive: ALL_CLI,
      ledgerEntries: b.sim.ledger().length,
    });
    assert.deepEqual(violations, [], formatViolations("CLI resume after a torn tail", violations, replay(FILE)));
  });

  test("damage at every byte of every earlier record (XOR flip, and a stray newline) is refused naming file, line and byte", async () => {
    const b = built;
    const random = rngFor("torn-flips");
    const violations: string[] = [];
    const describeDamage = (position: number, kind: string, value: number): string => {
      const record = recordAt(b, position);
      const original = b.base[position]!;
      return `byte ${position} (${kind}: 0x${original.toString(16).padStart(2, "0")}→0x${value.toString(16).padStart(2, "0")}${original === 0x0a ? ", the newline ending" : ", in"} record ${record + 1} of ${b.starts.length}, line ${record + 1})`;
    };
    const judge = (what: string, record: number, file: string, error: unknown): void => {
      if (!(error instanceof BatchError) || error.code !== "CHECKPOINT_DAMAGED")
        violations.push(`${what}: refused with ${(error as Error).name} ${(error as { code?: string }).code}: ${(error as Error).message}`);
      else if (!namesPosition(error.message, file, record, b))
        violations.push(`${what}: refused, but the message does not name the file, line ${record + 1} and byte ${b.starts[record]}: ${error.message}`);
    };

    // 1. Every byte, both kinds of damage, through the journal reader the store replays with (in
    //    memory: fifteen thousand files would take half a minute of disk round trips).
    const name = join(b.dir, "in-memory.checkpoint");
    let readerCopies = 0;
    for (let position = 0; position < b.lastStart; position++) {
      const original = b.base[position]!;
      const variants: Array<[string, number]> = [["xor", original ^ intBetween(random, 1, 255)]];
      if (original !== 0x0a) variants.push(["newline", 0x0a]);
      for (const [kind, value] of variants) {
        readerCopies++;
        const copy = Buffer.from(b.base);
        copy[position] = value;
        let torn: number | undefined;
        try {
          for await (const _ of readJournal(memoryHandle(copy), name, (at) => (torn = at)));
          const dropped = torn === undefined ? 0 : b.starts.filter((start) => start >= torn!).length;
          violations.push(
            `${describeDamage(position, kind, value)}: read without complaint${torn === undefined ? "" : `, as a torn tail at byte ${torn}: ${dropped} complete record(s), durable before the damage, silently dropped`}`,
          );
        } catch (error) {
          judge(describeDamage(position, kind, value), recordAt(b, position), name, error);
        }
      }
    }

    // 2. On disk, as a run opens it (read-write): per earlier record, a seeded flip, a flip of its
    //    newline and a stray newline.
    const file = join(b.dir, "damaged.checkpoint");
    let storeCopies = 0;
    for (let record = 0; record < b.starts.length - 1; record++) {
      const inside = intBetween(random, b.starts[record]!, b.ends[record]! - 2);
      const damages: Array<[number, string, number]> = [
        [inside, "xor", b.base[inside]! ^ intBetween(random, 1, 255)],
        [b.ends[record]! - 1, "xor", 0x0a ^ intBetween(random, 1, 255)],
        [inside, "newline", 0x0a],
      ];
      for (const [position, kind, value] of damages) {
        if (b.base[position] === value) continue;
        storeCopies++;
        const copy = Buffer.from(b.base);
        copy[position] = value;
        await writeFile(file, copy);
        try {
          const store = await JournalStore.open(file, CAMPAIGN);
          await store.close();
          const after = (await stat(file)).size;
          violations.push(
            `${describeDamage(position, kind, value)}: JournalStore.open accepted it and cut the file to ${after} bytes, dropping ${b.starts.filter((s) => s >= after).length} complete record(s) that were durable before the damage`,
          );
        } catch (error) {
          judge(describeDamage(position, kind, value), record, file, error);
        }
      }
    }
    await writeFigures({
      part: "torn",
      name: "damage-every-byte",
      violations: violations.length,
      readerCopies,
      storeCopies,
      bytesCovered: b.lastStart,
      records: b.starts.length - 1,
      violationSamples: violations.slice(0, 10),
    });
    assert.deepEqual(violations, [], formatViolations("damage before the last record", violations, replay(FILE)));
  });

  test("the real CLI refuses damage in each earlier record: exit 2, file/line/byte named, no stack, nothing sent, the file untouched", {
    timeout: 300_000,
  }, async () => {
    const b = built;
    const random = rngFor("torn-cli-flips");
    const n = b.starts.length;
    const cases: Array<{ position: number; mask: number }> = [];
    for (let record = 0; record < n - 1; record++)
      cases.push({ position: intBetween(random, b.starts[record]!, b.ends[record]! - 1), mask: intBetween(random, 1, 255) });
    // The newline that ends a record, where two records would merge into one line.
    for (const record of [n - 3, n - 2]) cases.push({ position: b.ends[record]! - 1, mask: intBetween(random, 1, 255) });
    const violations: string[] = [];
    for (const [i, { position, mask }] of cases.entries()) {
      const record = recordAt(b, position);
      const caseDir = join(b.dir, `cli-flip-${i}`);
      await mkdir(caseDir);
      const state = join(caseDir, "in.checkpoint");
      const out = join(caseDir, "in.results.csv");
      const copy = Buffer.from(b.base);
      copy[position] = b.base[position]! ^ mask;
      await writeFile(state, copy);
      const sim = await startSimulator({ seed: subSeed(`torn-flip-sim-${i}`) });
      const run = await runCli(issueArgs(b.inputFile, sim, ...campaignArgs(CAMPAIGN), "--out", out, "--state", state, "--log-level", "warn"));
      const tag = `byte ${position} ^ 0x${mask.toString(16)} (${b.base[position] === 0x0a ? "the newline ending" : "in"} record ${record + 1}, line ${record + 1}, which starts at byte ${b.starts[record]})`;
      if (run.code !== 2) violations.push(`${tag}: exit ${run.code}, expected 2 (refused): ${(run.stdout + run.stderr).trim().split("\n")[0]}`);
      else if (!namesPosition(run.stderr, state, record, b))
        violations.push(`${tag}: the refusal does not name the file, line ${record + 1} and byte ${b.starts[record]}: ${run.stderr.trim()}`);
      if (/^\s+at /m.test(run.stderr)) violations.push(`${tag}: stack trace in stderr`);
      if (sim.stats().requests !== 0) violations.push(`${tag}: ${sim.stats().requests} request(s) reached the simulator`);
      if (!(await readFile(state)).equals(copy)) violations.push(`${tag}: the damaged checkpoint was modified`);
      if (await exists(out)) violations.push(`${tag}: a result file was written`);
      if ((await readLockStatus(`${state}.lock`)).state !== "free") violations.push(`${tag}: the lock is still held`);
    }
    await writeFigures({ part: "torn", name: "damage-cli", violations: violations.length, cliRuns: cases.length, violationSamples: violations.slice(0, 10) });
    assert.deepEqual(violations, [], formatViolations("CLI on a damaged checkpoint", violations, replay(FILE)));
  });
});
