import { readFile } from "node:fs/promises";
import { judgeLock, type LockStatus } from "./lock.js";

export type { LockStatus };

/** Who holds a checkpoint's lock, without touching it. */
export async function readLockStatus(lockFile: string): Promise<LockStatus> {
  const text = await readFile(lockFile, "utf8").catch(() => undefined);
  return text === undefined ? { state: "free" } : judgeLock(text);
}
