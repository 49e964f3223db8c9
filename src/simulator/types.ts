import type { RateLimit } from "./token-bucket.js";

/** A server-side request limit (token bucket); see token-bucket.ts. */
export type SimulatorRateLimit = RateLimit;

/**
 * Public shapes of the local PayPay Points Code simulator. The CLI, the job-runner tests and the
 * standalone `simulator` command all code against these, so they change only deliberately.
 */

export interface SimulatorGroup {
  /** Decimal int64: ids exceed 2^53, so they never pass through a JS number. */
  groupId: string;
  /** Remaining budget in JPY. */
  budget: number;
  maxPeriodDays: number;
  minAmount: number;
}

export interface SimulatorCredentials {
  apiKey: string;
  apiSecret: string;
  merchantId: string;
}

export type FaultKind =
  | "rateLimit"
  | "maintenance"
  | "error500BeforeCommit"
  | "error500AfterCommit"
  | "resetBeforeCommit"
  | "resetAfterCommit"
  | "hangAfterCommit"
  | "truncateAfterCommit";

/** Probability 0..1 per fault kind; a missing kind never fires. */
export type FaultRates = Partial<Record<FaultKind, number>>;

export interface SimulatorOptions {
  credentials?: SimulatorCredentials;
  groups?: SimulatorGroup[];
  createPath?: string;
  budgetPath?: string;
  /** Every create and budget request waits latencyMs + uniform[0, jitterMs). */
  latencyMs?: number;
  jitterMs?: number;
  /** Applied to create requests only. */
  faults?: FaultRates;
  /** Seeds the fault draws, the jitter and the generated codes. */
  seed?: number;
  /** Create requests beyond this many at once are answered 429 RATE_LIMIT. */
  maxInFlight?: number;
  /**
   * Create requests beyond this rate (a token bucket: ratePerSecond sustained, burst back to back)
   * are answered 429 RATE_LIMIT, with Retry-After when retryAfterSeconds is set, before anything is
   * committed. Decided on arrival, answered after the latency, as a gateway in front would.
   */
  rateLimit?: SimulatorRateLimit;
  clockSkewSeconds?: number;
  /**
   * Seconds this server's clock runs ahead of the host's (negative: behind). It moves the Date
   * header and the signature check together, as a host whose clock is off would see PayPay.
   */
  clockOffsetSeconds?: number;
  /**
   * How far the server departs from the contract's assumptions, so `verify` and `issue` can be
   * tested against a PayPay that disagrees with them. The default is the contract.
   */
  contract?: SimulatorContract;
  /** Millisecond clock, injectable so tests can move the server's time. */
  now?: () => number;
}

/** What the contract marks **assumed**, each one switchable to another plausible answer. */
export interface SimulatorContract {
  /** The field of a success's data carrying the code [giftCardCode]. */
  codeField?: string;
  /**
   * The same requestId with the same body again: "original" answers the original success (no
   * second charge); "refused" answers 400 INVALID_REQUEST_PARAMS (still no second charge).
   */
  replay?: ReplayAnswer;
  /**
   * The same requestId with another body: "refused" answers 400 INVALID_REQUEST_PARAMS; "original"
   * answers the original success as if the body matched; "reissued" issues (and charges) a new code.
   */
  changedBody?: ChangedBodyAnswer;
}

export const REPLAY_ANSWERS = ["original", "refused"] as const;
export type ReplayAnswer = (typeof REPLAY_ANSWERS)[number];
export const CHANGED_BODY_ANSWERS = ["refused", "original", "reissued"] as const;
export type ChangedBodyAnswer = (typeof CHANGED_BODY_ANSWERS)[number];

export interface LedgerEntry {
  requestId: string;
  code: string;
  groupId: string;
  giftCardValue: number;
  giftCardName: string;
  startAt: string;
  /** As stored: a same-day request ends the next day. */
  endAt: string;
  /** Always 1: a replayed request is never charged again (a "reissued" changed body is a second entry). */
  charges: number;
  createdAt: string;
}

export interface SimulatorStats {
  requests: number;
  createRequests: number;
  faultsInjected: Record<FaultKind, number>;
  maxConcurrentCreates: number;
  /** Create requests held open now (arrived, not yet closed): tests wait on it for a slot to free. */
  concurrentCreates: number;
  rejectedByCode: Record<string, number>;
  /** Create requests the rate limit refused (also counted in rejectedByCode.RATE_LIMIT). */
  throttledByBucket: number;
}

export interface Simulator {
  /** Resolves to the base URL, e.g. "http://127.0.0.1:43123". */
  start(port?: number, host?: string): Promise<string>;
  /** Also destroys sockets held open by hangAfterCommit. */
  close(): Promise<void>;
  readonly baseUrl: string;
  ledger(): LedgerEntry[];
  callsByRequestId(): Map<string, number>;
  budgets(): SimulatorGroup[];
  setBudget(groupId: string, budget: number): void;
  /** Another issuer spends from a group behind the tool's back, so reconciliation has something to find. */
  spendOnTheSide(groupId: string, amount: number): void;
  stats(): SimulatorStats;
  setFaults(faults: FaultRates): void;
  /** Sets, changes (keeping the tokens already earned) or, with undefined, removes the rate limit. */
  setRateLimit(limit: SimulatorRateLimit | undefined): void;
}
