import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { quoteIdent } from "../checkpoint/pg/migrations.js";
import type { PgConnections } from "../checkpoint/pg/pool.js";
import { runLockKey } from "../checkpoint/pg/run-lock.js";
import { LockedError } from "../errors.js";

/**
 * How workers and a run coexist. `load`, `issue` and `purge` take the campaign's advisory lock
 * exclusively (run-lock.ts); every `work` process takes the same lock SHARED on a session of its
 * own. So any number of workers run together, and none while a plan is being recorded: a worker
 * meeting a `load` (or `issue`) exits 5, and a `load` meeting live workers exits 5. PostgreSQL drops
 * a shared lock with its session, so a killed worker blocks nothing; its rows are taken over once
 * their lease runs out (claims.ts). The row's claim token, not this lock, fences the worker's writes.
 */

export interface WorkerLock {
  /** This process's claim token: every row it holds, and every write it makes, names it. */
  token: string;
  host: string;
  pid: number;
  /** Aborted when the lock's session is lost: stop taking rows. */
  lost: AbortSignal;
  release(): Promise<void>;
}

export async function acquireWorkerLock(connections: PgConnections, campaign: string): Promise<WorkerLock> {
  const { schema, display } = connections.state;
  const s = quoteIdent(schema);
  const lost = new AbortController();
  let released = false;
  const onLost = (error: Error): void => {
    if (!released && !lost.signal.aborted) lost.abort(connections.wrap(error, "STATE_LOCK_LOST", "lost the worker's lock connection"));
  };
  const client = await connections.dedicated(onLost);
  try {
    const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock_shared(hashtextextended($1, 0)) AS locked", [
      runLockKey(schema, campaign),
    ]);
    if (!rows[0]?.locked) {
      const holder = await client
        .query<{ host: string; pid: number; started_at: Date }>(
          `SELECT host, pid, started_at FROM ${s}.runs WHERE campaign = $1 ORDER BY generation DESC LIMIT 1`,
          [campaign],
        )
        .then((r) => r.rows[0])
        .catch(() => undefined);
      const who = holder ? `pid ${holder.pid} on ${holder.host}, started ${holder.started_at.toISOString()}` : "another session";
      throw new LockedError(
        `campaign ${campaign} in ${display} is locked by a load or issue in progress (${who}); start workers once it has recorded its plan`,
      );
    }
    const token = randomUUID();
    const host = hostname();
    return {
      token,
      host,
      pid: process.pid,
      lost: lost.signal,
      async release() {
        if (released) return;
        released = true;
        await client
          .query(`UPDATE ${s}.workers SET stopped_at = now(), heartbeat = now(), lease_until = now() WHERE token = $1`, [token])
          .catch(() => undefined);
        // Ending the session drops the shared lock.
        await client.end().catch(() => undefined);
      },
    };
  } catch (error) {
    released = true;
    await client.end().catch(() => undefined);
    throw connections.wrap(error, "STATE_LOCK_FAILED", "cannot take the campaign's worker lock");
  }
}
