import type pg from "pg";
import { CheckpointError, LockedError, StateLostError } from "../../errors.js";
import { migrate, quoteIdent, schemaExists } from "./migrations.js";
import type { PgConnections } from "./pool.js";
import { acquireRunLock } from "./run-lock.js";

/**
 * Retention: the personal data and codes of campaigns that finished long enough ago are deleted,
 * their counts and totals kept. Finished means the latest run wrote its result (the campaign's
 * complete record is its last write) and no row is pending or in doubt: such a campaign has
 * nothing left to send, so nothing a rerun would need is lost. Each campaign is purged under its
 * run lock, fenced like any write, so a run cannot start (or still be writing) while it goes.
 */

export interface PurgeCandidate {
  campaign: string;
  /** When the latest run finished; undefined while the campaign has not finished. */
  finishedAt: Date | undefined;
  rows: number;
  issued: number;
  failed: number;
  /** Rows pending, sent without an outcome, or in doubt: the campaign is not finished. */
  open: number;
  issuedJpy: string;
  /** Why it is not purged now, or undefined when it is due. */
  notDue?: string;
}

export interface PurgedSummary {
  finishedAt: string;
  purgedAt: string;
  rows: number;
  issued: number;
  failed: number;
  issuedJpy: string;
  groups: Array<{ groupId: string; issuedRows: number; issuedJpy: string; failedRows: number }>;
  failedByCode: Record<string, number>;
}

/** Every campaign not purged yet (or only `campaign`), with whether it is due for a purge. */
export async function purgeCandidates(connections: PgConnections, olderThanDays: number, campaign?: string): Promise<PurgeCandidate[]> {
  if (!(await schemaExists(connections))) return [];
  await migrate(connections);
  const s = quoteIdent(connections.state.schema);
  return connections.withClient(async (client) => {
    const { rows } = await client.query<{
      campaign: string;
      finished_at: Date | null;
      due: boolean;
      rows: string;
      issued: string;
      failed: string;
      open: string;
      issued_jpy: string;
    }>(
      `SELECT c.campaign, f.finished_at, f.finished_at < now() - make_interval(days => $1) AS due,
              count(r.request_id)::text AS rows,
              (count(*) FILTER (WHERE r.status = 'issued'))::text AS issued,
              (count(*) FILTER (WHERE r.status = 'failed'))::text AS failed,
              (count(*) FILTER (WHERE r.status IN ('sent', 'pending') OR r.in_doubt))::text AS open,
              coalesce(sum(r.value) FILTER (WHERE r.status = 'issued'), 0)::text AS issued_jpy
         FROM ${s}.campaigns c
         CROSS JOIN LATERAL (SELECT (c.last_complete->>'at')::timestamptz AS finished_at) f
         LEFT JOIN ${s}.rows r ON r.campaign = c.campaign
        WHERE c.purged_at IS NULL AND ($2::text IS NULL OR c.campaign = $2)
        GROUP BY c.campaign, f.finished_at ORDER BY c.campaign`,
      [olderThanDays, campaign ?? null],
    );
    return rows.map((r) => {
      const candidate: PurgeCandidate = {
        campaign: r.campaign,
        finishedAt: r.finished_at ?? undefined,
        rows: Number(r.rows),
        issued: Number(r.issued),
        failed: Number(r.failed),
        open: Number(r.open),
        issuedJpy: r.issued_jpy,
      };
      const notDue =
        r.finished_at === null
          ? "not finished: its latest run has not written its result"
          : candidate.open > 0
            ? `not finished: ${candidate.open} row(s) pending or in doubt; a rerun resolves them`
            : r.due
              ? undefined
              : `finished ${r.finished_at.toISOString()}, less than ${olderThanDays} day(s) ago`;
      return notDue === undefined ? candidate : { ...candidate, notDue };
    });
  });
}

/** When `campaign` was purged, and what it held then; undefined if it was not. */
export async function readPurged(client: pg.PoolClient, s: string, campaign: string): Promise<PurgedSummary | undefined> {
  const { rows } = await client.query<{ purged_summary: PurgedSummary | null }>(
    `SELECT purged_summary FROM ${s}.campaigns WHERE campaign = $1 AND purged_at IS NOT NULL`,
    [campaign],
  );
  return rows[0]?.purged_summary ?? undefined;
}

/**
 * Purges one campaign: takes its run lock (LockedError while a run holds it), checks again under
 * the lock that it is still due, then in one transaction keeps its totals and deletes its input
 * cells, recipient ids, bodies, codes, PayPay data, error messages and input snapshots.
 */
export async function purgeCampaign(connections: PgConnections, campaign: string, olderThanDays: number): Promise<PurgedSummary> {
  const lock = await acquireRunLock(connections, campaign);
  try {
    const [due] = await purgeCandidates(connections, olderThanDays, campaign);
    if (!due || due.notDue !== undefined || due.finishedAt === undefined)
      throw new CheckpointError("PURGE_NOT_DUE", `campaign ${campaign} is not due for a purge: ${due?.notDue ?? "already purged or not found"}`);
    const finishedAt = due.finishedAt;
    const s = quoteIdent(connections.state.schema);
    return await connections.transaction(async (client) => {
      const { rows: fence } = await client.query<{ generation: string }>(`SELECT generation FROM ${s}.campaigns WHERE campaign = $1 FOR UPDATE`, [campaign]);
      if (fence[0]?.generation !== lock.generation)
        throw new StateLostError("STATE_FENCED", `campaign ${campaign}: another run took the campaign over during the purge; nothing was deleted`);
      const summary = await totals(client, s, campaign, finishedAt);
      for (const group of summary.groups) {
        await client.query(`INSERT INTO ${s}.purged_totals (campaign, group_id, issued_rows, issued_jpy, failed_rows) VALUES ($1, $2, $3, $4, $5)`, [
          campaign,
          group.groupId,
          group.issuedRows,
          group.issuedJpy,
          group.failedRows,
        ]);
      }
      await eraseRows(client, s, campaign);
      await client.query(`DELETE FROM ${s}.snapshots WHERE campaign = $1`, [campaign]);
      // Without its complete record a rerun cannot take the finished-run shortcut: it opens the
      // campaign and is refused as purged.
      await client.query(`UPDATE ${s}.campaigns SET purged_at = $2, purged_summary = $3, last_complete = NULL WHERE campaign = $1`, [
        campaign,
        summary.purgedAt,
        JSON.stringify(summary),
      ]);
      return summary;
    });
  } catch (error) {
    throw error instanceof LockedError || error instanceof CheckpointError ? error : connections.wrap(error, "STATE_WRITE_FAILED", `cannot purge ${campaign}`);
  } finally {
    await lock.release();
  }
}

/**
 * In batches of seq, so each statement stays well inside the statement timeout however large the
 * campaign (a million rows is a hundred statements), all in the caller's one transaction.
 */
const ERASE_BATCH = 10_000;

async function eraseRows(client: pg.PoolClient, s: string, campaign: string): Promise<void> {
  let after = "0";
  for (;;) {
    const { rows } = await client.query<{ last: string | null }>(
      `WITH batch AS (SELECT seq FROM ${s}.rows WHERE campaign = $1 AND seq > $2 ORDER BY seq LIMIT ${ERASE_BATCH}),
            erased AS (UPDATE ${s}.rows AS r SET cells = NULL, recipient_id = NULL, body = NULL, planned_body = NULL, code = NULL, data = NULL,
                              last_error_message = NULL, gift_card_name = NULL, updated_at = now()
                         FROM batch WHERE r.seq = batch.seq RETURNING r.seq)
       SELECT max(seq)::text AS last FROM erased`,
      [campaign, after],
    );
    const last = rows[0]?.last;
    if (last === null || last === undefined) return;
    after = last;
  }
}

async function totals(client: pg.PoolClient, s: string, campaign: string, finishedAt: Date): Promise<PurgedSummary> {
  const { rows: groups } = await client.query<{ group_id: string | null; issued_rows: number; issued_jpy: string; failed_rows: number; rows: number }>(
    `SELECT group_id, count(*) FILTER (WHERE status = 'issued')::int AS issued_rows,
            coalesce(sum(value) FILTER (WHERE status = 'issued'), 0)::text AS issued_jpy,
            count(*) FILTER (WHERE status = 'failed')::int AS failed_rows, count(*)::int AS rows
       FROM ${s}.rows WHERE campaign = $1 GROUP BY group_id ORDER BY group_id`,
    [campaign],
  );
  const { rows: failures } = await client.query<{ code: string; n: number }>(
    `SELECT last_error_code AS code, count(*)::int AS n FROM ${s}.rows
      WHERE campaign = $1 AND status = 'failed' AND last_error_code IS NOT NULL GROUP BY 1 ORDER BY 1`,
    [campaign],
  );
  const withGroup = groups.filter((g): g is typeof g & { group_id: string } => g.group_id !== null);
  return {
    finishedAt: finishedAt.toISOString(),
    purgedAt: new Date().toISOString(),
    rows: groups.reduce((n, g) => n + g.rows, 0),
    issued: groups.reduce((n, g) => n + g.issued_rows, 0),
    failed: groups.reduce((n, g) => n + g.failed_rows, 0),
    // Summed as bigint: the database's own sums, never rounded through a JS number.
    issuedJpy: withGroup.reduce((n, g) => n + BigInt(g.issued_jpy), 0n).toString(),
    groups: withGroup.map((g) => ({ groupId: g.group_id, issuedRows: g.issued_rows, issuedJpy: g.issued_jpy, failedRows: g.failed_rows })),
    failedByCode: Object.fromEntries(failures.map((f) => [f.code, f.n])),
  };
}

/** The refusal of anything that needs what a purge deleted. */
export function purgedError(location: string, summary: PurgedSummary): CheckpointError {
  return new CheckpointError(
    "CAMPAIGN_PURGED",
    `${location}: this campaign was purged on ${summary.purgedAt} (finished ${summary.finishedAt}): its input cells, codes and PayPay data were deleted, ` +
      `only its counts remain (${summary.rows} row(s), ${summary.issued} issued, ${summary.failed} failed; see status). Give a new run a new --campaign id`,
  );
}
