/**
 * Spaces request starts at most `rate` per second (`--rate`). Each caller reserves the next free
 * slot, so concurrent callers queue in order without a timer per request beyond their own wait.
 */
export class Pacer {
  private nextSlot = 0;
  private readonly intervalMs: number;

  constructor(
    rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.intervalMs = 1000 / rate;
  }

  /** Milliseconds the caller must wait before starting its request; reserves that slot. */
  reserve(): number {
    const now = this.now();
    const slot = Math.max(now, this.nextSlot);
    this.nextSlot = slot + this.intervalMs;
    return slot - now;
  }
}
