import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { parseOwner, processIsAlive, type LockOwner } from "./lock.js";

export type LockStatus =
  | { state: "free" }
  | { state: "held"; owner: LockOwner }
  /** Left by a process that is gone: the next run takes it over. */
  | { state: "stale"; owner?: LockOwner }
  /** Held from another host, whose processes cannot be seen from here. */
  | { state: "unknown"; owner: LockOwner };

/** Who holds a checkpoint's lock, without touching it. */
export async function readLockStatus(lockFile: string): Promise<LockStatus> {
  const text = await readFile(lockFile, "utf8").catch(() => undefined);
  if (text === undefined) return { state: "free" };
  const owner = parseOwner(text);
  if (!owner) return { state: "stale" };
  if (owner.host !== hostname()) return { state: "unknown", owner };
  return processIsAlive(owner.pid) ? { state: "held", owner } : { state: "stale", owner };
}
