import { join } from "node:path";
import { PgReader } from "../../../src/checkpoint/pg/pg-reader.js";
import { quoteIdent } from "../../../src/checkpoint/pg/migrations.js";
import { isPostgresState, parsePgState } from "../../../src/checkpoint/pg/pg-url.js";
import { JournalStore } from "../../../src/checkpoint/journal-store.js";
import { readLockStatus } from "../../../src/checkpoint/lock-status.js";
import type { CheckpointStore } from "../../../src/checkpoint/store.js";
import { freshSchema, pgSuites, queryAt, stateUrl } from "../../support/pg.js";

/**
 * The proofs run against both stores: the journal file (the default) and PostgreSQL (a schema of
 * its own per campaign, see support/pg.ts). Without a server the PostgreSQL variants are skipped
 * with one line saying why; with CI=true they are mandatory.
 */

export type StoreKind = "file" | "postgresql";
export const STORE_KINDS: readonly StoreKind[] = ["file", "postgresql"];

const { skip } = await pgSuites();

/** The `skip` option of a test of `kind`: the one line saying why the PostgreSQL variant did not run. */
export function skipFor(kind: StoreKind): string | false {
  return kind === "postgresql" ? skip : false;
}

/** A fresh --state of `kind`: a checkpoint file in `dir`, or a URL naming a fresh schema. */
export function stateFor(kind: StoreKind, dir: string, name = "recipients.checkpoint"): string {
  return kind === "file" ? join(dir, name) : stateUrl(freshSchema());
}

/** A campaign's state read through the store interface, whichever store holds it. */
export interface StateView {
  /** Undefined when no run of the campaign got past planning. */
  store: CheckpointStore | undefined;
  /** Local files that hold codes (the journal); none for PostgreSQL. */
  files: string[];
  /** Whether a run still holds the campaign's lock, and what to call that lock in a message. */
  lockHeld(): Promise<boolean>;
  lockName: string;
  /** Every requestId the state holds a record of (rows loaded by a plan but never sent are not records). */
  requestIds(): Promise<string[]>;
  close(): Promise<void>;
}

export async function openStateView(state: string, campaign: string): Promise<StateView> {
  if (isPostgresState(state)) {
    const reader = await PgReader.open(state, campaign, process.env);
    return {
      store: reader.store,
      files: [],
      lockHeld: async () => (await reader.lockStatus()).state !== "free",
      lockName: `the run lock of ${reader.location}`,
      requestIds: async () => {
        // The state's own server and database: a proof may run on a cluster of its own.
        const { schema, connectionString } = parsePgState(state, process.env);
        const rows = await queryAt<{ rid: string }>(
          connectionString,
          `SELECT request_id::text AS rid FROM ${quoteIdent(schema)}.rows WHERE campaign = $1 AND status <> 'planned' ORDER BY seq`,
          [campaign],
        );
        return rows.map((r) => r.rid);
      },
      close: () => reader.close(),
    };
  }
  const store = await JournalStore.open(state, campaign, { readOnly: true });
  return {
    store,
    files: [state],
    lockHeld: async () => (await readLockStatus(`${state}.lock`)).state !== "free",
    lockName: `${state.split("/").pop()}.lock`,
    requestIds: async () => [...store.entries()].map(([rid]) => rid),
    close: () => store.close(),
  };
}

/** A proof's figures name: the file store's as before, PostgreSQL's marked, so the report can tell them apart. */
export function figureName(name: string, kind: StoreKind): string {
  return kind === "file" ? name : `${name}@postgresql`;
}
