import { rm } from "node:fs/promises";
import { join } from "node:path";
import { BatchError } from "../../errors.js";
import { readWholeInput } from "../../job/input-reader-thread.js";
import type { ResolvedInputSpec } from "../../job/input-rows.js";
import { countsIfUnchanged } from "../../job/finished-run.js";
import type { CompleteRecord } from "../records.js";
import type { StateBackend } from "../open-store.js";
import { migrate, quoteIdent } from "./migrations.js";
import type { PlannedRow } from "./bulk-load.js";
import { cellsField } from "./copy-text.js";
import { PgStore, pgLocation } from "./pg-store.js";
import { parsePgState } from "./pg-url.js";
import { PgConnections } from "./pool.js";
import { privateTempDir } from "./private-temp.js";
import { acquireRunLock, type RunLock } from "./run-lock.js";
import { markPlannedSends } from "../../worker/mark-todo.js";

/**
 * A run's state in PostgreSQL (see open-store.ts). The input snapshot the applier reads is a
 * private temp file (folder 0700, file 0600) that lives as long as the run; its bytes are kept in
 * the database, so export and another host need no input file.
 */
export async function openPgBackend(url: string, campaign: string, env: NodeJS.ProcessEnv): Promise<StateBackend> {
  const connections = new PgConnections(parsePgState(url, env));
  let dir: string | undefined;
  try {
    await migrate(connections);
    dir = await privateTempDir();
  } catch (error) {
    await connections.close();
    throw connections.wrap(error, "STATE_UNREACHABLE", "cannot open the state schema");
  }
  const tempDir = dir;
  const location = pgLocation(connections.state.display, campaign);
  let runLock: RunLock | undefined;
  const stores: PgStore[] = [];
  const track = (store: PgStore): PgStore => {
    stores.push(store);
    if (runLock?.lost.aborted) store.fail(runLock.lost.reason as Error);
    return store;
  };
  return {
    location,
    snapshotBase: join(tempDir, "checkpoint"),
    async lock() {
      runLock = await acquireRunLock(connections, campaign);
      const lock = runLock;
      lock.lost.addEventListener("abort", () => {
        for (const store of stores) store.fail(lock.lost.reason as Error);
      });
      return { release: () => lock.release(), lost: lock.lost };
    },
    async openExisting(name) {
      try {
        return track(await PgStore.open(connections, name, { generation: runLock?.generation }));
      } catch (error) {
        if (error instanceof BatchError && error.code === "CHECKPOINT_NOT_FOUND") return undefined;
        throw error;
      }
    },
    create: async (name) => track(await PgStore.open(connections, name, { generation: runLock?.generation, create: true })),
    async keepPlanInput(store, snapshot, input) {
      if (!(store instanceof PgStore)) return;
      await store.recordPlanInput(snapshot.digest, snapshot.path, plannedRows(input));
    },
    async markPlannedSends(store, input, retryFailed, cutoffs) {
      if (runLock === undefined) throw new Error("marking a plan's rows needs the campaign's lock");
      return markPlannedSends({ connections, campaign, generation: runLock.generation }, store, input, retryFailed, cutoffs);
    },
    async finishedRun(fingerprint, out, retryFailed) {
      const s = quoteIdent(connections.state.schema);
      const last = await connections.withClient(async (client) => {
        const { rows } = await client.query<{ last_complete: CompleteRecord | null }>(`SELECT last_complete FROM ${s}.campaigns WHERE campaign = $1`, [
          campaign,
        ]);
        return rows[0]?.last_complete ?? undefined;
      });
      // Everything or nothing: a result file that is not as written takes the full path here.
      const counts = await countsIfUnchanged(last, fingerprint, out, retryFailed);
      return counts && { counts };
    },
    async close() {
      await rm(tempDir, { recursive: true, force: true });
      await connections.close();
    },
  };
}

/** The input's valid rows, a batch at a time as read (no await per row), with their cells as copy-text.ts writes them. */
async function* plannedRows(input: ResolvedInputSpec): AsyncGenerator<PlannedRow[]> {
  let cells = cellsField([]);
  for await (const items of readWholeInput(input)) {
    const batch: PlannedRow[] = [];
    for (const item of items) {
      if (item.kind === "header") cells = cellsField(item.header);
      if (item.kind !== "row") continue;
      const { prepared, fields } = item;
      batch.push({ rid: prepared.request.requestId, row: prepared.row, recipient: prepared.recipientId, cells: cells(fields) });
    }
    if (batch.length > 0) yield batch;
  }
}
