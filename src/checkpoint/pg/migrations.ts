import type pg from "pg";
import { CheckpointError } from "../../errors.js";
import type { PgConnections } from "./pool.js";

/**
 * The schema, built by versioned, forward-only migrations. Each start runs the missing ones in one
 * transaction under a transaction-scoped advisory lock on the schema's name, so two processes
 * starting at once migrate one after the other and the second finds nothing to do. A database
 * migrated by a newer release is refused: this binary does not know what its tables mean.
 */

/** `s` stands for the quoted schema name. Never edit a released migration: add the next one. */
const MIGRATIONS: ReadonlyArray<(s: string) => string> = [
  (s) => `
    CREATE TABLE ${s}.campaigns (
      campaign      text PRIMARY KEY,
      -- Bumped by each run that takes the campaign's lock; every write checks it (the fence).
      generation    bigint NOT NULL DEFAULT 0,
      -- Set when the first run got past planning (the journal's header record).
      opened_at     timestamptz,
      target        jsonb,
      latest_plan   jsonb,
      last_complete jsonb,
      created_at    timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE ${s}.runs (
      campaign   text NOT NULL REFERENCES ${s}.campaigns,
      generation bigint NOT NULL,
      host       text NOT NULL,
      pid        integer NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      heartbeat  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (campaign, generation)
    );
    -- A plan's input snapshot, the bytes the run planned from, so any host can resume or export.
    CREATE TABLE ${s}.snapshots (
      campaign   text NOT NULL REFERENCES ${s}.campaigns,
      digest     text NOT NULL,
      bytes      bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (campaign, digest)
    );
    CREATE TABLE ${s}.rows (
      seq               bigint GENERATED ALWAYS AS IDENTITY,
      campaign          text NOT NULL REFERENCES ${s}.campaigns,
      request_id        uuid NOT NULL,
      row_no            integer,
      recipient_id      text,
      -- The input row's cells (header → value), loaded in bulk at plan time.
      cells             jsonb,
      body              text,
      fingerprint       text,
      -- planned (loaded, never sent) | sent | issued | failed | pending
      status            text NOT NULL DEFAULT 'planned',
      in_doubt          boolean NOT NULL DEFAULT false,
      unknown_outcome   boolean NOT NULL DEFAULT false,
      attempts          integer NOT NULL DEFAULT 0,
      group_id          text,
      value             bigint,
      gift_card_name    text,
      start_at          text,
      end_at            text,
      code              text,
      -- PayPay's whole data object as received: int64 digits intact.
      data              text,
      last_error_code   text,
      last_error_message text,
      paypay_request_id text,
      -- The latest outcome as the journal's outcome record had it, so a result reads back the same.
      outcome_status    text,
      outcome_fp        text,
      outcome_attempts  integer,
      outcome_at        text,
      accepted_fp       text,
      sent_at           timestamptz,
      updated_at        timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (campaign, request_id),
      UNIQUE (seq)
    );
    CREATE INDEX rows_recipient ON ${s}.rows (recipient_id);
    CREATE VIEW ${s}.issued_codes_masked AS
      SELECT campaign, recipient_id, row_no, request_id, group_id, value,
             '****' || right(code, 4) AS code_last4, start_at, end_at, updated_at AS issued_at, paypay_request_id
        FROM ${s}.rows WHERE status = 'issued';
    CREATE VIEW ${s}.issued_codes AS
      SELECT campaign, recipient_id, row_no, request_id, group_id, value, code, data, start_at, end_at,
             updated_at AS issued_at, paypay_request_id
        FROM ${s}.rows WHERE status = 'issued';
  `,
  // Retention (purge.ts): when a finished campaign's personal data and codes were deleted, and the
  // counts and totals it had then, per group, which the rows no longer fully show.
  (s) => `
    ALTER TABLE ${s}.campaigns ADD COLUMN purged_at timestamptz, ADD COLUMN purged_summary jsonb;
    CREATE TABLE ${s}.purged_totals (
      campaign     text NOT NULL REFERENCES ${s}.campaigns,
      group_id     text NOT NULL,
      issued_rows  integer NOT NULL,
      issued_jpy   bigint NOT NULL,
      failed_rows  integer NOT NULL,
      PRIMARY KEY (campaign, group_id)
    );
  `,
  // Workers (src/worker): rows a `load` planned to send, claimed with a lease; shared halts and rates.
  (s) => `
    ALTER TABLE ${s}.rows
      -- Planned to send by the latest plan and not settled since: what workers claim.
      ADD COLUMN todo        boolean NOT NULL DEFAULT false,
      -- The exact body the plan will send, and its group (workers skip halted groups).
      ADD COLUMN planned_body  text,
      ADD COLUMN planned_group text,
      -- The worker holding the row (its token; its lease is the worker's, see workers); every write of a worker names it.
      ADD COLUMN claim_token uuid;
    CREATE INDEX rows_todo ON ${s}.rows (campaign, seq) WHERE todo;
    CREATE INDEX rows_claim ON ${s}.rows (claim_token) WHERE claim_token IS NOT NULL;
    -- Set by a fatal answer (credentials refused): every worker of the campaign stops.
    ALTER TABLE ${s}.campaigns ADD COLUMN halt text;
    -- Groups PayPay answered BUDGET_NOT_ENOUGH for: every worker stops sending them.
    CREATE TABLE ${s}.group_halts (
      campaign text NOT NULL REFERENCES ${s}.campaigns,
      group_id text NOT NULL,
      reason   text NOT NULL,
      at       timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (campaign, group_id)
    );
    CREATE TABLE ${s}.workers (
      token      uuid PRIMARY KEY,
      campaign   text NOT NULL REFERENCES ${s}.campaigns,
      host       text NOT NULL,
      pid        integer NOT NULL,
      lease_ms   integer NOT NULL,
      -- Renewed by the worker's heartbeat: once past, any other worker may take its rows over.
      lease_until timestamptz NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      heartbeat  timestamptz NOT NULL DEFAULT now(),
      stopped_at timestamptz,
      claimed    integer NOT NULL DEFAULT 0,
      settled    integer NOT NULL DEFAULT 0
    );
    CREATE INDEX workers_campaign ON ${s}.workers (campaign, heartbeat);
    -- Token buckets shared by workers: refilled by time, taken from in batches.
    CREATE TABLE ${s}.rate_buckets (
      key        text PRIMARY KEY,
      rate       double precision NOT NULL,
      burst      double precision NOT NULL,
      tokens     double precision NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
  `,
  // The console's audit log (pg-audit.ts): who did what to a campaign, and which plan they saw.
  // No reference to campaigns: the console audits a campaign before any run creates its row, and
  // its sign-ins belong to none (campaign ''). A purge keeps these rows: they record who approved money.
  (s) => `
    CREATE TABLE ${s}.audit (
      seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      campaign    text NOT NULL,
      at          timestamptz NOT NULL,
      who         text NOT NULL,
      action      text NOT NULL,
      detail      text,
      plan_digest text
    );
    CREATE INDEX audit_campaign ON ${s}.audit (campaign, seq);
  `,
  // The rows → campaigns foreign key checked each inserted row with a query of its own (a trigger):
  // some 40 % of the server's CPU in a plan's load, a million checks of one campaign row. Rows are
  // inserted only by a run's load and its `sent` records, each in a transaction that first reads that
  // campaign row under FOR SHARE (the generation fence: no row, no write), the lock the key's check
  // takes; updates never change a row's campaign, and no campaign row is ever deleted. What the key
  // still refused (a hand-written INSERT naming no campaign) is not worth a load's time.
  (s) => `ALTER TABLE ${s}.rows DROP CONSTRAINT IF EXISTS rows_campaign_fkey;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Whether the schema has been created at all: readers (plan, status, export) create nothing. */
export async function schemaExists(connections: PgConnections): Promise<boolean> {
  const s = quoteIdent(connections.state.schema);
  return connections.withClient(async (client) => {
    const { rows } = await client.query<{ table: string | null }>("SELECT to_regclass($1)::text AS table", [`${s}.schema_version`]);
    return rows[0]?.table !== null;
  });
}

export async function migrate(connections: PgConnections): Promise<void> {
  const { schema, display } = connections.state;
  const s = quoteIdent(schema);
  await connections.transaction(async (client: pg.PoolClient) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`points-code-batch migrate ${schema}`]);
    // A migrated schema needs no DDL, so a role without CREATE (see the README's GRANTs) can run.
    const { rows: found } = await client.query<{ table: string | null }>("SELECT to_regclass($1)::text AS table", [`${s}.schema_version`]);
    if (found[0]?.table === null) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await client.query(`CREATE TABLE ${s}.schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    }
    const { rows } = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${s}.schema_version`);
    const current = rows[0]?.version ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new CheckpointError(
        "STATE_SCHEMA_NEWER",
        `${display}: schema ${schema} is at version ${current}, newer than this release understands (${SCHEMA_VERSION}): upgrade points-code-batch`,
      );
    }
    for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
      const migration = MIGRATIONS[version - 1];
      if (migration) await client.query(migration(s));
      await client.query(`INSERT INTO ${s}.schema_version (version) VALUES ($1)`, [version]);
    }
  });
}
