import { rm } from "node:fs/promises";
import { join } from "node:path";
import { CheckpointError, UsageError } from "../../errors.js";
import type { JournalInfo } from "../journal-store.js";
import type { LockStatus } from "../lock-status.js";
import type { PlanRecord } from "../records.js";
import type { CheckpointSummary } from "../summarize.js";
import { migrate, quoteIdent, schemaExists } from "./migrations.js";
import { PgStore, pgLocation } from "./pg-store.js";
import { summarizePgCampaign } from "./pg-summary.js";
import { parsePgState } from "./pg-url.js";
import { PgConnections } from "./pool.js";
import { privateTempDir } from "./private-temp.js";
import { copySnapshot } from "./snapshot-copy.js";
import { type PurgedSummary, readPurged } from "./purge.js";
import { runLockKey } from "./run-lock.js";
import { readWorkerStatus, type WorkerStatus } from "../../worker/worker-status.js";
import type { AuditEntry } from "../../audit/audit-log.js";
import { readPgAudit } from "./pg-audit.js";

/**
 * A campaign's state in PostgreSQL opened to read, for `plan`, `status` and `export`: nothing is
 * locked or written, so it is safe beside a live run. A plan's input snapshot is written out of the
 * database to a private temp file (folder 0700, file 0600), removed on close.
 */
export class PgReader {
  private tempDir: string | undefined;

  private constructor(
    private readonly connections: PgConnections,
    readonly location: string,
    readonly campaign: string,
    /** Undefined while no run of the campaign has got past planning. */
    readonly store: PgStore | undefined,
    private readonly schemaFound = true,
    /** Set when the campaign was purged (purge.ts): its counts, and no store to read rows from. */
    readonly purged?: PurgedSummary,
  ) {}

  static async open(url: string, campaign: string | undefined, env: NodeJS.ProcessEnv): Promise<PgReader> {
    if (campaign === undefined || campaign === "")
      throw new UsageError("Expected --campaign <id> with a postgresql:// state: one database holds many campaigns");
    const connections = new PgConnections(parsePgState(url, env));
    try {
      // Nothing is created for a reader: no schema means no campaign yet.
      if (!(await schemaExists(connections))) return new PgReader(connections, pgLocation(connections.state.display, campaign), campaign, undefined, false);
      await migrate(connections);
      const location = pgLocation(connections.state.display, campaign);
      const s = quoteIdent(connections.state.schema);
      const purged = await connections.withClient((client) => readPurged(client, s, campaign));
      if (purged) return new PgReader(connections, location, campaign, undefined, true, purged);
      const store = await PgStore.open(connections, campaign, {}).catch((error: unknown) => {
        if (error instanceof CheckpointError && error.code === "CHECKPOINT_NOT_FOUND") return undefined;
        throw error;
      });
      return new PgReader(connections, location, campaign, store);
    } catch (error) {
      await connections.close();
      throw connections.wrap(error, "STATE_UNREACHABLE", "cannot read the campaign");
    }
  }

  /** Held while a session holds the campaign's run lock (run-lock.ts); the holder from the runs table. */
  async lockStatus(): Promise<LockStatus> {
    const s = quoteIdent(this.connections.state.schema);
    return this.connections.withClient(async (client) => {
      const { rows } = await client.query<{ held: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND mode = 'ExclusiveLock'
                 AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)) AS held`,
        [runLockKey(this.connections.state.schema, this.campaign)],
      );
      if (!rows[0]?.held) return { state: "free" };
      if (!this.schemaFound) return { state: "held" };
      const holder = await client.query<{ host: string; pid: number; started_at: Date }>(
        `SELECT host, pid, started_at FROM ${s}.runs WHERE campaign = $1 ORDER BY generation DESC LIMIT 1`,
        [this.campaign],
      );
      const owner = holder.rows[0];
      return owner ? { state: "held", owner: { host: owner.host, pid: owner.pid, startedAt: owner.started_at.toISOString() } } : { state: "held" };
    });
  }

  /** Live workers and rows by state (src/worker); undefined before any schema exists. */
  async workerStatus(): Promise<WorkerStatus | undefined> {
    return this.schemaFound ? readWorkerStatus(this.connections, this.campaign) : undefined;
  }

  /** The console's audit log of the campaign (kept through a purge); none before any schema exists. */
  async audit(): Promise<AuditEntry[]> {
    return this.schemaFound ? readPgAudit(this.connections, this.campaign) : [];
  }

  /** What `status` shows of activity: first row sent, last row change, runs that took the lock. */
  async info(): Promise<JournalInfo> {
    const s = quoteIdent(this.connections.state.schema);
    return this.connections.withClient(async (client) => {
      const { rows } = await client.query<{ first: Date | null; last: Date | null; runs: string }>(
        `SELECT (SELECT min(sent_at) FROM ${s}.rows WHERE campaign = $1) AS first,
                (SELECT max(updated_at) FROM ${s}.rows WHERE campaign = $1 AND status <> 'planned') AS last,
                (SELECT count(*) FROM ${s}.runs WHERE campaign = $1)::text AS runs`,
        [this.campaign],
      );
      const r = rows[0];
      return {
        createdAt: this.store?.createdAt ?? "",
        ...(r?.first ? { firstActivity: r.first.toISOString() } : {}),
        ...(r?.last ? { lastActivity: r.last.toISOString() } : {}),
        runs: Number(r?.runs ?? 0),
        tornTail: false,
      };
    });
  }

  /** What `status` shows, from SQL aggregates: the rows are never read into the process. */
  async summary(store: PgStore): Promise<CheckpointSummary> {
    const info = await this.info();
    const s = quoteIdent(this.connections.state.schema);
    return this.connections.withClient((client) => summarizePgCampaign(client, s, store, info));
  }

  /**
   * The plan's input snapshot as a local file (its digest is checked by the caller). Copied a slice
   * at a time: a million rows' input is tens of MB, which need not sit in memory.
   */
  async snapshotFile(plan: PlanRecord): Promise<string> {
    const s = quoteIdent(this.connections.state.schema);
    this.tempDir ??= await privateTempDir();
    const file = join(this.tempDir, "input.csv");
    const found = await this.connections.transaction((client) => copySnapshot(client, s, this.campaign, plan.inputDigest, file));
    if (!found)
      throw new CheckpointError("SNAPSHOT_MISSING", `${this.location}: the run's copy of its input is not in the database; pass --input <the campaign's CSV>`);
    return file;
  }

  async close(): Promise<void> {
    try {
      await this.store?.close();
    } finally {
      if (this.tempDir) await rm(this.tempDir, { recursive: true, force: true });
      await this.connections.close();
    }
  }
}
