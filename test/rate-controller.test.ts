import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RATE_CONTROLLER_DEFAULTS, RateController, type RateControllerOptions, type RateSample } from "../src/job/rate-controller.js";
import { TokenBucket } from "../src/simulator/token-bucket.js";

/**
 * The rate controller's logic on a fake clock: no timers, no sleeping, nothing measured against the
 * wall clock. The last part drives it against a token-bucket server in a deterministic
 * discrete-event simulation; real figures come from `npm run bench`.
 */

function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void; set: (t: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms), set: (at) => void (t = at) };
}

function controller(clock: { now: () => number }, options: Partial<RateControllerOptions> = {}): RateController {
  return new RateController({ now: clock.now, ...options });
}

/** Acquires until granted, moving the fake clock by each wait; returns the total wait. */
function acquireNow(ctl: RateController, clock: ReturnType<typeof fakeClock>): number {
  let waited = 0;
  for (let wait = ctl.acquire(); wait > 0; wait = ctl.acquire()) {
    assert.ok(wait <= RATE_CONTROLLER_DEFAULTS.maxPollMs, `a wait is never longer than maxPollMs (${wait})`);
    clock.advance(wait);
    waited += wait;
  }
  return waited;
}

/** One exchange: acquire (waiting as told), then the answer after `latencyMs`. */
function exchange(ctl: RateController, clock: ReturnType<typeof fakeClock>, kind: RateSample["kind"], latencyMs = 20, retryAfterMs?: number): void {
  acquireNow(ctl, clock);
  clock.advance(latencyMs);
  ctl.onResult({ kind, latencyMs, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
}

/** Past slow start: one refusal, then enough ok answers to close that episode. */
function pastStartup(ctl: RateController, clock: ReturnType<typeof fakeClock>): void {
  exchange(ctl, clock, "throttled");
  for (let i = 0; i < 10; i++) exchange(ctl, clock, "ok");
  assert.equal(ctl.phase, "recover");
}

// ---- a deterministic discrete-event world ---------------------------------------------------------

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

/** xorshift32: the same draws on every run. */
function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

interface World {
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
}

interface WorldRun {
  ctl: RateController;
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
function runWorld(w: World): WorldRun {
  const q = new EventQueue();
  const now = (): number => q.now;
  const random = seeded(w.seed ?? 1);
  const burst = w.burst ?? ((r: number) => Math.max(1, r));
  const [first, ...steps] = w.limits;
  const bucket = new TokenBucket({ ratePerSecond: first![1], burst: burst(first![1]) }, now);
  for (const [at, rate] of steps) q.at(at, () => bucket.set({ ratePerSecond: rate, burst: burst(rate) }));
  const ctl = new RateController({ now, ...w.options });
  const run: WorldRun = { ctl, okAt: [], throttledAt: [], rates: [] };
  const latency = w.latencyMs ?? 20;
  const caller = (): void => {
    if (q.now >= w.durationMs) return;
    const wait = ctl.acquire();
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
      ctl.onResult(sample);
      caller();
    });
  };
  for (let i = 0; i < (w.workers ?? 32); i++) q.at(0, caller);
  for (let t = 0; t <= w.durationMs; t += 100) q.at(t, () => run.rates.push([q.now, ctl.rate]));
  q.runUntilEmpty();
  return run;
}

function window(run: WorldRun, fromMs: number, toMs: number): { okPerSecond: number; throttledShare: number; ok: number; throttled: number } {
  const ok = run.okAt.filter((t) => t >= fromMs && t < toMs).length;
  const throttled = run.throttledAt.filter((t) => t >= fromMs && t < toMs).length;
  return { okPerSecond: (ok * 1000) / (toMs - fromMs), throttledShare: throttled / Math.max(1, ok + throttled), ok, throttled };
}

/** First time from `fromMs` at which the ok rate over the trailing 2 s reached `share` × `limit`. */
function followedAfter(run: WorldRun, fromMs: number, limit: number, share = 0.9): number {
  for (let t = fromMs + 2_000; t <= fromMs + 30_000; t += 250) {
    if (window(run, t - 2_000, t).okPerSecond >= share * limit) return t - fromMs;
  }
  return Number.POSITIVE_INFINITY;
}

// ---- the logic ------------------------------------------------------------------------------------

describe("rate controller: pacing", () => {
  test("refuses options it could not honour", () => {
    const clock = fakeClock();
    assert.throws(() => controller(clock, { initialRate: 0 }), /initialRate must be a positive number/);
    assert.throws(() => controller(clock, { minRate: 5, maxRate: 2 }), /minRate \(5\) must not exceed maxRate \(2\)/);
    assert.throws(() => controller(clock, { decreaseFactor: 1 }), /decreaseFactor must be below 1/);
    assert.throws(() => controller(clock, { latencyToleranceRatio: 1 }), /latencyToleranceRatio must exceed 1/);
    assert.throws(() => controller(clock, { maxRate: Number.NaN }), /maxRate must be a positive number/);
    assert.doesNotThrow(() => controller(clock, { maxRate: Number.POSITIVE_INFINITY }));
  });

  test("starts gently: paces starts at the initial rate, and a wait never exceeds maxPollMs", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 4 });
    assert.equal(ctl.rate, 4);
    assert.equal(ctl.phase, "startup");
    const startTimes: number[] = [];
    const begin = clock.now();
    while (clock.now() - begin < 2_000) {
      acquireNow(ctl, clock);
      startTimes.push(clock.now() - begin);
    }
    // Without answers the rate stays put: 4 starts a second on a 250 ms schedule. A caller may go
    // up to 2 ms early (timer lateness allowance); the schedule itself does not drift.
    assert.deepEqual(startTimes.slice(0, 8), [0, 248, 498, 748, 998, 1248, 1498, 1748]);
    assert.equal(ctl.rate, 4);
    assert.equal(ctl.stats.starts, startTimes.length);
  });

  test("a late caller keeps the schedule within a small tolerance, but gets no burst after a quiet spell", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 10 });
    assert.equal(ctl.acquire(), 0);
    clock.advance(101); // 1 ms late for the 100 ms slot
    assert.equal(ctl.acquire(), 0);
    clock.advance(98); // the next slot is still at 200 (tolerance: 10% of an interval, at most 2 ms)
    assert.equal(ctl.acquire(), 0);
    clock.advance(10_000); // quiet: the first caller goes, the second waits a full interval
    assert.equal(ctl.acquire(), 0);
    assert.ok(ctl.acquire() > 90);
  });
});

describe("rate controller: growth", () => {
  test("slow start: the rate doubles while answers are healthy, never faster than startupDoublingMs", () => {
    const run = runWorld({ limits: [[0, 1_000_000]], durationMs: 6_000, options: { initialRate: 4, maxRate: 10_000 } });
    assert.equal(run.ctl.phase, "startup");
    assert.equal(run.throttledAt.length, 0);
    const rateAt = (t: number): number => run.rates.find(([at]) => at >= t)![1];
    // Doubling every 10 requests: dr/dt = r² ln2 / 10, so r(t) = 1 / (1/4 - t ln2 / 10) until the
    // 500 ms floor takes over at 20 req/s: 6.8 req/s at 1.5 s, 8 at 1.8 s, 20 at 2.9 s.
    assert.ok(rateAt(1_500) > 6 && rateAt(1_500) < 7.5, `~6.8 req/s at 1.5 s: ${rateAt(1_500)}`);
    assert.ok(rateAt(3_000) >= 16 && rateAt(3_000) <= 24, `~20 req/s at 3 s: ${rateAt(3_000)}`);
    assert.ok(rateAt(6_000) > 64, `well past 64 req/s at 6 s: ${rateAt(6_000)}`);
    for (const [at, rate] of run.rates) assert.ok(rate <= 4 * 2 ** (at / 500) * 1.01, `at ${at} ms, ${rate} req/s exceeds doubling every 500 ms`);
  });

  test("growth needs demand: callers that never wait on the rate do not raise it", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 10 });
    for (let i = 0; i < 100; i++) {
      assert.equal(ctl.acquire(), 0, "one caller every 500 ms never has to wait at 10 req/s");
      clock.advance(20);
      ctl.onResult({ kind: "ok", latencyMs: 20 });
      clock.advance(480);
    }
    assert.equal(ctl.rate, 10);
  });

  test("after a cut the rate climbs back to the limit estimate over the plateau, then probes past it", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 20 });
    pastStartup(ctl, clock);
    const before = ctl.rate;
    exchange(ctl, clock, "throttled");
    assert.ok(Math.abs(ctl.rate - 0.9 * before) < 1e-9, `cut by decreaseFactor: ${before} → ${ctl.rate}`);
    assert.equal(ctl.phase, "recover");
    assert.equal(ctl.limit, before, "the rate refused is the limit estimate");
    // Plateau: max(2 s, 80 requests' worth at the limit estimate).
    const plateauMs = Math.max(2_000, (80 / before) * 1000);
    const cutAt = clock.now();
    let previous = ctl.rate;
    while (clock.now() - cutAt < plateauMs * 0.95) {
      exchange(ctl, clock, "ok");
      assert.ok(ctl.rate >= previous, "the climb is monotonic");
      assert.ok(ctl.rate <= before + 1e-9, "no probing before the plateau ends");
      previous = ctl.rate;
    }
    assert.ok(ctl.rate > 0.995 * before, `back near the limit estimate at the plateau's end: ${ctl.rate} vs ${before}`);
    while (clock.now() - cutAt < plateauMs + 3_000) exchange(ctl, clock, "ok");
    assert.equal(ctl.phase, "probe");
    assert.ok(ctl.rate > 1.3 * before, `probing past the old limit: ${ctl.rate} vs ${before}`);
  });
});

describe("rate controller: decrease", () => {
  test("a burst of 429s from one overshoot cuts once; a 429 for a request sent after the cut cuts again", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 50 });
    pastStartup(ctl, clock);
    const before = ctl.rate;
    const cutsBefore = ctl.stats.cuts;
    const starts: number[] = [];
    for (let i = 0; i < 10; i++) {
      acquireNow(ctl, clock);
      starts.push(clock.now());
    }
    clock.advance(30);
    // All ten were in flight when the first refusal came back.
    for (const startedAt of starts) ctl.onResult({ kind: "throttled", latencyMs: clock.now() - startedAt });
    assert.equal(ctl.stats.cuts, cutsBefore + 1);
    assert.ok(Math.abs(ctl.rate - 0.9 * before) < 1e-9, `one cut: ${before} → ${ctl.rate}`);
    exchange(ctl, clock, "throttled");
    assert.equal(ctl.stats.cuts, cutsBefore + 2);
    assert.ok(ctl.rate < 0.9 * before);
  });

  test("a limit that dropped far is found in a few cuts, not a long chain of ×0.9 steps", () => {
    const run = runWorld({ limits: [[0, 50], [20_000, 10]], durationMs: 40_000, jitterMs: 5 });
    const cutsBefore = run.rates.find(([at]) => at >= 20_000)![1];
    assert.ok(cutsBefore > 40, `near 50 before the drop: ${cutsBefore}`);
    const settledAt = run.rates.find(([at, rate]) => at >= 20_000 && rate <= 11)?.[0] ?? Number.POSITIVE_INFINITY;
    assert.ok(settledAt - 20_000 <= 3_000, `at or under 11 req/s within 3 s of the drop, took ${settledAt - 20_000} ms`);
    // ×0.9 steps alone would need 15 cuts from 50 to 10.
    const refusedAfterDrop = window(run, 20_000, 25_000).throttled;
    assert.ok(refusedAfterDrop <= 15, `refusals while finding the new limit: ${refusedAfterDrop}`);
  });

  test("Retry-After: no request starts before it elapses, however many callers ask", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 100 });
    acquireNow(ctl, clock);
    clock.advance(20);
    ctl.onResult({ kind: "throttled", latencyMs: 20, retryAfterMs: 1_000 });
    const heldUntil = clock.now() + 1_000;
    assert.equal(ctl.heldForMs(), 1_000);
    // Many callers poll; none is let through before the wait is over.
    while (clock.now() < heldUntil) {
      const wait = ctl.acquire();
      assert.ok(wait > 0, `a start at ${heldUntil - clock.now()} ms before Retry-After elapsed`);
      assert.ok(wait <= RATE_CONTROLLER_DEFAULTS.maxPollMs);
      clock.advance(Math.min(wait, 7));
    }
    assert.equal(ctl.heldForMs(), 0);
    assert.equal(ctl.acquire(), 0);
    // A broken header is capped.
    const other = controller(clock, { maxRetryAfterMs: 5_000 });
    acquireNow(other, clock);
    other.onResult({ kind: "throttled", latencyMs: 0, retryAfterMs: 3_600_000 });
    assert.equal(other.heldForMs(), 5_000);
  });

  test("slow start ends at the first refusal: the rate halves at most", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 40 });
    exchange(ctl, clock, "throttled");
    assert.equal(ctl.phase, "recover");
    assert.ok(ctl.rate >= 0.9 * 20 - 1e-9 && ctl.rate < 40, `${ctl.rate}`);
  });

  test("timeouts ('overloaded') cut like a 429; errors that say nothing about load do not", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 10 });
    pastStartup(ctl, clock);
    const before = ctl.rate;
    exchange(ctl, clock, "error");
    assert.equal(ctl.rate, before);
    assert.equal(ctl.stats.errors, 1);
    for (let i = 0; i < 10; i++) exchange(ctl, clock, "ok");
    const rate = ctl.rate;
    exchange(ctl, clock, "overloaded");
    assert.ok(Math.abs(ctl.rate - 0.9 * rate) < 1e-9);
    assert.equal(ctl.stats.overloaded, 1);
  });

  test("rising latency is congestion: the rate goes under what the server delivers; noise is not", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 20 });
    for (let i = 0; i < 40; i++) exchange(ctl, clock, "ok", 20);
    const healthy = ctl.rate;
    assert.equal(ctl.stats.cuts, 0);
    for (let i = 0; i < 20; i++) exchange(ctl, clock, "ok", 200);
    assert.ok(ctl.stats.cuts >= 1, "latency ten times the baseline cut the rate");
    assert.ok(ctl.rate < healthy);

    const quietClock = fakeClock();
    const quiet = controller(quietClock, { initialRate: 20 });
    for (let i = 0; i < 200; i++) exchange(quiet, quietClock, "ok", i % 2 === 0 ? 20 : 30);
    assert.equal(quiet.stats.cuts, 0);
    assert.ok(quiet.rate > 20);
  });
});

describe("rate controller: bounds and history", () => {
  test("never exceeds maxRate, in rate or in starts", () => {
    const run = runWorld({ limits: [[0, 1_000]], durationMs: 20_000, options: { maxRate: 30 } });
    assert.ok(Math.max(...run.rates.map(([, r]) => r)) <= 30);
    for (let t = 0; t + 1_000 <= 20_000; t += 1_000) {
      const { ok, throttled } = window(run, t, t + 1_000);
      assert.ok(ok + throttled <= 31, `${ok + throttled} answers in [${t}, ${t + 1_000})`);
    }
    assert.ok(window(run, 10_000, 20_000).okPerSecond >= 29, "and holds it when the server allows more");
  });

  test("never goes below minRate, however many refusals", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 50, minRate: 0.5 });
    for (let i = 0; i < 200; i++) {
      acquireNow(ctl, clock);
      clock.advance(10);
      ctl.onResult({ kind: "throttled", latencyMs: 10 });
      assert.ok(ctl.rate >= 0.5);
    }
    assert.equal(ctl.rate, 0.5);
  });

  test("history: one point per second with the rate and the answers, bounded by merging", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 10, maxRate: 10, maxHistoryPoints: 8 });
    for (let second = 0; second < 3; second++) {
      for (let i = 0; i < 5; i++) {
        acquireNow(ctl, clock);
        ctl.onResult({ kind: i === 4 && second === 1 ? "throttled" : "ok", latencyMs: 0 });
      }
      clock.set(1_000_000 + (second + 1) * 1_000);
    }
    const points = ctl.history();
    assert.deepEqual(
      points.slice(0, 3).map((p) => [p.atMs, p.spanMs, p.ok, p.throttled]),
      [
        [0, 1_000, 5, 0],
        [1_000, 1_000, 4, 1],
        [2_000, 1_000, 5, 0],
      ],
    );
    assert.equal(points[0]!.rate, 10);
    // The refusal at 1.4 s ended slow start (the rate at most halves): that second's average is
    // between the two rates.
    assert.ok(points[1]!.rate < 10 && points[1]!.rate > 7, `${points[1]!.rate}`);
    clock.advance(60_000);
    const long = ctl.history();
    assert.ok(long.length <= 9, `bounded: ${long.length} points`);
    assert.equal(
      long.reduce((sum, p) => sum + p.spanMs, 0),
      clock.now() - 1_000_000,
      "still covers the whole run",
    );
    assert.equal(
      long.reduce((sum, p) => sum + p.throttled, 0),
      1,
    );
  });
});

// ---- the simulated server -------------------------------------------------------------------------

describe("rate controller against a token-bucket server (deterministic simulation)", () => {
  for (const limit of [5, 50, 200]) {
    test(`holds a limit of ${limit} req/s: achieved ≥ 0.9 × R with ≤ 3 % refused over 60 s`, (t) => {
      const run = runWorld({ limits: [[0, limit]], durationMs: 60_000, jitterMs: 5, seed: limit });
      const whole = window(run, 0, 60_000);
      t.diagnostic(`R=${limit}: ${whole.okPerSecond.toFixed(2)} ok/s (${(whole.okPerSecond / limit).toFixed(3)} R), ${whole.throttled} refused (${(100 * whole.throttledShare).toFixed(2)} %), ${run.ctl.stats.cuts} cuts`);
      assert.ok(whole.okPerSecond >= 0.9 * limit, `achieved ${whole.okPerSecond} req/s`);
      assert.ok(whole.throttledShare <= 0.03, `refused ${(100 * whole.throttledShare).toFixed(2)} %`);
      assert.ok(Math.max(...run.rates.slice(200).map(([, r]) => r)) < 2 * limit, "no runaway once settled");
    });
  }

  test("follows the limit as it moves 50 → 10 → 100 within 10 s", (t) => {
    const run = runWorld({ limits: [[0, 50], [30_000, 10], [60_000, 100]], durationMs: 90_000, jitterMs: 5, seed: 7 });
    const down = run.rates.find(([at, rate]) => at >= 30_000 && rate <= 11)![0] - 30_000;
    const up = run.rates.find(([at, rate]) => at >= 60_000 && rate >= 90)![0] - 60_000;
    const upDelivered = followedAfter(run, 60_000, 100);
    const at10 = window(run, 40_000, 60_000);
    const at100 = window(run, 70_000, 90_000);
    t.diagnostic(`50→10: rate ≤ 11 after ${down} ms; 10→100: rate ≥ 90 after ${up} ms, ok rate over the trailing 2 s ≥ 90 after ${upDelivered} ms`);
    t.diagnostic(`from 10 s after each change: ${at10.okPerSecond.toFixed(2)} ok/s at R=10 (${(100 * at10.throttledShare).toFixed(2)} % refused), ${at100.okPerSecond.toFixed(2)} ok/s at R=100 (${(100 * at100.throttledShare).toFixed(2)} % refused)`);
    assert.ok(down <= 10_000, `took ${down} ms to come down`);
    assert.ok(up <= 10_000, `took ${up} ms to go up`);
    assert.ok(at10.okPerSecond >= 9 && at100.okPerSecond >= 90, "holds each new limit");
  });

  test("with Retry-After on every refusal: holds the limit and never starts a request inside a wait", (t) => {
    const limit = 50;
    const run = runWorld({ limits: [[0, limit]], durationMs: 60_000, retryAfterSeconds: 1, jitterMs: 5, seed: 3 });
    const whole = window(run, 0, 60_000);
    t.diagnostic(`R=${limit}, Retry-After 1 s: ${(whole.okPerSecond / limit).toFixed(3)} R, ${(100 * whole.throttledShare).toFixed(2)} % refused`);
    assert.ok(whole.okPerSecond >= 0.9 * limit);
    assert.ok(whole.throttledShare <= 0.03);
    // Every refusal opens a 1 s wait: no answer (hence no start) lands inside one, past the
    // requests that were already in flight when the refusal came back.
    const all = [...run.okAt.map((at) => ({ at, refused: false })), ...run.throttledAt.map((at) => ({ at, refused: true }))].sort((a, b) => a.at - b.at);
    let heldUntil = Number.NEGATIVE_INFINITY;
    for (const answer of all) {
      // An answer arrives 20-25 ms after its start: a start inside the wait answers after heldUntil - 1000 + 25.
      assert.ok(!(answer.at > heldUntil - 1_000 + 30 && answer.at < heldUntil + 20), `an answer at ${answer.at} ms for a request started inside a Retry-After wait`);
      if (answer.refused) heldUntil = Math.max(heldUntil, answer.at + 1_000);
    }
  });
});
