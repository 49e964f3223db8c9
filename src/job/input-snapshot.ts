import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { fileSha256 } from "../fs/file-digest.js";
import { open, readdir, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { EncodingSniffer, type EncodingChoice, type InputEncoding } from "../csv/encoding.js";
import { inputReadError } from "../csv/read-records.js";
import { CheckpointError } from "../errors.js";
import { fsyncDirectoryOf } from "../fs/fsync-directory.js";

/**
 * The immutable copy of the input a run plans from and sends from. The user's file is read once,
 * while planning; the applier and the result writer read this copy, so a row added or edited after
 * planning is never sent unchecked. The name carries the bytes' SHA-256, so the plan record that
 * names it can never point at other bytes, whatever moment a crash picks.
 */

export interface InputSnapshot {
  path: string;
  digest: string;
  /** Its length in bytes. */
  bytes: number;
  encoding: InputEncoding;
}

export function snapshotPrefix(state: string): string {
  return `${basename(state)}.input-`;
}

/** The name whose `.<name>.<pid>.tmp` temporaries a copy in progress uses, for removeStaleTemps. */
export function snapshotTempBase(state: string): string {
  return `${state}.input`;
}

export async function takeSnapshot(file: string, choice: EncodingChoice, state: string): Promise<InputSnapshot> {
  const base = snapshotTempBase(state);
  const temp = join(dirname(base), `.${basename(base)}.${process.pid}.tmp`);
  const hash = createHash("sha256");
  const sniffer = new EncodingSniffer(choice);
  const handle = await open(temp, "w", 0o600);
  let kept = false;
  let bytes = 0;
  try {
    try {
      for await (const chunk of createReadStream(file)) {
        bytes += (chunk as Buffer).length;
        hash.update(chunk as Buffer);
        sniffer.feed(chunk as Buffer);
        await handle.write(chunk as Buffer);
      }
    } catch (error) {
      throw inputReadError(file, error);
    }
    await handle.sync();
    await handle.close();
    const digest = hash.digest("hex");
    const path = join(dirname(state), `${snapshotPrefix(state)}${digest.slice(0, 16)}`);
    await rename(temp, path);
    kept = true;
    await fsyncDirectoryOf(path);
    return { path, digest, bytes, encoding: sniffer.finish() };
  } finally {
    if (!kept) {
      await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
    }
  }
}

/** Where a plan's snapshot is: its name, beside the checkpoint (wherever the folder has moved to). */
export function snapshotPath(state: string, plan: { snapshot: string }): string {
  return join(dirname(state), basename(plan.snapshot));
}

/** Removes snapshots no plan names any more (and one a refused run left behind). */
export async function removeSnapshotsExcept(state: string, keep: string | undefined): Promise<void> {
  const prefix = snapshotPrefix(state);
  const names = await readdir(dirname(state)).catch(() => [] as string[]);
  for (const name of names) {
    const path = join(dirname(state), name);
    if (name.startsWith(prefix) && path !== keep) await unlink(path).catch(() => undefined);
  }
}

/** Checks a snapshot still holds the bytes its plan recorded, before anything is sent or exported from it. */
export async function verifySnapshot(path: string, digest: string): Promise<void> {
  let actual: string;
  try {
    actual = await fileSha256(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CheckpointError(
      "SNAPSHOT_MISSING",
      `${path}: the run's copy of its input cannot be read (${code ?? (error as Error).message}); pass --input <the campaign's CSV>`,
    );
  }
  if (actual !== digest) {
    throw new CheckpointError("SNAPSHOT_CHANGED", `${path}: the run's copy of its input no longer matches its plan; pass --input <the campaign's CSV>`);
  }
}
