import { hostname } from "node:os";
import type pg from "pg";
import { LockedError } from "../../errors.js";
import { quoteIdent } from "./migrations.js";
import type { PgConnections } from "./pool.js";

/**
 * One live run per campaign: a session advisory lock on a key derived from schema and campaign,
 * held on a connection of its own for the whole run. PostgreSQL drops it when that session ends,
 * however the process ends, so it is never stale. Taking it bumps the campaign's generation; every
 * write checks the generation in its own transaction (see pg-store.ts), so a run whose lock
 * connection died, and which another run may have replaced, can write nothing.
 *
 * A session advisory lock needs a session that is ours alone: behind PgBouncer in transaction mode
 * the lock would be taken on whichever server connection ran the statement and released with it.
 * Point --state at PostgreSQL itself, or at a pooler in session mode.
 */

export interface RunLock {
  generation: string;
  /** Aborted when the lock connection is lost: the run must stop taking rows. */
  lost: AbortSignal;
  release(): Promise<void>;
}

const HEARTBEAT_MS = 5_000;

export async function acquireRunLock(connections: PgConnections, campaign: string): Promise<RunLock> {
  const { schema, display } = connections.state;
  const s = quoteIdent(schema);
  const lost = new AbortController();
  let released = false;
  const onLost = (error: Error): void => {
    if (!released && !lost.signal.aborted) lost.abort(connections.wrap(error, "STATE_LOCK_LOST", "lost the run's lock connection"));
  };
  const client = await connections.dedicated(onLost);
  try {
    const key = runLockKey(schema, campaign);
    const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked", [key]);
    if (!rows[0]?.locked) throw await lockedBy(client, s, display, campaign);
    const generation = await startRun(client, s, campaign);
    const heartbeat = setInterval(() => {
      client
        .query(`UPDATE ${s}.runs SET heartbeat = now() WHERE campaign = $1 AND generation = $2`, [campaign, generation])
        .catch((error: unknown) => onLost(error as Error));
    }, HEARTBEAT_MS);
    heartbeat.unref();
    return {
      generation,
      lost: lost.signal,
      async release() {
        if (released) return;
        released = true;
        clearInterval(heartbeat);
        // Ending the session drops the lock; an explicit unlock first would only add a round trip.
        await client.end().catch(() => undefined);
      },
    };
  } catch (error) {
    released = true;
    await client.end().catch(() => undefined);
    throw connections.wrap(error, "STATE_LOCK_FAILED", "cannot take the campaign's lock");
  }
}

/** Hashed by PostgreSQL (hashtextextended) into the advisory lock's 64-bit key. */
export function runLockKey(schema: string, campaign: string): string {
  return `points-code-batch run ${schema} ${campaign}`;
}

async function startRun(client: pg.Client, s: string, campaign: string): Promise<string> {
  await client.query("BEGIN");
  try {
    await client.query(`INSERT INTO ${s}.campaigns (campaign) VALUES ($1) ON CONFLICT (campaign) DO NOTHING`, [campaign]);
    const { rows } = await client.query<{ generation: string }>(
      `UPDATE ${s}.campaigns SET generation = generation + 1 WHERE campaign = $1 RETURNING generation`,
      [campaign],
    );
    const generation = rows[0]?.generation;
    if (generation === undefined) throw new Error("campaign row vanished");
    await client.query(`INSERT INTO ${s}.runs (campaign, generation, host, pid) VALUES ($1, $2, $3, $4)`, [campaign, generation, hostname(), process.pid]);
    await client.query("COMMIT");
    return generation;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

async function lockedBy(client: pg.Client, s: string, display: string, campaign: string): Promise<LockedError> {
  const { rows } = await client
    .query<{ host: string; pid: number; started_at: Date }>(
      `SELECT host, pid, started_at FROM ${s}.runs WHERE campaign = $1 ORDER BY generation DESC LIMIT 1`,
      [campaign],
    )
    .catch(() => ({ rows: [] }));
  const holder = rows[0];
  const who = holder ? `pid ${holder.pid} on ${holder.host}, started ${holder.started_at.toISOString()}` : "another session";
  return new LockedError(`campaign ${campaign} in ${display} is locked by a run in progress (${who}); wait for it to finish or stop it`);
}
