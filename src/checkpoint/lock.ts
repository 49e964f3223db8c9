import { link, open, readFile, rename, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { LockedError } from "../errors.js";

/**
 * One live run per checkpoint. The lock is a file created with O_EXCL holding the owner's pid, host
 * and start time. A lock whose owner is a dead process on this host is taken over; one held by a
 * live process, or by another host (whose processes we cannot see), is refused with the holder named.
 */

export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
}

export type LockStatus =
  | { state: "free" }
  | { state: "held"; owner: LockOwner }
  /** Left by a process that is gone: the next run takes it over. */
  | { state: "stale"; owner?: LockOwner }
  /** Held from another host, whose processes cannot be seen from here. */
  | { state: "unknown"; owner: LockOwner };

/** The one rule for a lock file's content: whose it is, and whether that owner may still be running. */
export function judgeLock(text: string, isAlive: (pid: number) => boolean = processIsAlive): Exclude<LockStatus, { state: "free" }> {
  const owner = parseOwner(text);
  if (!owner) return { state: "stale" };
  if (owner.host !== hostname()) return { state: "unknown", owner };
  return isAlive(owner.pid) ? { state: "held", owner } : { state: "stale", owner };
}

export interface HeldLock {
  release(): Promise<void>;
}

export async function acquireLock(lockFile: string, isAlive: (pid: number) => boolean = processIsAlive): Promise<HeldLock> {
  const me: LockOwner = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  const content = JSON.stringify(me);
  for (let round = 0; round < 5; round++) {
    try {
      const handle = await open(lockFile, "wx", 0o600);
      await handle.writeFile(content);
      await handle.sync();
      await handle.close();
      return { release: () => releaseIfOurs(lockFile, content) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holderText = await readFile(lockFile, "utf8").catch(() => undefined);
    if (holderText === undefined) continue; // released meanwhile: try again
    const holder = judgeLock(holderText, isAlive);
    if (holder.state !== "stale") throw lockedBy(lockFile, holder.owner);
    await takeOverStale(lockFile, holderText);
  }
  throw new LockedError(`${lockFile}: could not acquire the lock after several attempts; another run keeps taking it`);
}

/**
 * Moves the stale lock aside under a unique name, then checks that what was moved is the stale lock
 * we judged. If a live run replaced it in between, its lock is linked back before anyone can notice.
 */
async function takeOverStale(lockFile: string, staleText: string): Promise<void> {
  const aside = `${lockFile}.stale-${process.pid}-${Date.now()}`;
  try {
    await rename(lockFile, aside);
  } catch {
    return; // someone else moved it: go round again
  }
  const moved = await readFile(aside, "utf8").catch(() => undefined);
  if (moved !== staleText) await link(aside, lockFile).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

async function releaseIfOurs(lockFile: string, content: string): Promise<void> {
  const current = await readFile(lockFile, "utf8").catch(() => undefined);
  if (current === content) await unlink(lockFile).catch(() => undefined);
}

export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.pid === "number" && typeof value.host === "string" && typeof value.startedAt === "string") {
      return { pid: value.pid, host: value.host, startedAt: value.startedAt };
    }
  } catch {
    // An unreadable lock (torn by a crash while being written) is stale: its writer never finished.
  }
  return undefined;
}

function lockedBy(lockFile: string, holder: LockOwner): LockedError {
  return new LockedError(
    `${lockFile}: another run holds this checkpoint (pid ${holder.pid} on ${holder.host}, started ${holder.startedAt}). ` +
      "Wait for it to finish; if you are sure it is gone, delete the lock file",
  );
}
