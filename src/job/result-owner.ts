import { readFile, writeFile } from "node:fs/promises";
import { access } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import { BatchError } from "../errors.js";
import { writeFileAtomically } from "../fs/atomic-write.js";
import { fsyncDirectoryOf } from "../fs/fsync-directory.js";
import { isPostgresState } from "../checkpoint/pg/pg-url.js";

/**
 * A result file belongs to one checkpoint. A marker beside it (`.<name>.owner`) names the
 * checkpoint that writes it, so a run of another campaign (another --state, same default --out)
 * cannot silently overwrite the codes of the first. The marker holds the checkpoint's path relative
 * to the result's folder, so a campaign folder moved or restored elsewhere keeps its owner.
 */

interface Owner {
  /** Absolute, once read. */
  checkpoint: string;
  campaign: string;
}

function markerOf(out: string): string {
  return join(dirname(out), `.${basename(out)}.owner`);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function readOwner(out: string): Promise<Owner | undefined> {
  const text = await readFile(markerOf(out), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const owner = JSON.parse(text) as Partial<Owner>;
    if (typeof owner.checkpoint === "string" && typeof owner.campaign === "string")
      return { checkpoint: ownerKey(owner.checkpoint, dirname(out)), campaign: owner.campaign };
  } catch {
    // A marker torn by a crash names nobody; the checks below still apply.
  }
  return undefined;
}

/**
 * Refuses when `out` holds another checkpoint's result. A result with no marker (from an older
 * release) is ours when our checkpoint's last plan wrote it; otherwise it is refused, since it may
 * hold codes nobody else keeps.
 */
export async function refuseOtherOwner(out: string, state: string, campaign: string, recordedOut: string | undefined): Promise<void> {
  const owner = await readOwner(out);
  if (owner) {
    if (owner.checkpoint !== ownerKey(state)) throw ownedBy(out, owner, state, campaign);
    return;
  }
  if (!(await exists(out)) || recordedOut === resolve(out)) return;
  throw new BatchError(
    "usage",
    "RESULT_EXISTS",
    `${out} exists and no run of checkpoint ${state} wrote it; nothing was sent. It may hold another campaign's codes: choose another --out, or move it aside`,
  );
}

function ownedBy(out: string, owner: Owner, state: string, campaign: string): BatchError {
  return new BatchError(
    "usage",
    "RESULT_OWNED",
    `${out} is the result of checkpoint ${owner.checkpoint} (campaign ${owner.campaign}), not of ${state} (campaign ${campaign}); ` +
      "nothing was sent. Give this campaign its own result with --out, or continue that campaign with --state " +
      owner.checkpoint,
  );
}

/**
 * Records that `state` owns `out`: when a run's plan is recorded, and again before any result is
 * written. A marker naming another checkpoint is refused, never overwritten, and the first marker
 * is created exclusively, so of two runs (two --state, one --out) racing for a result one is refused.
 */
export async function claimResult(out: string, state: string, campaign: string): Promise<void> {
  const owner = await readOwner(out);
  if (owner) {
    if (owner.checkpoint !== ownerKey(state)) throw ownedBy(out, owner, state, campaign);
    return;
  }
  const checkpoint = isPostgresState(state) ? state : relative(dirname(resolve(out)), resolve(state));
  const text = `${JSON.stringify({ checkpoint, campaign })}\n`;
  const marker = markerOf(out);
  try {
    await writeFile(marker, text, { flag: "wx", mode: 0o600 });
    await fsyncDirectoryOf(marker);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    const racer = await readOwner(out);
    if (racer && racer.checkpoint !== ownerKey(state)) throw ownedBy(out, racer, state, campaign);
    // A marker torn by a crash names nobody: replace it whole.
    if (!racer) await writeFileAtomically(marker, (write) => write(text));
  }
}

/** A checkpoint file by its absolute path; a PostgreSQL campaign by its (password-free) location. */
function ownerKey(state: string, from?: string): string {
  if (isPostgresState(state)) return state;
  return from === undefined ? resolve(state) : resolve(from, state);
}
