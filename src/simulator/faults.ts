import type { Random } from "./prng.js";
import type { FaultKind, FaultRates } from "./types.js";

/** Faults decided once the request has arrived, before anything is committed. */
export const BEFORE_COMMIT_FAULTS = ["rateLimit", "maintenance", "error500BeforeCommit", "resetBeforeCommit"] as const satisfies readonly FaultKind[];
/** Faults that lose the answer of a request whose code is already committed. */
export const AFTER_COMMIT_FAULTS = [
  "error500AfterCommit",
  "resetAfterCommit",
  "hangAfterCommit",
  "truncateAfterCommit",
] as const satisfies readonly FaultKind[];
export const FAULT_KINDS: readonly FaultKind[] = [...BEFORE_COMMIT_FAULTS, ...AFTER_COMMIT_FAULTS];

export type BeforeCommitFault = (typeof BEFORE_COMMIT_FAULTS)[number];
export type AfterCommitFault = (typeof AFTER_COMMIT_FAULTS)[number];

export function isFaultKind(name: string): name is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(name);
}

export function emptyFaultCounts(): Record<FaultKind, number> {
  return Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
}

/** Throws on an unknown kind or a probability outside 0..1, naming the offender. */
export function validateFaultRates(faults: FaultRates): void {
  for (const [kind, rate] of Object.entries(faults)) {
    if (!isFaultKind(kind)) throw new Error(`Unknown fault kind "${kind}"; expected one of ${FAULT_KINDS.join(", ")}`);
    if (typeof rate !== "number" || !Number.isFinite(rate) || rate < 0 || rate > 1) {
      throw new Error(`Fault probability for ${kind} must be a number between 0 and 1, got ${String(rate)}`);
    }
  }
}

/**
 * Draws faults from one seeded stream. Every kind of a phase is drawn on every request, whether it
 * is enabled or not, so the stream advances identically whatever the rates; the first kind that
 * fires (in declaration order) is the one injected.
 */
export class FaultPlan {
  private rates: FaultRates = {};

  constructor(
    private readonly random: Random,
    rates: FaultRates = {},
  ) {
    this.set(rates);
  }

  set(rates: FaultRates): void {
    validateFaultRates(rates);
    this.rates = { ...rates };
  }

  drawBeforeCommit(): BeforeCommitFault | undefined {
    return this.draw(BEFORE_COMMIT_FAULTS);
  }

  drawAfterCommit(): AfterCommitFault | undefined {
    return this.draw(AFTER_COMMIT_FAULTS);
  }

  private draw<K extends FaultKind>(kinds: readonly K[]): K | undefined {
    let fired: K | undefined;
    for (const kind of kinds) {
      const roll = this.random();
      if (fired === undefined && roll < (this.rates[kind] ?? 0)) fired = kind;
    }
    return fired;
  }
}
