import { RateController, type RateControllerOptions, type RateSample } from "../../src/job/rate-controller.js";
import { mulberry32 } from "../../src/simulator/prng.js";
import { TokenBucket } from "../../src/simulator/token-bucket.js";

/**
 * A deterministic discrete-event world for the rate controller: callers that always have work, a
 * token-bucket server whose limit can step, and a fake clock. The unit tests pin behaviour in it;
 * `scripts/tune-rate-controller.ts` sweeps seeds and change times through it.
 */

class EventQueue {
  private readonly heap: Array<{ at: number; seq: number; run: () => void }> = [];
  private seq = 0;
  now = 0;

  at(at: number, run: () => void): void {
    const h = this.heap;
    h.push({ at, seq: this.seq++, run });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  runUntilEmpty(): void {
    const h = this.heap;
    while (h.length > 0) {
      const top = h[0]!;
      const last = h.pop()!;
      if (h.length > 0) {
        h[0] = last;
        for (let i = 0; ; ) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < h.length && this.less(l, m)) m = l;
          if (r < h.length && this.less(r, m)) m = r;
          if (m === i) break;
          [h[i], h[m]] = [h[m]!, h[i]!];
          i = m;
        }
      }
      this.now = top.at;
      top.run();
    }
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }
}

export interface World {
  /** Rate limit steps: [from ms, requests/s]. */
  limits: Array<[number, number]>;
  durationMs: number;
  /** Bucket size for a rate; default one second's worth. */
  burst?: (rate: number) => number;
  retryAfterSeconds?: number;
  latencyMs?: number;
  jitterMs?: number;
  /** Callers competing for starts (the applier's concurrency). */
  workers?: number;
  seed?: number;
  options?: Partial<RateControllerOptions>;
  /** Controllers sharing the server (workers of one campaign), each with `workers` callers; default 1. */
  controllers?: number;
  /**
   * Which of them probe past their limit estimate: all, or (as workers do) only the one that has
   * had the fewest answers accepted, chosen anew every `heartbeatMs`.
   */
  probing?: "all" | "furthest-behind";
  heartbeatMs?: number;
}

export interface WorldRun {
  /** The first controller. */
  ctl: RateController;
  ctls: RateController[];
  okAt: number[];
  throttledAt: number[];
  /** [time, rate] every 100 ms. */
  rates: Array<[number, number]>;
}

/**
 * Callers that always have work: each asks `acquire()`, waits what it is told (plus up to 1.5 ms of
 * timer lateness), sends, and reports the answer, which a token bucket decides on arrival and which
 * comes back after the latency.
 */
export function runWorld(w: World): WorldRun {
  const q = new EventQueue();
  const now = (): number => q.now;
  const random = mulberry32(w.seed ?? 1);
  const burst = w.burst ?? ((r: number) => Math.max(1, r));
  const [first, ...steps] = w.limits;
  const bucket = new TokenBucket({ ratePerSecond: first![1], burst: burst(first![1]) }, now);
  for (const [at, rate] of steps) q.at(at, () => bucket.set({ ratePerSecond: rate, burst: burst(rate) }));
  const ctls = Array.from({ length: w.controllers ?? 1 }, () => new RateController({ now, ...w.options }));
  const run: WorldRun = { ctl: ctls[0]!, ctls, okAt: [], throttledAt: [], rates: [] };
  const latency = w.latencyMs ?? 20;
  if (w.probing === "furthest-behind") {
    for (let t = 0; t <= w.durationMs; t += w.heartbeatMs ?? 1000) {
      q.at(t, () => {
        const behind = ctls.reduce((a, b) => (b.stats.ok < a.stats.ok ? b : a));
        for (const ctl of ctls) ctl.setProbing(ctl === behind);
      });
    }
  }
  const callerOf = (gate: RateController): (() => void) => {
    const caller = (): void => {
      if (q.now >= w.durationMs) return;
      const wait = gate.acquire();
      if (wait > 0) {
        q.at(q.now + wait + random() * 1.5, caller);
        return;
      }
      const startedAt = q.now;
      const admitted = bucket.tryTake();
      q.at(q.now + latency + random() * (w.jitterMs ?? 0), () => {
        const sample: RateSample = admitted
          ? { kind: "ok", latencyMs: q.now - startedAt }
          : { kind: "throttled", latencyMs: q.now - startedAt, ...(w.retryAfterSeconds !== undefined ? { retryAfterMs: w.retryAfterSeconds * 1000 } : {}) };
        (admitted ? run.okAt : run.throttledAt).push(q.now);
        gate.onResult(sample);
        caller();
      });
    };
    return caller;
  };
  for (const ctl of ctls) {
    const caller = callerOf(ctl);
    for (let i = 0; i < (w.workers ?? 32); i++) q.at(0, caller);
  }
  for (let t = 0; t <= w.durationMs; t += 100) q.at(t, () => run.rates.push([q.now, ctls.reduce((sum, c) => sum + c.rate, 0)]));
  q.runUntilEmpty();
  return run;
}

export function window(run: WorldRun, fromMs: number, toMs: number): { okPerSecond: number; throttledShare: number; ok: number; throttled: number } {
  const ok = run.okAt.filter((t) => t >= fromMs && t < toMs).length;
  const throttled = run.throttledAt.filter((t) => t >= fromMs && t < toMs).length;
  return { okPerSecond: (ok * 1000) / (toMs - fromMs), throttledShare: throttled / Math.max(1, ok + throttled), ok, throttled };
}

/** First time from `fromMs` at which the ok rate over the trailing 2 s reached `share` × `limit`. */
export function followedAfter(run: WorldRun, fromMs: number, limit: number, share = 0.9): number {
  for (let t = fromMs + 2_000; t <= fromMs + 30_000; t += 250) {
    if (window(run, t - 2_000, t).okPerSecond >= share * limit) return t - fromMs;
  }
  return Number.POSITIVE_INFINITY;
}
