import type { AuditEntry, AuditLog } from "../../audit/audit-log.js";
import { migrate, quoteIdent } from "./migrations.js";
import type { PgConnections } from "./pool.js";

/**
 * The console's audit log in the schema's `audit` table, for campaigns whose state is PostgreSQL:
 * the record of who approved what sits with the rows it approved, and every host reading the
 * database sees it. Each entry is committed in a transaction of its own before the action goes on,
 * as the file's fsync is.
 */
export class PgAuditLog implements AuditLog {
  private migrated: Promise<void> | undefined;

  constructor(private readonly connections: PgConnections) {}

  private ready(): Promise<void> {
    this.migrated ??= migrate(this.connections).catch((error: unknown) => {
      this.migrated = undefined;
      throw this.connections.wrap(error, "STATE_UNREACHABLE", "cannot prepare the audit table");
    });
    return this.migrated;
  }

  async append(entry: Omit<AuditEntry, "at">, now: Date = new Date()): Promise<AuditEntry> {
    await this.ready();
    const full: AuditEntry = { at: now.toISOString(), ...entry };
    const s = quoteIdent(this.connections.state.schema);
    await this.connections.transaction((client) =>
      client.query(`INSERT INTO ${s}.audit (campaign, at, who, action, detail, plan_digest) VALUES ($1, $2, $3, $4, $5, $6)`, [
        full.campaign,
        full.at,
        full.who,
        full.action,
        full.detail ?? null,
        full.planDigest ?? null,
      ]),
    );
    return full;
  }

  async read(campaign: string): Promise<AuditEntry[]> {
    await this.ready();
    return readPgAudit(this.connections, campaign);
  }

  close(): Promise<void> {
    return this.connections.close();
  }
}

/** A campaign's audit entries, oldest first, shaped as the file's lines are. The schema must be migrated. */
export async function readPgAudit(connections: PgConnections, campaign: string): Promise<AuditEntry[]> {
  const s = quoteIdent(connections.state.schema);
  return connections.withClient(async (client) => {
    const { rows } = await client.query<{ at: Date; who: string; action: string; campaign: string; plan_digest: string | null; detail: string | null }>(
      `SELECT at, who, action, campaign, plan_digest, detail FROM ${s}.audit WHERE campaign = $1 ORDER BY seq`,
      [campaign],
    );
    return rows.map((r) => ({
      at: r.at.toISOString(),
      who: r.who,
      action: r.action,
      campaign: r.campaign,
      ...(r.plan_digest === null ? {} : { planDigest: r.plan_digest }),
      ...(r.detail === null ? {} : { detail: r.detail }),
    }));
  });
}
