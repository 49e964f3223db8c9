/**
 * A server-side request limit, as an API gateway enforces one: a bucket of `burst` tokens refilled
 * continuously at `ratePerSecond`; a request that finds no whole token is refused. Pure: the clock
 * is injected, so tests move time by hand.
 */

export interface RateLimit {
  /** Sustained requests per second the bucket admits. */
  ratePerSecond: number;
  /** Bucket size: requests admitted back to back after a quiet spell. Default max(1, ratePerSecond). */
  burst?: number;
  /** Sent as `Retry-After` (delta-seconds) on a refusal; no header when absent. */
  retryAfterSeconds?: number;
}

export type ResolvedRateLimit = Required<Omit<RateLimit, "retryAfterSeconds">> & Pick<RateLimit, "retryAfterSeconds">;

/** Applies the burst default and refuses values the bucket could not honour, naming the setting. */
export function resolveRateLimit(limit: RateLimit, where = "rateLimit"): ResolvedRateLimit {
  if (typeof limit !== "object" || limit === null) throw new Error(`${where} must be an object`);
  const { ratePerSecond, retryAfterSeconds } = limit;
  if (typeof ratePerSecond !== "number" || !Number.isFinite(ratePerSecond) || ratePerSecond <= 0) {
    throw new Error(`${where}.ratePerSecond must be a positive number, got ${String(ratePerSecond)}`);
  }
  const burst = limit.burst ?? Math.max(1, ratePerSecond);
  if (typeof burst !== "number" || !Number.isFinite(burst) || burst < 1) {
    throw new Error(`${where}.burst must be a number of at least 1, got ${String(burst)}`);
  }
  if (retryAfterSeconds !== undefined && (!Number.isSafeInteger(retryAfterSeconds) || retryAfterSeconds < 0)) {
    throw new Error(`${where}.retryAfterSeconds must be a non-negative integer, got ${String(retryAfterSeconds)}`);
  }
  return retryAfterSeconds === undefined ? { ratePerSecond, burst } : { ratePerSecond, burst, retryAfterSeconds };
}

export class TokenBucket {
  private config: ResolvedRateLimit;
  private tokens: number;
  private last: number;

  /** Starts full. */
  constructor(
    limit: RateLimit,
    private readonly now: () => number,
  ) {
    this.config = resolveRateLimit(limit);
    this.tokens = this.config.burst;
    this.last = now();
  }

  get limit(): ResolvedRateLimit {
    return { ...this.config };
  }

  /** Tokens in the bucket now (fractional while refilling). */
  available(): number {
    this.refill();
    return this.tokens;
  }

  /** Takes one token: true when the request is admitted, false when it must be refused. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Changes the limit from now on. Tokens already earned are kept (up to the new burst), so a
   * change neither hands out a fresh burst nor confiscates one.
   */
  set(limit: RateLimit): void {
    const next = resolveRateLimit(limit);
    this.refill();
    this.config = next;
    this.tokens = Math.min(this.tokens, next.burst);
  }

  private refill(): void {
    const now = this.now();
    // A clock that steps back (wall-clock adjustments) earns nothing rather than a negative amount.
    const elapsed = Math.max(0, now - this.last);
    this.last = Math.max(this.last, now);
    this.tokens = Math.min(this.config.burst, this.tokens + (elapsed * this.config.ratePerSecond) / 1000);
  }
}
