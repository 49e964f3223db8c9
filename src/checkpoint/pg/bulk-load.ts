import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { parts } from "../../async-parts.js";
import { copyField } from "./copy-text.js";

/**
 * Loads a plan's input rows into the rows table with COPY: a million rows stream through in
 * seconds, in one transaction, and never sit in memory together. A campaign's first plan copies
 * straight into the rows table. COPY cannot upsert, so a later plan's rows (a changed input) go
 * into a temporary table first and one INSERT … ON CONFLICT updates the rows it shares with the
 * first.
 */

/** One input row as loaded at plan time. */
export interface PlannedRow {
  rid: string;
  row: number;
  recipient: string;
  /** The row's cells (header → value) as a JSON object, already a COPY field: see copy-text.ts cellsField. */
  cells: string;
}

/** COPY text of batches of rows, each line starting with `prefix`: one string (one stream write) per batch. */
async function* copyText(batches: AsyncIterable<readonly PlannedRow[]>, prefix: string): AsyncGenerator<string> {
  for await (const batch of batches) {
    let chunk = "";
    for (const r of batch) chunk += `${prefix}${r.rid}\t${r.row}\t${copyField(r.recipient)}\t${r.cells}\n`;
    yield chunk;
  }
}

/**
 * Inside the caller's transaction: the snapshot's bytes kept under its digest, unless already kept.
 * Streamed from the file as COPY's hex bytea (`\\x…`): a bound parameter would hold the whole
 * file in memory twice over (the bytes and their hex), tens of MB at a million rows.
 */
export async function keepSnapshot(client: pg.PoolClient, s: string, campaign: string, digest: string, file: string): Promise<void> {
  const { rows } = await client.query(`SELECT 1 FROM ${s}.snapshots WHERE campaign = $1 AND digest = $2`, [campaign, digest]);
  if (rows.length > 0) return;
  async function* text(): AsyncGenerator<string> {
    yield `${copyField(campaign)}\t${copyField(digest)}\t\\\\x`;
    for await (const chunk of createReadStream(file, { highWaterMark: 65_536 })) yield (chunk as Buffer).toString("hex");
    yield "\n";
  }
  await pipeline(Readable.from(text()), client.query(copyFrom(`COPY ${s}.snapshots (campaign, digest, bytes) FROM STDIN`)));
}

/**
 * Inside the caller's transaction (the fence): rows of `campaign`, in batches, inserted or updated,
 * then the table's statistics refreshed (ANALYZE counts the rows this transaction wrote). Without
 * them the planner believes a campaign has a few hundred rows and reads a chunk's states by
 * scanning every row of the campaign: measured at 100,000 rows, 150 ms a chunk and 418 rows/s sent
 * against 2,146 at a million rows, where autovacuum had happened to analyze the table first.
 */
export async function loadPlannedRows(client: pg.PoolClient, s: string, campaign: string, rows: AsyncIterable<readonly PlannedRow[]>): Promise<void> {
  await insertPlannedRows(client, s, campaign, rows);
  // SKIP_LOCKED: a VACUUM in progress on the table (an anti-wraparound one does not yield) would
  // otherwise hold the load, and the run's lock, up to the statement timeout; skipped, the
  // statistics come from that VACUUM's own analyze or autovacuum's next.
  await client.query(`ANALYZE (SKIP_LOCKED) ${s}.rows`);
}

async function insertPlannedRows(client: pg.PoolClient, s: string, campaign: string, rows: AsyncIterable<readonly PlannedRow[]>): Promise<void> {
  const { rows: found } = await client.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${s}.rows WHERE campaign = $1) AS any`, [campaign]);
  if (!found[0]?.any) {
    // A campaign's first plan (every large load): nothing to update, so the rows go straight in.
    const prefix = `${copyField(campaign)}\t`;
    for await (const part of parts(rows, COPY_ROWS)) {
      await pipeline(
        Readable.from(copyText(part, prefix)),
        client.query(copyFrom(`COPY ${s}.rows (campaign, request_id, row_no, recipient_id, cells) FROM STDIN`)),
      );
    }
    return;
  }
  await client.query("CREATE TEMPORARY TABLE pcb_planned_rows (rid uuid, row_no integer, recipient text, cells jsonb) ON COMMIT DROP");
  for await (const part of parts(rows, COPY_ROWS)) {
    await pipeline(Readable.from(copyText(part, "")), client.query(copyFrom("COPY pcb_planned_rows (rid, row_no, recipient, cells) FROM STDIN")));
    await client.query(
      `INSERT INTO ${s}.rows AS r (campaign, request_id, row_no, recipient_id, cells)
       SELECT $1, rid, row_no, recipient, cells FROM pcb_planned_rows
       ON CONFLICT (campaign, request_id) DO UPDATE SET row_no = excluded.row_no, recipient_id = excluded.recipient_id, cells = excluded.cells`,
      [campaign],
    );
    await client.query("TRUNCATE pcb_planned_rows");
  }
}

/**
 * Rows per COPY (and per upsert). Every statement is held to the connection's statement timeout
 * (30 s by default, pool.ts), which exists to catch a stuck server, not a big campaign: one COPY of
 * a million rows took 16 s on a quiet development machine and over 30 s on a busy one. A campaign
 * loads as several statements of at most this many rows, still in one transaction.
 */
const COPY_ROWS = 100_000;
