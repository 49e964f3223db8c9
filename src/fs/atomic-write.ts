import { open, readdir, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fsyncDirectoryOf } from "./fsync-directory.js";

/**
 * Writes a file so readers see either the old version or the whole new one: write a temporary file
 * beside it (mode 0600, since result files hold codes), fsync it, rename it over, fsync the directory.
 */
function tempNameOf(file: string, pid: number): string {
  return join(dirname(file), `.${basename(file)}.${pid}.tmp`);
}

export async function writeFileAtomically(file: string, write: (chunk: (data: string | Uint8Array) => Promise<void>) => Promise<void>): Promise<void> {
  const temp = tempNameOf(file, process.pid);
  const handle = await open(temp, "w", 0o600);
  let renamed = false;
  try {
    let pending: Uint8Array[] = [];
    let pendingLength = 0;
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const chunks = pending;
      pending = [];
      pendingLength = 0;
      await handle.writev(chunks);
    };
    await write(async (data) => {
      const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      pending.push(bytes);
      pendingLength += bytes.length;
      if (pendingLength >= 1 << 16) await flush();
    });
    await flush();
    await handle.chmod(0o600);
    await handle.sync();
    await handle.close();
    await rename(temp, file);
    renamed = true;
    await fsyncDirectoryOf(file);
  } finally {
    if (!renamed) {
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
    }
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
