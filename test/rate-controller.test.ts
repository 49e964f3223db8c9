import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RATE_CONTROLLER_DEFAULTS, RateController, type RateControllerOptions, type RateSample } from "../src/job/rate-controller.js";
import { followedAfter, runWorld, window } from "./support/rate-world.js";

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

/** One exchange: acquire (waiting as told), then the answer after `latencyMs`. Returns when it started. */
function exchange(ctl: RateController, clock: ReturnType<typeof fakeClock>, kind: RateSample["kind"], latencyMs = 20, retryAfterMs?: number): number {
  acquireNow(ctl, clock);
  const startedAt = clock.now();
  clock.advance(latencyMs);
  ctl.onResult({ kind, latencyMs, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  return startedAt;
}

/** Past slow start: one refusal, then enough ok answers to close that episode. */
function pastStartup(ctl: RateController, clock: ReturnType<typeof fakeClock>): void {
  exchange(ctl, clock, "throttled");
  for (let i = 0; i < 10; i++) exchange(ctl, clock, "ok");
  assert.equal(ctl.phase, "recover");
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
    exchange(ctl, clock, "throttled");
    const limit = ctl.limit!;
    assert.equal(ctl.phase, "recover");
    assert.ok(Math.abs(ctl.rate - 0.9 * limit) < 1e-9, `cut to decreaseFactor × the limit estimate: ${ctl.rate} vs ${limit}`);
    // Plateau: max(minPlateauMs, plateauRequests' worth at the limit estimate).
    const { plateauRequests, minPlateauMs } = RATE_CONTROLLER_DEFAULTS;
    const plateauMs = Math.max(minPlateauMs, (plateauRequests / limit) * 1000);
    const cutAt = clock.now();
    let previous = ctl.rate;
    while (clock.now() - cutAt < plateauMs * 0.95) {
      exchange(ctl, clock, "ok");
      assert.ok(ctl.rate >= previous, "the climb is monotonic");
      assert.ok(ctl.rate <= limit + 1e-9, "no probing before the plateau ends");
      previous = ctl.rate;
    }
    assert.ok(ctl.rate > 0.995 * limit, `back near the limit estimate at the plateau's end: ${ctl.rate} vs ${limit}`);
    while (clock.now() - cutAt < plateauMs + 1_500) exchange(ctl, clock, "ok");
    assert.equal(ctl.phase, "probe");
    assert.ok(ctl.rate > 1.3 * limit, `probing past the old limit: ${ctl.rate} vs ${limit}`);
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
    ctl.onResult({ kind: "throttled", latencyMs: clock.now() - starts[0]! });
    const afterCut = ctl.rate;
    assert.ok(afterCut < before, `the first refusal cuts: ${before} → ${afterCut}`);
    for (const startedAt of starts.slice(1)) ctl.onResult({ kind: "throttled", latencyMs: clock.now() - startedAt });
    assert.equal(ctl.stats.cuts, cutsBefore + 1);
    assert.equal(ctl.rate, afterCut, "the other nine describe the rate already cut");
    exchange(ctl, clock, "throttled");
    assert.equal(ctl.stats.cuts, cutsBefore + 2);
    assert.ok(ctl.rate < afterCut);
  });
  test("refused on the way back to the estimate: the estimate becomes what the server accepted since the previous refusal", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 20 });
    const firstRefusal = exchange(ctl, clock, "throttled");
    // Past the episode (8 ok answers), still climbing back (the plateau lasts seconds).
    for (let i = 0; i < 12; i++) exchange(ctl, clock, "ok");
    assert.equal(ctl.phase, "recover");
    const before = ctl.rate;
    const secondRefusal = exchange(ctl, clock, "throttled");
    // The server's bucket was empty at both refusals: 12 accepted in between is its refill rate.
    const accepted = (12 * 1000) / (secondRefusal - firstRefusal);
    assert.ok(accepted < before, "the bucket accepted less than the rate asked");
    assert.ok(Math.abs(ctl.limit! - accepted) < 1e-9, `estimate ${ctl.limit} vs accepted ${accepted}`);
    assert.ok(Math.abs(ctl.rate - 0.9 * accepted) < 1e-9, `rate ${ctl.rate}`);
  });
  test("time callers had nothing to send does not count: a quiet spell between refusals does not drag the estimate down", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 20 });
    const firstRefusal = exchange(ctl, clock, "throttled");
    for (let i = 0; i < 10; i++) exchange(ctl, clock, "ok");
    clock.advance(10_000); // nothing to send: the server's bucket fills and overflows meanwhile
    for (let i = 0; i < 10; i++) exchange(ctl, clock, "ok");
    assert.equal(ctl.phase, "recover");
    const before = ctl.rate;
    const secondRefusal = exchange(ctl, clock, "throttled");
    const overWallTime = (20 * 1000) / (secondRefusal - firstRefusal);
    assert.ok(overWallTime < 0.3 * before, `what the wall clock would say: ${overWallTime} req/s`);
    assert.ok(ctl.limit! > 0.8 * before, `estimate ${ctl.limit} after a refusal at ${before} req/s`);
  });
  test("a first refusal after latency cuts alone has no earlier refusal to measure from: the rate refused is the estimate", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 20 });
    for (let i = 0; i < 40; i++) exchange(ctl, clock, "ok", 20);
    for (let i = 0; i < 20; i++) exchange(ctl, clock, "ok", 200);
    assert.ok(ctl.stats.cuts >= 1 && ctl.stats.throttled === 0, "cut by latency only");
    for (let i = 0; i < 10; i++) exchange(ctl, clock, "ok", 20);
    // Answers that say nothing about load (resets, 500s) while callers wait on the rate: the run's
    // average of ok answers falls well under the rate, and must not be taken for a refill rate.
    for (let i = 0; i < 60; i++) exchange(ctl, clock, "error", 20);
    assert.equal(ctl.phase, "recover");
    assert.equal(ctl.stats.throttled, 0);
    const before = ctl.rate;
    exchange(ctl, clock, "throttled");
    assert.ok(Math.abs(ctl.limit! - before) < 1e-9, `estimate ${ctl.limit} vs the rate refused ${before}`);
  });
  test("a probe refused short of RISEN_RATIO × the estimate ran on saved-up burst: back under the estimate, raised to what was accepted", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 20 });
    pastStartup(ctl, clock);
    const refusal = exchange(ctl, clock, "throttled");
    const limit = ctl.limit!;
    let oks = 0;
    while (ctl.phase !== "probe" || ctl.rate < 2 * limit) {
      exchange(ctl, clock, "ok");
      oks++;
    }
    const probeRate = ctl.rate;
    const refusedAt = exchange(ctl, clock, "throttled");
    const accepted = (oks * 1000) / (refusedAt - refusal);
    const expected = Math.max(limit, accepted);
    assert.ok(Math.abs(ctl.limit! - expected) < 1e-9, `estimate ${ctl.limit} vs max(${limit}, ${accepted})`);
    assert.ok(Math.abs(ctl.rate - 0.9 * expected) < 1e-9, `rate ${ctl.rate} after a probe at ${probeRate}`);
  });
  test("a limit that dropped far is found in a few cuts, not a long chain of ×0.9 steps", () => {
    const run = runWorld({
      limits: [
        [0, 50],
        [20_000, 10],
      ],
      durationMs: 40_000,
      jitterMs: 5,
    });
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
    const twins = (["throttled", "overloaded"] as const).map((kind) => {
      const clock = fakeClock();
      const ctl = controller(clock, { initialRate: 10 });
      pastStartup(ctl, clock);
      const before = ctl.rate;
      exchange(ctl, clock, "error");
      assert.equal(ctl.rate, before);
      assert.equal(ctl.stats.errors, 1);
      for (let i = 0; i < 10; i++) exchange(ctl, clock, "ok");
      const rate = ctl.rate;
      exchange(ctl, clock, kind);
      assert.ok(ctl.rate < rate, `${kind} cuts: ${rate} → ${ctl.rate}`);
      return ctl;
    });
    assert.equal(twins[1]!.rate, twins[0]!.rate, "the same cut");
    assert.equal(twins[1]!.limit, twins[0]!.limit);
    assert.equal(twins[1]!.stats.overloaded, 1);
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
      t.diagnostic(
        `R=${limit}: ${whole.okPerSecond.toFixed(2)} ok/s (${(whole.okPerSecond / limit).toFixed(3)} R), ${whole.throttled} refused (${(100 * whole.throttledShare).toFixed(2)} %), ${run.ctl.stats.cuts} cuts`,
      );
      assert.ok(whole.okPerSecond >= 0.9 * limit, `achieved ${whole.okPerSecond} req/s`);
      assert.ok(whole.throttledShare <= 0.03, `refused ${(100 * whole.throttledShare).toFixed(2)} %`);
      // Once settled, the rate leaves the limit only to probe: briefly, and then it comes back.
      let above = 0;
      for (const [, rate] of run.rates.slice(200)) {
        assert.ok(rate < 4 * limit, `no runaway once settled: ${rate}`);
        above = rate > 1.2 * limit ? above + 100 : 0;
        assert.ok(above <= 1_500, `above 1.2 × R for ${above} ms`);
      }
    });
  }

  test("follows the limit as it moves 50 → 10 → 100 within 10 s", (t) => {
    const run = runWorld({
      limits: [
        [0, 50],
        [30_000, 10],
        [60_000, 100],
      ],
      durationMs: 90_000,
      jitterMs: 5,
      seed: 7,
    });
    const down = run.rates.find(([at, rate]) => at >= 30_000 && rate <= 11)![0] - 30_000;
    const up = run.rates.find(([at, rate]) => at >= 60_000 && rate >= 90)![0] - 60_000;
    const upDelivered = followedAfter(run, 60_000, 100);
    const at10 = window(run, 40_000, 60_000);
    const at100 = window(run, 70_000, 90_000);
    t.diagnostic(`50→10: rate ≤ 11 after ${down} ms; 10→100: rate ≥ 90 after ${up} ms, ok rate over the trailing 2 s ≥ 90 after ${upDelivered} ms`);
    t.diagnostic(
      `from 10 s after each change: ${at10.okPerSecond.toFixed(2)} ok/s at R=10 (${(100 * at10.throttledShare).toFixed(2)} % refused), ${at100.okPerSecond.toFixed(2)} ok/s at R=100 (${(100 * at100.throttledShare).toFixed(2)} % refused)`,
    );
    assert.ok(down <= 10_000, `took ${down} ms to come down`);
    assert.ok(up <= 10_000, `took ${up} ms to go up`);
    assert.ok(at10.okPerSecond >= 9 && at100.okPerSecond >= 90, "holds each new limit");
  });

  test("a limit that rose by less than a probe overshoots (10 → 15) is found too, not held at the old estimate", (t) => {
    const run = runWorld({
      limits: [
        [0, 10],
        [30_000, 15],
      ],
      durationMs: 60_000,
      jitterMs: 5,
      seed: 11,
    });
    const after = window(run, 40_000, 60_000);
    t.diagnostic(`from 10 s after the rise: ${after.okPerSecond.toFixed(2)} ok/s at R=15 (${(100 * after.throttledShare).toFixed(2)} % refused)`);
    assert.ok(after.okPerSecond >= 0.9 * 15, `${after.okPerSecond} ok/s`);
    assert.ok(after.throttledShare <= 0.03);
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
      assert.ok(
        !(answer.at > heldUntil - 1_000 + 30 && answer.at < heldUntil + 20),
        `an answer at ${answer.at} ms for a request started inside a Retry-After wait`,
      );
      if (answer.refused) heldUntil = Math.max(heldUntil, answer.at + 1_000);
    }
  });
});

describe("rate controllers sharing one limit (workers of a campaign, deterministic simulation)", () => {
  /** Largest ÷ smallest share of accepted answers among the controllers. */
  const spreadOf = (run: ReturnType<typeof runWorld>): number => {
    const oks = run.ctls.map((c) => c.stats.ok);
    return Math.max(...oks) / Math.min(...oks);
  };

  test("one prober, the one furthest behind: together they hold R, and no worker is left far behind to hold the tail", (t) => {
    const seeds = [1, 2, 3];
    const world = (seed: number, probing: "all" | "furthest-behind") =>
      runWorld({ limits: [[0, 40]], durationMs: 60_000, jitterMs: 5, seed, controllers: 4, workers: 8, probing });
    const rotating = seeds.map((seed) => world(seed, "furthest-behind"));
    const everyone = seeds.map((seed) => world(seed, "all"));
    for (const [i, run] of rotating.entries()) {
      const whole = window(run, 0, 60_000);
      t.diagnostic(
        `seed ${seeds[i]}: ${whole.okPerSecond.toFixed(2)} ok/s (${(whole.okPerSecond / 40).toFixed(3)} R), ${(100 * whole.throttledShare).toFixed(2)} % refused, shares max ÷ min ${spreadOf(run).toFixed(2)} (all probing: ${spreadOf(everyone[i]!).toFixed(2)})`,
      );
      assert.ok(whole.okPerSecond >= 0.9 * 40, `achieved ${whole.okPerSecond} req/s`);
      assert.ok(whole.throttledShare <= 0.03, `refused ${(100 * whole.throttledShare).toFixed(2)} %`);
      assert.ok(spreadOf(run) <= 4, `shares max ÷ min ${spreadOf(run)}`);
    }
    const mean = (runs: typeof rotating): number => runs.reduce((sum, run) => sum + spreadOf(run), 0) / runs.length;
    assert.ok(mean(rotating) < mean(everyone), `shares closer with one rotating prober (${mean(rotating)}) than with all probing (${mean(everyone)})`);
  });

  test("a controller that is not probing climbs back to its estimate after a cut and holds there", () => {
    const clock = fakeClock();
    const ctl = controller(clock, { initialRate: 20 });
    ctl.setProbing(false);
    pastStartup(ctl, clock);
    exchange(ctl, clock, "throttled");
    const limit = ctl.limit!;
    const cutAt = clock.now();
    while (clock.now() - cutAt < RATE_CONTROLLER_DEFAULTS.maxPlateauMs + 5_000) exchange(ctl, clock, "ok");
    assert.equal(ctl.phase, "recover");
    assert.ok(Math.abs(ctl.rate - limit) < 1e-6, `holds the estimate: ${ctl.rate} vs ${limit}`);
    ctl.setProbing(true);
    const onAt = clock.now();
    while (clock.now() - onAt < 1_500) exchange(ctl, clock, "ok");
    assert.equal(ctl.phase, "probe");
    assert.ok(ctl.rate > 1.3 * limit, `probes once told to: ${ctl.rate} vs ${limit}`);
  });
});
