import type { Target } from "../paypay/target.js";
import type { CompleteRecord, OutcomeRecord, PlanRecord, RowState, RunRecord } from "./records.js";

/**
 * The checkpoint as the job sees it. The file journal implements it; a shared database store can
 * implement the same calls. The protocol: a plan is durable before the first request, `sent` is
 * durable before a row's first request, an outcome is durable before the row counts.
 */
export interface CheckpointStore {
  /** The store keeps each row's exact body (recordSent's `body`); the journal keeps its fingerprint only. */
  readonly keepsBodies?: boolean;
  /** Where the checkpoint lives, for messages. */
  readonly location: string;
  readonly campaign: string;
  /** The PayPay this checkpoint is bound to; undefined for a checkpoint no run has bound yet. */
  readonly target: Target | undefined;
  /**
   * The row's state. A store that keeps only a window of rows in memory (PostgreSQL) answers only for
   * the requestIds of its latest prefetch, and throws for any other: see rowsWithStates.
   */
  get(requestId: string): RowState | undefined;
  /**
   * A dense id (0, 1, 2, …) for each requestId the store holds in memory, -1 for any other: lets the
   * planner mark rows it has seen in a small array instead of a set of its own (see plan.ts).
   */
  rowId?(requestId: string): number;
  /**
   * Loads the states of the rows the caller is about to ask get() for; a store that holds every
   * row's state in memory (the file journal) has none. Callers go through rowsWithStates.
   */
  prefetch?(requestIds: readonly string[]): Promise<void>;
  /**
   * Binds an unbound checkpoint to its target, durably; refuses (throws) when bound to another. True
   * when it bound a checkpoint that already held rows: one written by a release before targets.
   */
  bindTarget(target: Target): Promise<boolean>;
  /** Resolves once the plan is durable. */
  recordPlan(plan: Omit<PlanRecord, "t" | "at">): Promise<void>;
  /** The latest plan (or, in a checkpoint from an older release, run record), if any run got that far. */
  lastPlan(): PlanRecord | RunRecord | undefined;
  /** Resolves once the record is durable: the run wrote its result; see CompleteRecord. */
  recordComplete(complete: Omit<CompleteRecord, "t" | "at">): Promise<void>;
  /** Resolves once the acknowledgement of an issued row's change is durable. */
  recordAccepted(requestId: string, fingerprint: string): Promise<void>;
  /** Resolves once the record is durable. `body`: the exact body, for a store that keeps it (PostgreSQL). */
  recordSent(requestId: string, fingerprint: string, row: number, body?: string): Promise<void>;
  /** Resolves once the record is durable. */
  recordOutcome(record: Omit<OutcomeRecord, "t" | "at">): Promise<void>;
  /**
   * False once a write for `requestId` found the row no longer this process's (a worker whose claim
   * was taken over): the row is not sent, or its outcome not counted. Undefined: the store fences
   * the whole run instead (the file lock, the run generation).
   */
  owns?(requestId: string): boolean;
  /** The latest outcome of a requestId, read back from durable storage. */
  readOutcome(state: RowState): Promise<OutcomeRecord | undefined>;
  /**
   * readOutcome for a batch of rows at once, in order (undefined in, undefined out): a store that can
   * answer many from one read does so without a promise per row. Callers go through outcomesOf.
   */
  readOutcomes?(states: readonly (RowState | undefined)[]): Promise<(OutcomeRecord | undefined)[]>;
  close(): Promise<void>;
}

/** The latest outcomes of a batch of rows, in order, with one call where the store allows it. */
export async function outcomesOf(store: CheckpointStore, states: readonly (RowState | undefined)[]): Promise<(OutcomeRecord | undefined)[]> {
  if (store.readOutcomes) return store.readOutcomes(states);
  const outcomes: (OutcomeRecord | undefined)[] = [];
  for (const state of states) outcomes.push(state ? await store.readOutcome(state) : undefined);
  return outcomes;
}
