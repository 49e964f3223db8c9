import { open } from "node:fs/promises";
import { dirname } from "node:path";

/** Makes a file's creation or rename durable: the directory entry lives in the directory. */
export async function fsyncDirectoryOf(file: string): Promise<void> {
  const dir = await open(dirname(file), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
