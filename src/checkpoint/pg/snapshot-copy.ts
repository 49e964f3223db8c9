import { open } from "node:fs/promises";
import type pg from "pg";

/** Big enough that a million rows' input takes a handful of round trips, small enough to not matter in memory. */
const SLICE_BYTES = 4 * 1024 * 1024;

/**
 * Writes a kept input snapshot (bulk-load.ts keepSnapshot) to `file` (mode 0600), one slice of its
 * bytes per query. Inside the caller's transaction, which must be REPEATABLE READ (set here) so
 * every slice comes from the same row version. False when no snapshot has that digest.
 */
export async function copySnapshot(client: pg.PoolClient, s: string, campaign: string, digest: string, file: string): Promise<boolean> {
  await client.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  const { rows } = await client.query<{ size: number }>(`SELECT octet_length(bytes) AS size FROM ${s}.snapshots WHERE campaign = $1 AND digest = $2`, [
    campaign,
    digest,
  ]);
  const size = rows[0]?.size;
  if (size === undefined) return false;
  const handle = await open(file, "w", 0o600);
  try {
    // substring's positions count from 1.
    for (let from = 1; from <= size; from += SLICE_BYTES) {
      const slice = await client.query<{ bytes: Buffer }>(
        `SELECT substring(bytes FROM $3 FOR $4) AS bytes FROM ${s}.snapshots WHERE campaign = $1 AND digest = $2`,
        [campaign, digest, from, SLICE_BYTES],
      );
      const bytes = slice.rows[0]?.bytes;
      if (bytes === undefined) return false;
      // writeFile, unlike write, loops until every byte is written (from the current position).
      await handle.writeFile(bytes);
    }
  } finally {
    await handle.close();
  }
  return true;
}
