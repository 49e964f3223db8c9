import type { Logger } from "pino";
import type { RetryableOutcome } from "../paypay/outcome.js";

/**
 * Routine retryable answers (429, 503, timeouts) come by the hundred against a busy gateway; one
 * log block each buries everything else. They are counted here and logged as one line per window
 * ("last 5 s: 37 retries: 429 ×30, 503 ×7"); each one still goes to the debug level with its
 * requestId. Anything else retryable (500, a reset connection, an unreadable 200: the code may
 * have been issued) is not routine and the caller logs it on its own.
 */

export function isRoutineRetry(outcome: RetryableOutcome): boolean {
  return outcome.httpStatus === 429 || outcome.httpStatus === 503 || outcome.errorCode === "TIMEOUT";
}

export class RetryDigest {
  private counts = new Map<string, number>();
  private windowStarted = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly logger: Logger,
    windowMs = 5_000,
  ) {
    this.timer = setInterval(() => this.flush(), windowMs);
    this.timer.unref();
  }

  add(outcome: RetryableOutcome): void {
    const key = outcome.httpStatus === 429 || outcome.httpStatus === 503 ? String(outcome.httpStatus) : outcome.errorCode.toLowerCase();
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Logs the window's count, if any, and starts a new window. */
  flush(): void {
    const seconds = Math.max(1, Math.round((performance.now() - this.windowStarted) / 1000));
    this.windowStarted = performance.now();
    if (this.counts.size === 0) return;
    const total = [...this.counts.values()].reduce((a, b) => a + b, 0);
    const parts = [...this.counts].sort((a, b) => b[1] - a[1]).map(([key, count]) => `${key} ×${count}`);
    this.counts = new Map();
    this.logger.info({ retries: total }, `last ${seconds} s: ${total} retr${total === 1 ? "y" : "ies"}: ${parts.join(", ")}`);
  }

  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
