import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { BatchError } from "../errors.js";
import type { ResolvedInputSpec } from "../job/input-rows.js";
import type { InputSnapshot } from "../job/input-snapshot.js";
import { finishedRun, lastCompleteRecord, type FinishedRun, type RunFingerprint } from "../job/finished-run.js";
import type { CompleteRecord } from "./records.js";
import { JournalStore } from "./journal-store.js";
import { acquireLock } from "./lock.js";
import { openPgBackend } from "./pg/pg-backend.js";
import { isPostgresState } from "./pg/pg-url.js";
import type { CheckpointStore } from "./store.js";

/**
 * Where a run keeps its state, chosen by the kind of --state: a journal file (the default), or a
 * postgresql:// URL. The job asks this for its lock, its store and a place for its input snapshot,
 * and never needs to know which it got.
 */
export interface StateBackend {
  /** For messages, logs and the result's owner marker: never holds a password. */
  readonly location: string;
  /** The path snapshots are named after: the checkpoint itself, or a private temp folder. */
  readonly snapshotBase: string;
  /** One live run per checkpoint (or campaign); `lost` aborts if the lock is lost mid-run. */
  lock(): Promise<{ release(): Promise<void>; lost?: AbortSignal }>;
  /** The store of a campaign some run got past planning with, or undefined. */
  openExisting(campaign: string): Promise<CheckpointStore | undefined>;
  /** Opens the store for writing, creating it; only once the plan is accepted. */
  create(campaign: string): Promise<CheckpointStore>;
  /** Keeps the plan's input where another host can find it (the file store: beside the checkpoint). */
  keepPlanInput(store: CheckpointStore, snapshot: InputSnapshot, input: ResolvedInputSpec): Promise<void>;
  /** What a rerun can skip (see finished-run.ts). */
  finishedRun(fingerprint: RunFingerprint, out: string, retryFailed: boolean): Promise<FinishedRun | undefined>;
  /** The last run's `complete` record when nothing happened since, for a result this run may continue (see appended-result.ts); the file store's alone. */
  lastComplete?(): Promise<CompleteRecord | undefined>;
  /**
   * Marks the rows the recorded plan sends as work any `work` process may claim (PostgreSQL); the
   * file store has no workers. Returns how many rows were marked.
   */
  markPlannedSends?(store: CheckpointStore, input: ResolvedInputSpec, retryFailed: boolean, cutoffs: Record<string, number>): Promise<number>;
  close(): Promise<void>;
}

export async function openStateBackend(state: string, campaign: string, env: NodeJS.ProcessEnv = process.env): Promise<StateBackend> {
  return isPostgresState(state) ? openPgBackend(state, campaign, env) : fileBackend(state);
}

function fileBackend(state: string): StateBackend {
  return {
    location: state,
    snapshotBase: state,
    async lock() {
      await mkdir(dirname(state), { recursive: true });
      return acquireLock(`${state}.lock`);
    },
    async openExisting(campaign) {
      try {
        return await JournalStore.open(state, campaign, { mustExist: true });
      } catch (error) {
        if (error instanceof BatchError && error.code === "CHECKPOINT_NOT_FOUND") return undefined;
        throw error;
      }
    },
    create: (campaign) => JournalStore.open(state, campaign),
    keepPlanInput: async () => undefined,
    finishedRun: (fingerprint, out, retryFailed) => finishedRun(state, fingerprint, out, retryFailed),
    lastComplete: () => lastCompleteRecord(state),
    close: async () => undefined,
  };
}
