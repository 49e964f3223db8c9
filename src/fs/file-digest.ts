import { createHash } from "node:crypto";
import { open } from "node:fs/promises";

/**
 * SHA-256 of a whole file, as hex; throws what the file system throws. 1 MiB reads into one buffer:
 * a million-row result is some 450 MB, and a stream's 64 KiB chunks cost half again the hash's own time.
 */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash("sha256");
  const handle = await open(file, "r");
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (let position = 0; ; ) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return hash.digest("hex");
}
