import type { RateSample } from "./rate-controller.js";

/**
 * What paces request starts: `--rate N` (a fixed Pacer) or `--rate auto` (the RateController).
 * `acquire()` returns 0 when a request may start now (and counts it), or how long to wait before
 * asking again; nothing is booked ahead, so a change of rate reaches every waiting caller at once.
 */
export interface RequestGate {
  acquire(): number;
  onResult?(sample: RateSample): void;
}

/** Spaces request starts at most `rate` per second (`--rate N`). */
export class Pacer implements RequestGate {
  private nextStart = 0;
  private readonly intervalMs: number;

  constructor(
    rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.intervalMs = 1000 / rate;
  }

  acquire(): number {
    const now = this.now();
    if (now < this.nextStart) return this.nextStart - now;
    // Idle time is not saved up as a burst: the next start is one interval after this one.
    this.nextStart = Math.max(now, this.nextStart) + this.intervalMs;
    return 0;
  }
}
