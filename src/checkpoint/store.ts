import type { CompleteRecord, OutcomeRecord, RowState, RunRecord } from "./records.js";

/**
 * The checkpoint as the job sees it. The file journal implements it today; a shared database store
 * (for runs on ephemeral hosts) can implement the same calls.
 */
export interface CheckpointStore {
  /** Where the checkpoint lives, for messages. */
  readonly location: string;
  readonly campaign: string;
  get(requestId: string): RowState | undefined;
  entries(): IterableIterator<[string, RowState]>;
  /** Resolves once the record is durable. */
  recordRun(run: Omit<RunRecord, "t" | "at">): Promise<void>;
  /** The latest run's input settings, if any run got past planning. */
  lastRun(): RunRecord | undefined;
  /** Resolves once the record is durable: the run wrote its result; see CompleteRecord. */
  recordComplete(complete: Omit<CompleteRecord, "t" | "at">): Promise<void>;
  /** Resolves once the record is durable. */
  recordSent(requestId: string, fingerprint: string, row: number): Promise<void>;
  /** Resolves once the record is durable. */
  recordOutcome(record: Omit<OutcomeRecord, "t" | "at">): Promise<void>;
  /** The latest outcome of a requestId, read back from durable storage. */
  readOutcome(state: RowState): Promise<OutcomeRecord | undefined>;
  close(): Promise<void>;
}
