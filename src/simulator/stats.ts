import { emptyFaultCounts } from "./faults.js";
import type { FaultKind, SimulatorStats } from "./types.js";

/** Counters a test reads to check how the client behaved (retries, concurrency, faults seen). */
export class StatsRecorder {
  private requests = 0;
  private createRequests = 0;
  private readonly faults = emptyFaultCounts();
  private readonly rejected: Record<string, number> = {};
  private concurrentCreates = 0;
  private maxConcurrentCreates = 0;
  private throttledByBucket = 0;

  request(): void {
    this.requests++;
  }

  /** Counts a create request as in flight until `leave` is called; returns the count including it. */
  enterCreate(): number {
    this.createRequests++;
    this.concurrentCreates++;
    this.maxConcurrentCreates = Math.max(this.maxConcurrentCreates, this.concurrentCreates);
    return this.concurrentCreates;
  }

  leaveCreate(): void {
    this.concurrentCreates--;
  }

  fault(kind: FaultKind): void {
    this.faults[kind]++;
  }

  /** A create refused by the rate limit (its 429 is also counted by rejectedWith). */
  throttled(): void {
    this.throttledByBucket++;
  }

  rejectedWith(code: string): void {
    this.rejected[code] = (this.rejected[code] ?? 0) + 1;
  }

  snapshot(): SimulatorStats {
    return {
      requests: this.requests,
      createRequests: this.createRequests,
      faultsInjected: { ...this.faults },
      maxConcurrentCreates: this.maxConcurrentCreates,
      concurrentCreates: this.concurrentCreates,
      rejectedByCode: { ...this.rejected },
      throttledByBucket: this.throttledByBucket,
    };
  }
}
