import { quoteIdent } from "../checkpoint/pg/migrations.js";
import type { PgConnections } from "../checkpoint/pg/pool.js";

/** What `status` shows of a campaign's workers: the live ones, and its rows by state. */

export interface LiveWorker {
  host: string;
  pid: number;
  startedAt: string;
  lastHeartbeat: string;
  /** Rows it holds now (claimed, in flight or waiting), as of its last heartbeat. */
  rowsClaimed: number;
  /** Rows it has recorded an outcome for. */
  rowsSettled: number;
}

export interface WorkerStatus {
  live: LiveWorker[];
  /** Rows by state: to send (not claimed), claimed by a worker, sent with no outcome yet, and settled ones. */
  rows: { toSend: number; claimed: number; inFlight: number; issued: number; failed: number; pending: number };
  haltedGroups: string[];
  halt: string | null;
}

export async function readWorkerStatus(connections: PgConnections, campaign: string): Promise<WorkerStatus> {
  const s = quoteIdent(connections.state.schema);
  return connections.withClient(async (client) => {
    const workers = await client.query<{ host: string; pid: number; started_at: Date; heartbeat: Date; claimed: number; settled: number }>(
      `SELECT host, pid, started_at, heartbeat, claimed, settled FROM ${s}.workers
        WHERE campaign = $1 AND stopped_at IS NULL AND lease_until > now() ORDER BY started_at`,
      [campaign],
    );
    const counts = await client.query<Record<string, string>>(
      `SELECT count(*) FILTER (WHERE todo AND claim_token IS NULL)::text AS to_send,
              count(*) FILTER (WHERE todo AND claim_token IS NOT NULL)::text AS claimed,
              count(*) FILTER (WHERE status = 'sent')::text AS in_flight,
              count(*) FILTER (WHERE status = 'issued')::text AS issued,
              count(*) FILTER (WHERE status = 'failed')::text AS failed,
              count(*) FILTER (WHERE status = 'pending')::text AS pending
         FROM ${s}.rows WHERE campaign = $1`,
      [campaign],
    );
    const halts = await client.query<{ halt: string | null; groups: string[] | null }>(
      `SELECT halt, (SELECT array_agg(group_id ORDER BY group_id) FROM ${s}.group_halts WHERE campaign = $1) AS groups FROM ${s}.campaigns WHERE campaign = $1`,
      [campaign],
    );
    const c = counts.rows[0] ?? {};
    return {
      live: workers.rows.map((w) => ({
        host: w.host,
        pid: w.pid,
        startedAt: w.started_at.toISOString(),
        lastHeartbeat: w.heartbeat.toISOString(),
        rowsClaimed: w.claimed,
        rowsSettled: w.settled,
      })),
      rows: {
        toSend: Number(c.to_send ?? 0),
        claimed: Number(c.claimed ?? 0),
        inFlight: Number(c.in_flight ?? 0),
        issued: Number(c.issued ?? 0),
        failed: Number(c.failed ?? 0),
        pending: Number(c.pending ?? 0),
      },
      haltedGroups: halts.rows[0]?.groups ?? [],
      halt: halts.rows[0]?.halt ?? null,
    };
  });
}

export function formatWorkerStatus(status: WorkerStatus): string[] {
  const r = status.rows;
  const lines = [
    `  rows: ${r.toSend} to send, ${r.claimed} claimed by workers, ${r.inFlight} sent awaiting an outcome, ${r.issued} issued, ${r.failed} failed, ${r.pending} pending`,
    `  live workers: ${status.live.length}`,
  ];
  for (const w of status.live) {
    lines.push(
      `    pid ${w.pid} on ${w.host}: ${w.rowsClaimed} row(s) claimed, ${w.rowsSettled} settled, last heartbeat ${w.lastHeartbeat}, started ${w.startedAt}`,
    );
  }
  for (const group of status.haltedGroups) lines.push(`  group ${group}: halted (no budget left) until the next load`);
  if (status.halt !== null) lines.push(`  campaign halted: ${status.halt}`);
  return lines;
}
