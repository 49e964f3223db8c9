/**
 * Retry timing, pure. Exponential backoff with full jitter (AWS's "full jitter": a uniform draw in
 * [0, min(cap, base * 2^attempt)]) spreads retries of many rows apart; a server's `Retry-After`
 * overrides it, since the server knows when it will be ready.
 */

export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, capMs: 30_000 };

/**
 * Delay before retry number `retry` (1 for the first retry). `random` is a draw in [0, 1).
 * `retryAfterMs`, when the server sent one, is honoured as a floor, capped at `capMs` × 4 so a
 * hostile or broken header cannot park the run for hours.
 */
export function backoffDelay(retry: number, random: number, policy: BackoffPolicy = DEFAULT_BACKOFF, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, retry - 1));
  const jittered = Math.floor(random * ceiling);
  if (retryAfterMs === undefined) return jittered;
  return Math.min(Math.max(retryAfterMs, jittered), policy.capMs * 4);
}
