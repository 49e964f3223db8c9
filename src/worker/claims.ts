import { quoteIdent } from "../checkpoint/pg/migrations.js";
import type { PgConnections } from "../checkpoint/pg/pool.js";
import type { RowState, RowStatus } from "../checkpoint/records.js";
import { retryOnce } from "./retry-once.js";

/**
 * Claims with leases, as graphile-worker and pg-boss claim jobs: a worker takes a small batch of
 * `todo` rows with FOR UPDATE SKIP LOCKED and stamps them with its token. The lease is the
 * worker's (one row in `workers`, renewed by its heartbeat), not each row's: a heartbeat touches one
 * row however many it holds, and never contends with the writes of its own rows. Once a worker's
 * lease has run out (killed, frozen, cut off), any other worker may take its rows over, and resends
 * each with the same requestId and the same body. Time is the database's (now()), never a host's, so
 * clock skew between hosts cannot shorten a lease.
 */

export interface ClaimedRow {
  rid: string;
  row: number;
  recipientId: string;
  plannedBody: string;
  /** What earlier runs recorded of the row; undefined when it was never sent. */
  state: RowState | undefined;
}

export interface ClaimScope {
  connections: PgConnections;
  campaign: string;
  token: string;
  leaseMs: number;
}

function schemaOf(scope: ClaimScope): string {
  return quoteIdent(scope.connections.state.schema);
}

const CLAIMABLE = (s: string) => `r.campaign = $1 AND r.todo
  AND NOT EXISTS (SELECT 1 FROM ${s}.group_halts h WHERE h.campaign = $1 AND h.group_id = r.planned_group)
  AND NOT EXISTS (SELECT 1 FROM ${s}.campaigns k WHERE k.campaign = $1 AND k.halt IS NOT NULL)`;

/** Claims up to `limit` rows: unclaimed ones, or another worker's whose lease has run out. */
export async function claimRows(scope: ClaimScope, limit: number): Promise<ClaimedRow[]> {
  const s = schemaOf(scope);
  // A claim need not survive a crash of the database: a claim lost with it only lets another worker
  // take the row, and the claim token fences whichever of the two writes second. So it skips the
  // WAL flush, the largest part of its cost.
  const { rows } = await retryOnce(() =>
    scope.connections.transaction(async (client) => {
      await client.query("SET LOCAL synchronous_commit = off");
      return client.query<{
        rid: string;
        row_no: number;
        recipient_id: string;
        planned_body: string;
        fingerprint: string | null;
        status: RowStatus | "sent" | "planned";
        in_doubt: boolean;
        attempts: number;
        accepted_fp: string | null;
      }>(
        `WITH c AS (
         SELECT r.seq FROM ${s}.rows r
          WHERE ${CLAIMABLE(s)} AND (r.claim_token IS NULL OR (r.claim_token <> $2
            AND NOT EXISTS (SELECT 1 FROM ${s}.workers w WHERE w.token = r.claim_token AND w.lease_until > now())))
          ORDER BY r.seq LIMIT $3 FOR UPDATE OF r SKIP LOCKED)
       UPDATE ${s}.rows r SET claim_token = $2
         FROM c WHERE r.seq = c.seq
       RETURNING r.request_id::text AS rid, r.row_no, r.recipient_id, r.planned_body, r.fingerprint, r.status, r.in_doubt, r.attempts, r.accepted_fp`,
        [scope.campaign, scope.token, limit],
      );
    }),
  );
  return rows
    .map((r) => ({
      rid: r.rid,
      row: r.row_no,
      recipientId: r.recipient_id,
      plannedBody: r.planned_body,
      state:
        r.status === "planned" || r.fingerprint === null
          ? undefined
          : {
              fp: r.fingerprint,
              status: r.status,
              inDoubt: r.in_doubt,
              attempts: r.attempts,
              ...(r.accepted_fp === null ? {} : { acceptedFp: r.accepted_fp }),
            },
    }))
    .sort((a, b) => a.row - b.row);
}

/** Rows still to send that this worker does not hold: claimed by live workers, or free. */
export async function rowsLeftToOthers(scope: ClaimScope): Promise<number> {
  const s = schemaOf(scope);
  const { rows } = await scope.connections.withClient((client) =>
    client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${s}.rows r WHERE ${CLAIMABLE(s)} AND r.claim_token IS DISTINCT FROM $2`, [
      scope.campaign,
      scope.token,
    ]),
  );
  return Number(rows[0]?.n ?? 0);
}

export interface Beat {
  halt: string | undefined;
  haltedGroups: string[];
  /**
   * This worker has settled the fewest rows of the campaign's live ones: the one whose `--rate auto`
   * probes for more. The prober gains share and the others give some up, so the role moves on and
   * the shares even out: a worker left far behind would hold the campaign's tail.
   */
  prober: boolean;
}

/**
 * The worker's heartbeat: renews its lease (and so that of every row that still carries its token:
 * a row another worker took over carries that worker's token now, and stays its), says how many
 * rows it holds, and reads the halts, in one statement.
 */
export async function heartbeat(scope: ClaimScope, held: number, settled: number): Promise<Beat> {
  const s = schemaOf(scope);
  const { rows } = await scope.connections.withClient((client) =>
    client.query<{ halt: string | null; groups: string[] | null; prober: boolean | null }>(
      `WITH w AS (UPDATE ${s}.workers SET heartbeat = now(), lease_until = now() + make_interval(secs => $3::double precision / 1000),
                    claimed = $4, settled = $5 WHERE token = $2 RETURNING token)
       SELECT k.halt, (SELECT array_agg(group_id) FROM ${s}.group_halts h WHERE h.campaign = $1) AS groups, (SELECT count(*) FROM w) AS renewed,
              (SELECT o.token FROM ${s}.workers o WHERE o.campaign = $1 AND o.stopped_at IS NULL AND (o.token = $2 OR o.lease_until > now())
                ORDER BY o.settled, o.started_at, o.token LIMIT 1) = $2 AS prober
         FROM ${s}.campaigns k WHERE k.campaign = $1`,
      [scope.campaign, scope.token, scope.leaseMs, held, settled],
    ),
  );
  const found = rows[0];
  return { halt: found?.halt ?? undefined, haltedGroups: found?.groups ?? [], prober: found?.prober === true };
}

/** Gives back every row this worker holds (a clean exit): others may claim them at once. */
export async function releaseClaims(scope: ClaimScope): Promise<number> {
  const s = schemaOf(scope);
  const result = await scope.connections.withClient((client) =>
    client.query(`UPDATE ${s}.rows SET claim_token = NULL WHERE campaign = $1 AND claim_token = $2`, [scope.campaign, scope.token]),
  );
  return result.rowCount ?? 0;
}

/** Rows claimed that the plan no longer sends (settled meanwhile): off the work list. */
export async function dropClaims(scope: ClaimScope, rids: string[]): Promise<void> {
  if (rids.length === 0) return;
  const s = schemaOf(scope);
  await scope.connections.withClient((client) =>
    client.query(`UPDATE ${s}.rows SET todo = false, claim_token = NULL WHERE campaign = $1 AND claim_token = $2 AND request_id = ANY($3::uuid[])`, [
      scope.campaign,
      scope.token,
      rids,
    ]),
  );
}

/**
 * Registers the worker. A worker's writes change rows after any complete record, so the
 * finished-run fast path (finished-run.ts) is switched off here, once, rather than in each commit:
 * no run records a complete one while workers hold the campaign's shared lock.
 */
export async function registerWorker(scope: ClaimScope, host: string, pid: number): Promise<void> {
  const s = schemaOf(scope);
  await scope.connections.withClient(async (client) => {
    await client.query(`UPDATE ${s}.campaigns SET last_complete = NULL WHERE campaign = $1 AND last_complete IS NOT NULL`, [scope.campaign]);
    await client.query(
      `INSERT INTO ${s}.workers (token, campaign, host, pid, lease_ms, lease_until)
       VALUES ($1, $2, $3, $4, $5::integer, now() + make_interval(secs => $5::integer / 1000.0))`,
      [scope.token, scope.campaign, host, pid, scope.leaseMs],
    );
  });
}

export async function recordHalt(scope: ClaimScope, groupId: string | undefined, reason: string): Promise<void> {
  const s = schemaOf(scope);
  await scope.connections.withClient((client) =>
    groupId === undefined
      ? client.query(`UPDATE ${s}.campaigns SET halt = $2 WHERE campaign = $1 AND halt IS NULL`, [scope.campaign, reason])
      : client.query(`INSERT INTO ${s}.group_halts (campaign, group_id, reason) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [scope.campaign, groupId, reason]),
  );
}
