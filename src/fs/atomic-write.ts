import { type FileHandle, open, readdir, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fsyncDirectoryOf } from "./fsync-directory.js";

function tempNameOf(file: string, pid: number): string {
  return join(dirname(file), `.${basename(file)}.${pid}.tmp`);
}

/**
 * Writes a file so readers see either the old version or the whole new one: write a temporary file
 * beside it (mode 0600, since result files hold codes), fsync it, rename it over, fsync the directory.
 * A chunk handed to `write` is written later, while the caller goes on: it must not change after.
 */
export async function writeFileAtomically(file: string, write: (chunk: (data: string | Uint8Array) => Promise<void>) => Promise<void>): Promise<void> {
  const temp = tempNameOf(file, process.pid);
  const handle = await open(temp, "w", 0o600);
  let renamed = false;
  // One write in flight while the caller makes the next chunks: awaiting each write before going
  // on left the result pass's main thread idle for a sixth of its time (issue #15).
  let inFlight: Promise<void> = Promise.resolve();
  try {
    let pending: Uint8Array[] = [];
    let pendingLength = 0;
    const flush = async (): Promise<void> => {
      await inFlight;
      if (pending.length === 0) return;
      const chunks = pending;
      pending = [];
      pendingLength = 0;
      inFlight = writeAll(handle, chunks);
    };
    await write(async (data) => {
      const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      pending.push(bytes);
      pendingLength += bytes.length;
      if (pendingLength >= 1 << 16) await flush();
    });
    await flush();
    await inFlight;
    await handle.chmod(0o600);
    await handle.sync();
    await handle.close();
    await rename(temp, file);
    renamed = true;
    await fsyncDirectoryOf(file);
  } finally {
    if (!renamed) {
      // A write still running would write into a closed (or reused) descriptor.
      await inFlight.catch(() => undefined);
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
    }
  }
}

/**
 * Every byte of `chunks`: writev may write fewer than asked (a disk filling up), and a result file
 * renamed into place short of its last rows would pass for whole.
 */
async function writeAll(handle: FileHandle, chunks: Uint8Array[]): Promise<void> {
  let left = chunks;
  while (left.length > 0) {
    const { bytesWritten } = await handle.writev(left);
    let rest = bytesWritten;
    let first = 0;
    while (first < left.length && rest >= (left[first] as Uint8Array).length) rest -= (left[first++] as Uint8Array).length;
    // A file system that takes nothing, without an error, would have this loop forever.
    if (bytesWritten === 0 && first < left.length) throw Object.assign(new Error("write: the file system took none of the bytes"), { code: "EIO" });
    left = left.slice(first);
    if (rest > 0) left[0] = (left[0] as Uint8Array).subarray(rest);
  }
}

/**
 * Removes temporary files a killed writer left beside `file` (they may hold codes). Only those of
 * processes that are gone: a live writer's file is its own business.
 */
export async function removeStaleTemps(file: string, isAlive: (pid: number) => boolean): Promise<void> {
  const prefix = `.${basename(file)}.`;
  const names = await readdir(dirname(file)).catch(() => [] as string[]);
  for (const name of names) {
    const pid = Number(name.slice(prefix.length, -".tmp".length));
    if (name.startsWith(prefix) && name.endsWith(".tmp") && Number.isInteger(pid) && pid > 0 && !isAlive(pid)) {
      await unlink(tempNameOf(file, pid)).catch(() => undefined);
    }
  }
}
