import { constants, type FileHandle, open } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { flockSync } from "fs-ext";
import { LockedError, UsageError } from "../errors.js";
import { refuseUnlockableFilesystem } from "./lock-filesystem.js";

/**
 * One live run per checkpoint. A run holds an exclusive kernel `flock` on `<state>.lock`, taken
 * without waiting on its own open file description and kept until the run ends; the kernel grants
 * it to one open file description at a time and drops it when that description closes, however the
 * process ends, so a lock is never stale and nothing is ever taken over. The file is never unlinked
 * (a new file at the path would be a second, independent lock), and the owner written into it once
 * the lock is held serves only to name the holder in messages.
 */

export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
}

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * How many times a refused attempt is retried when only shared locks were in the way. `status`
 * probes with a shared lock for a few microseconds; a run starting at that instant must not be
 * refused for it. Safety does not depend on this: every attempt is the kernel's exclusive lock.
 */
const READER_RETRIES = 100;

export async function acquireLock(lockFile: string): Promise<HeldLock> {
  await refuseUnlockableFilesystem(dirname(lockFile));
  const handle = await openLockFile(lockFile, constants.O_RDWR | constants.O_CREAT);
  try {
    for (let attempt = 0; ; attempt++) {
      if (tryFlock(handle, "exnb")) break;
      // Refused: an exclusive holder (a run), or only a shared probe? A shared attempt tells them apart.
      if (!tryFlock(handle, "shnb")) throw lockedBy(lockFile, await readOwner(handle));
      flockSync(handle.fd, "un");
      if (attempt === READER_RETRIES) throw new LockedError(`${lockFile}: readers kept the lock busy; try again`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const me: LockOwner = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
    await handle.truncate(0);
    await handle.write(JSON.stringify(me), 0, "utf8");
  } catch (error) {
    await handle.close(); // drops the flock too, if it was taken
    throw error;
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      // Emptied while still held, so the file never names a run that is over; closing drops the lock.
      await handle.truncate(0).catch(() => undefined);
      await handle.close();
    },
  };
}

/** Opens the lock file, turning a refusal (permissions, a directory in the way) into an actionable error. */
async function openLockFile(lockFile: string, flags: number): Promise<FileHandle> {
  try {
    return await open(lockFile, flags, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new UsageError(`${lockFile}: cannot open the checkpoint's lock file (${code}). Check its permissions, or choose another --state`, "LOCK_OPEN");
  }
}

/** One non-blocking flock attempt: true if taken, false if another open file description holds a conflicting lock. */
export function tryFlock(handle: FileHandle, mode: "exnb" | "shnb"): boolean {
  try {
    flockSync(handle.fd, mode);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EAGAIN" || code === "EWOULDBLOCK") return false;
    throw error;
  }
}

/**
 * The holder's name as it wrote it; undefined until it has. Until then the file may still name a
 * killed run (the one thing a dead holder leaves), which is no holder: a process of this host that
 * is gone is never reported.
 */
export async function readOwner(handle: FileHandle): Promise<LockOwner | undefined> {
  const { bytesRead, buffer } = await handle.read(Buffer.alloc(1024), 0, 1024, 0);
  const owner = parseOwner(buffer.subarray(0, bytesRead).toString("utf8"));
  return owner && (owner.host !== hostname() || processIsAlive(owner.pid)) ? owner : undefined;
}

export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.pid === "number" && typeof value.host === "string" && typeof value.startedAt === "string") {
      return { pid: value.pid, host: value.host, startedAt: value.startedAt };
    }
  } catch {
    // Empty or half-written: the holder took the lock a moment ago and is writing its name.
  }
  return undefined;
}

export function describeOwner(owner: LockOwner | undefined): string {
  return owner ? `pid ${owner.pid} on ${owner.host}, started ${owner.startedAt}` : "owner not yet written";
}

/** The refusal of a run (and of a `plan`, which must refuse where `issue` would) while a run holds the lock. */
export function lockedBy(lockFile: string, owner: LockOwner | undefined): LockedError {
  return new LockedError(
    `${lockFile}: another run holds this checkpoint (${describeOwner(owner)}). ` +
      "Wait for it to finish: the lock is released when that process exits, however it exits, so there is nothing to delete",
  );
}
