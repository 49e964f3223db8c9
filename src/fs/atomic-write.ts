import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fsyncDirectoryOf } from "./fsync-directory.js";

/**
 * Writes a file so readers see either the old version or the whole new one: write a temporary file
 * beside it (mode 0600, since result files hold codes), fsync it, rename it over, fsync the directory.
 */
export async function writeFileAtomically(file: string, write: (chunk: (text: string) => Promise<void>) => Promise<void>): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const handle = await open(temp, "w", 0o600);
  let renamed = false;
  try {
    let pending: string[] = [];
    let pendingLength = 0;
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const text = pending.join("");
      pending = [];
      pendingLength = 0;
      await handle.write(text);
    };
    await write(async (text) => {
      pending.push(text);
      pendingLength += text.length;
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
