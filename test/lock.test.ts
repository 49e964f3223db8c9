import assert from "node:assert/strict";
import { constants, mkdtemp, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { flockSync } from "fs-ext";
import { acquireLock } from "../src/checkpoint/lock.js";
import { nonLocalFilesystem, refuseUnlockableFilesystem } from "../src/checkpoint/lock-filesystem.js";
import { readLockStatus } from "../src/checkpoint/lock-status.js";
import { exitCodeOfError } from "../src/cli/exit-codes.js";
import { BatchError } from "../src/errors.js";
import { runCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, readResult, recipientsCsv } from "./support/csv.js";
import { assertLedgerMatchesResult, deadPid, issueArgs } from "./support/job.js";
import { inProcessHandover, inProcessRound, leaveDeadOwner, newTally, processRound, startWorkers, type LockWorker } from "./support/lock-contest.js";
import { startSimulator } from "./support/simulator.js";

/**
 * The checkpoint lock (src/checkpoint/lock.ts): a kernel flock held for the whole run. Contests in
 * one process and across processes must always end with exactly one winner; a killed holder frees
 * it at once; `status` asks the kernel, not the file's content.
 */

const CONTENDERS = 8;

async function lockFileIn(): Promise<string> {
  return join(await tempDir("pcb-lock-"), "run.checkpoint.lock");
}

function isLocked(error: unknown): boolean {
  return error instanceof BatchError && error.kind === "locked" && exitCodeOfError(error) === 5;
}

describe("one holder at a time", () => {
  test("a holder is refused to everyone else (exit 5), naming its pid, host and start time; release frees it", async () => {
    const file = await lockFileIn();
    const held = await acquireLock(file);
    await assert.rejects(acquireLock(file), (e: unknown) => {
      assert.ok(isLocked(e), String(e));
      assert.match((e as Error).message, new RegExp(`pid ${process.pid} on ${hostname()}, started \\d{4}-\\d\\d-\\d\\dT`));
      return true;
    });
    await held.release();
    await held.release(); // twice is harmless
    const again = await acquireLock(file);
    await again.release();
  });

  test("the lock file is never unlinked; release empties it; a name left in it by a dead run does not hold anything", async () => {
    const file = await lockFileIn();
    const held = await acquireLock(file);
    const inode = (await stat(file)).ino;
    assert.equal(JSON.parse(await readFile(file, "utf8")).pid, process.pid);
    await held.release();
    assert.equal((await stat(file)).ino, inode);
    assert.equal(await readFile(file, "utf8"), "");
    assert.equal((await stat(file)).mode & 0o777, 0o600);

    await writeFile(file, JSON.stringify({ pid: await deadPid(), host: hostname(), startedAt: "2026-01-02T03:04:05.000Z" }));
    assert.deepEqual(await readLockStatus(file), { state: "free" });
    const taken = await acquireLock(file);
    assert.equal(JSON.parse(await readFile(file, "utf8")).pid, process.pid);
    await taken.release();
  });

  test("held before the holder wrote its name: refused as 'owner not yet written'; status says held", async () => {
    const file = await lockFileIn();
    const raw = await open(file, constants.O_RDWR | constants.O_CREAT, 0o600);
    flockSync(raw.fd, "exnb"); // the instant between a run's flock and its write
    try {
      await assert.rejects(acquireLock(file), (e: unknown) => isLocked(e) && /owner not yet written/.test((e as Error).message));
      assert.deepEqual(await readLockStatus(file), { state: "held" });
    } finally {
      await raw.close();
    }
    assert.deepEqual(await readLockStatus(file), { state: "free" });
  });

  test("only shared locks (status probes) in the way: retried, never refused as 'another run holds'", async () => {
    const file = await lockFileIn();
    const probe = await open(file, constants.O_RDWR | constants.O_CREAT, 0o600);
    flockSync(probe.fd, "shnb"); // a probe that never ends, so the retries run out
    try {
      await assert.rejects(acquireLock(file), (e: unknown) => isLocked(e) && /readers kept the lock busy/.test((e as Error).message));
    } finally {
      await probe.close();
    }
    const held = await acquireLock(file);
    assert.equal((await readLockStatus(file)).state, "held");
    await held.release();
  });
});

describe("contests", () => {
  test(`500 rounds of ${CONTENDERS} contenders in one process, every other one on a dead run's leftover file: exactly one winner every round`, async () => {
    const file = await lockFileIn();
    const tally = newTally(CONTENDERS);
    for (let round = 0; round < 500; round++) {
      if (round % 2 === 1) await leaveDeadOwner(file);
      await inProcessRound(file, CONTENDERS, tally);
    }
    assert.deepEqual(tally.winnersPerRound, { "1": 500 });
    assert.deepEqual(tally.otherErrors, []);
    assert.equal(tally.unnamedHolders, 0, "every refusal names the winner (or says its name is being written)");
    assert.deepEqual(await readLockStatus(file), { state: "free" });
  });

  test(`200 hand-overs: ${CONTENDERS} contenders start while the holder releases; never two winners`, async () => {
    const file = await lockFileIn();
    const tally = newTally(CONTENDERS);
    for (let round = 0; round < 200; round++) await inProcessHandover(file, CONTENDERS, tally);
    assert.equal(tally.rounds, 200);
    assert.deepEqual(
      Object.keys(tally.winnersPerRound).filter((winners) => Number(winners) > 1),
      [],
      JSON.stringify(tally.winnersPerRound),
    );
    // Rounds where every contender tried before the release have no winner; most must hand over.
    assert.ok((tally.winnersPerRound["1"] ?? 0) > 100, JSON.stringify(tally.winnersPerRound));
    assert.deepEqual(tally.otherErrors, []);
  });

  describe(`${CONTENDERS} separate processes`, () => {
    // One directory and one set of workers for the tests below (tempDir's cleanup is per test).
    let workers: LockWorker[] = [];
    let dir = "";
    let file = "";
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "pcb-lock-"));
      file = join(dir, "run.checkpoint.lock");
      workers = await startWorkers(file, CONTENDERS);
    });
    after(async () => {
      await Promise.all(workers.map((w) => w.kill()));
      await rm(dir, { recursive: true, force: true });
    });

    test(`100 rounds, all ${CONTENDERS} told to try at once, every other one on a dead run's leftover file: exactly one winner every round`, async () => {
      const tally = newTally(CONTENDERS);
      for (let round = 0; round < 100; round++) {
        if (round % 2 === 1) await leaveDeadOwner(file);
        await processRound(workers, tally);
      }
      assert.deepEqual(tally.winnersPerRound, { "1": 100 });
      assert.deepEqual(tally.otherErrors, []);
      assert.equal(tally.unnamedHolders, 0, "every refusal names the winner (or says its name is being written)");
    });

    test("status from another process: held naming the holder while it holds, free after release", async () => {
      const holder = workers[0]!;
      assert.equal(await holder.attempt(), "won");
      const status = await readLockStatus(file);
      assert.ok(status.state === "held");
      assert.equal(status.owner?.pid, holder.pid);
      assert.equal(status.owner?.host, hostname());
      await assert.rejects(acquireLock(file), (e: unknown) => isLocked(e) && (e as Error).message.includes(`pid ${holder.pid} on `));
      await holder.release();
      assert.deepEqual(await readLockStatus(file), { state: "free" });
    });

    test("a holder SIGKILLed: status says free and the next contender wins at once, 5 times over", async () => {
      for (let i = 0; i < 5; i++) {
        const holder = workers[0]!;
        assert.equal(await holder.attempt(), "won");
        assert.match(await workers[1]!.attempt(), /^lost LOCKED /);
        await holder.kill(); // resolves once the process has exited
        workers = [...workers.slice(1), ...(await startWorkers(file, 1))];
        assert.deepEqual(await readLockStatus(file), { state: "free" });
        const next = workers[0]!;
        assert.equal(await next.attempt(), "won", "no wait, no takeover: the kernel dropped the killed holder's lock");
        await next.release();
      }
    });
  });
});

describe("filesystems", () => {
  test("NFS, SMB/CIFS and FUSE are refused (exit 2) naming the filesystem; local ones are not", async () => {
    const refused: Array<[number, string]> = [
      [0x6969, "NFS"],
      [0xff534d42, "CIFS/SMB"],
      [0xfe534d42, "SMB2/SMB3"],
      [0x65735546, "FUSE"],
      [0x00c36400, "CephFS"],
    ];
    for (const [magic, name] of refused) {
      assert.equal(nonLocalFilesystem(magic), name);
      // statfs's f_type may come back signed where the kernel's long is 32 bits.
      assert.equal(nonLocalFilesystem(magic | 0), name);
      await assert.rejects(
        refuseUnlockableFilesystem("/mnt/shared", async () => ({ type: magic })),
        (e: unknown) => {
          assert.ok(e instanceof BatchError && e.code === "LOCK_FILESYSTEM" && exitCodeOfError(e) === 2, String(e));
          assert.match(e.message, new RegExp(`/mnt/shared is on ${name.replace("/", "\\/")}, .*--state`));
          return true;
        },
      );
    }
    const local: Record<string, number> = { ext4: 0xef53, xfs: 0x58465342, btrfs: 0x9123683e, tmpfs: 0x01021994, overlayfs: 0x794c7630, zfs: 0x2fc12fc1 };
    for (const [name, magic] of Object.entries(local)) {
      assert.equal(nonLocalFilesystem(magic), undefined, name);
      await refuseUnlockableFilesystem("/var/lib/x", async () => ({ type: magic }));
    }
    // The machine's own temp directory (where every test keeps its checkpoints) is local.
    await refuseUnlockableFilesystem(join(await lockFileIn(), ".."));
  });
});

describe("through the CLI", () => {
  test("issue while another process holds the lock: exit 5 naming its pid, nothing sent; status says held, then free", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(3));
    const state = join(dir, "run.checkpoint");
    const out = join(dir, "out.csv");
    const args = issueArgs(inputFile, sim, ...campaignFlags(), "--state", state, "--out", out);
    assert.equal((await runCli(args)).code, 0); // a checkpoint for `status` to read
    const requestsBefore = sim.stats().requests;

    const held = await acquireLock(`${state}.lock`);
    try {
      const refused = await runCli([...args, "--retry-failed"]);
      assert.equal(refused.code, 5, refused.stderr);
      assert.ok(refused.stderr.includes(`pid ${process.pid} on ${hostname()}, started `), refused.stderr);
      assert.equal(sim.stats().requests, requestsBefore);
      const status = await runCli(["status", state, "--json"]);
      assert.equal(status.code, 0, status.stderr);
      const lock = JSON.parse(status.stdout).lock;
      assert.equal(lock.state, "held");
      assert.equal(lock.owner.pid, process.pid);
      assert.match((await runCli(["status", state])).stdout, new RegExp(`lock: held by a run in progress \\(pid ${process.pid} on `));
    } finally {
      await held.release();
    }
    assert.match((await runCli(["status", state])).stdout, /lock: free/);
  });

  test("a lock file left by a killed run (still naming it) does not stop the next run: exit 0, lock free after", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const inputFile = await writeText(dir, "in.csv", recipientsCsv(3));
    const state = join(dir, "run.checkpoint");
    await writeFile(`${state}.lock`, JSON.stringify({ pid: await deadPid(), host: hostname(), startedAt: "2026-01-02T03:04:05.000Z" }));
    const out = join(dir, "out.csv");
    const result = await runCli(issueArgs(inputFile, sim, ...campaignFlags(), "--state", state, "--out", out));
    assert.equal(result.code, 0, result.stderr);
    assertLedgerMatchesResult(sim, await readResult(out), 3);
    assert.deepEqual(await readLockStatus(`${state}.lock`), { state: "free" });
  });
});
