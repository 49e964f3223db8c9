import { constants, type FileHandle, open } from "node:fs/promises";
import { flockSync } from "fs-ext";
import { lockedBy, readOwner, tryFlock, type LockOwner } from "./lock.js";

export type LockStatus =
  | { state: "free" }
  /** `owner` is absent in the instant between a run taking the lock and writing its name. */
  | { state: "held"; owner?: LockOwner };

/**
 * Whether a run holds a checkpoint's lock, asked of the kernel: a shared flock on a separate open
 * file description is refused exactly while a run holds the exclusive one, and is dropped at once.
 * A file naming a process that is gone is free: only a live open file description holds a flock.
 */
export async function readLockStatus(lockFile: string): Promise<LockStatus> {
  let handle: FileHandle;
  try {
    handle = await open(lockFile, constants.O_RDONLY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { state: "free" }; // no run ever took it
    throw error;
  }
  try {
    if (tryFlock(handle, "shnb")) {
      flockSync(handle.fd, "un");
      return { state: "free" };
    }
    const owner = await readOwner(handle);
    return owner ? { state: "held", owner } : { state: "held" };
  } finally {
    await handle.close();
  }
}

/** For `plan`: refuses, as `issue` would, while a run holds the checkpoint. Takes nothing. */
export async function refuseIfLocked(lockFile: string): Promise<void> {
  const status = await readLockStatus(lockFile);
  if (status.state === "held") throw lockedBy(lockFile, status.owner);
}
