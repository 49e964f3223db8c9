/**
 * Adaptive request pacing (`--rate auto`): finds and holds a server's undisclosed rate limit.
 *
 * Request starts are paced at `rate` per second, and `rate` moves the way TCP moves its congestion
 * window (requests/s in place of a window), tuned for an API gateway's token bucket:
 *
 * - startup: from a gentle `initialRate` the rate doubles every `startupDoublingRequests` requests
 *   (at most every `startupDoublingMs`) until the first sign of congestion (slow start), then at
 *   most halves.
 * - congestion: a throttled answer (429 RATE_LIMIT, 503 MAINTENANCE_MODE), an overloaded one (a
 *   timeout), or the smoothed latency rising above its baseline × `latencyToleranceRatio` (the
 *   gradient idea of Netflix's concurrency-limits). The rate is cut multiplicatively, to
 *   `decreaseFactor` × an estimate of the limit.
 * - one cut per round trip: only the answer to a request started after the last cut can cut again,
 *   so the burst of 429s one overshoot produces (every request already in flight) cuts once.
 * - episodes: a cut that comes before the new rate earned a few ok answers continues the episode.
 *   The server's bucket is empty at every refusal, so the requests it accepted between the
 *   episode's first refusal and this one are what it refilled meanwhile: that is the limit, and
 *   the rate goes straight under it instead of down a long chain of ×0.9 steps.
 * - the same measure between episodes: a refusal on the way back to the estimate says the
 *   estimate is above the limit, and what the server accepted since the previous refusal is the
 *   limit (a little under it if the bucket overflowed meanwhile); the estimate becomes that, so the
 *   rate settles under the limit instead of paying a refusal every few seconds.
 * - recovery and probing (CUBIC-like, in rate space): after a cut the rate climbs back towards the
 *   limit estimate on a concave curve that reaches it after `plateauRequests` requests' worth of
 *   time (a probe costs a refused request, so at a low limit probes must be rarer), then probes
 *   past it exponentially (doubling every `probeDoublingRequests` requests, easing in), so a limit
 *   that rose is found within seconds. A bucket with burst lets a probe run on past the limit
 *   before refusing, so a probe refused short of RISEN_RATIO × the estimate says little about the
 *   limit: the rate falls back under the estimate, raised to what the server accepted since the
 *   previous refusal. One refused request per probe, not a cascade.
 * - `Retry-After` is honoured: no request starts before the latest one received has elapsed.
 *   Under Retry-After, probes are spaced out further (each costs the whole wait).
 * - growth needs demand: the rate grows only while callers are actually held back by it, so a run
 *   limited by --concurrency or the disk does not inflate the rate without evidence.
 *
 * Pure: no timers, the clock is injected. Callers ask `acquire()` before each request and report
 * each answer with `onResult()`.
 */

export type RateSampleKind = "ok" | "throttled" | "overloaded" | "error";

export interface RateSample {
  /**
   * ok: the server handled the request (a success, or a refusal of the request itself such as 400).
   * throttled: 429 RATE_LIMIT or 503 MAINTENANCE_MODE. overloaded: a timeout, or any other answer
   * that says the server is struggling. error: says nothing about load (a reset, a 500); ignored.
   */
  kind: RateSampleKind;
  /** From the request's start (when `acquire()` returned 0) to its answer. */
  latencyMs: number;
  /** The answer's Retry-After, if any. */
  retryAfterMs?: number;
}

export type RatePhase = "startup" | "recover" | "probe";

export interface RateHistoryPoint {
  /** Start of the span, ms since the controller was created. */
  atMs: number;
  spanMs: number;
  /** Time-averaged rate over the span, requests/s. */
  rate: number;
  /** Answers received during the span. */
  ok: number;
  throttled: number;
}

export interface RateControllerOptions {
  /** Requests/s at the start. */
  initialRate?: number;
  minRate?: number;
  /** --max-rate; Infinity when not given. */
  maxRate?: number;
  /** Rate after a cut, as a fraction of the limit estimate. */
  decreaseFactor?: number;
  /** Slow start doubles the rate every this many requests... */
  startupDoublingRequests?: number;
  /** ...and at most this often. */
  startupDoublingMs?: number;
  /** After a cut, the rate regains the limit estimate over this many requests' worth of time... */
  plateauRequests?: number;
  /** ...bounded to this range. */
  minPlateauMs?: number;
  maxPlateauMs?: number;
  /** Past the limit estimate the rate doubles every this many requests, at most every probeDoublingMs... */
  probeDoublingRequests?: number;
  probeDoublingMs?: number;
  /** ...easing in over this long. */
  probeMs?: number;
  /** Smoothed latency above baseline × this (and above baseline + minLatencyRiseMs) is congestion. */
  latencyToleranceRatio?: number;
  minLatencyRiseMs?: number;
  /** Under Retry-After, probes (each costs a whole wait) come at most once per this many waits. */
  retryAfterPlateau?: number;
  /** A longer Retry-After is capped, so a broken header cannot park the run for hours. */
  maxRetryAfterMs?: number;
  /** Longest wait `acquire()` returns; callers ask again after it, so changes reach them that fast. */
  maxPollMs?: number;
  /** History granularity and length: when full, neighbouring points merge and the span doubles. */
  historyBucketMs?: number;
  maxHistoryPoints?: number;
  /** Millisecond clock, e.g. `() => performance.now()`. */
  now: () => number;
}

export const RATE_CONTROLLER_DEFAULTS = {
  initialRate: 4,
  minRate: 0.2,
  maxRate: Number.POSITIVE_INFINITY,
  decreaseFactor: 0.9,
  startupDoublingRequests: 10,
  startupDoublingMs: 500,
  plateauRequests: 45,
  minPlateauMs: 2_000,
  maxPlateauMs: 20_000,
  probeDoublingRequests: 6,
  probeDoublingMs: 400,
  probeMs: 300,
  latencyToleranceRatio: 2,
  minLatencyRiseMs: 25,
  retryAfterPlateau: 10,
  maxRetryAfterMs: 120_000,
  maxPollMs: 100,
  historyBucketMs: 1_000,
  maxHistoryPoints: 600,
} as const satisfies Omit<Required<RateControllerOptions>, "now">;

/** A start may come this early (fraction of an interval, capped in ms) to absorb timer lateness. */
const START_TOLERANCE = 0.1;
const MAX_START_TOLERANCE_MS = 2;
/** Fewer ok answers than this between two cuts make the second one part of the same episode. */
const EPISODE_OKS = 8;
/** A probe refused past this multiple of the limit estimate found a limit that rose; refused before it, the probe ran on a server's saved-up burst. */
const RISEN_RATIO = 4;
/** After a Retry-After, a refusal below this share of the limit estimate continues the episode. */
const RECLIMB_RATIO = 0.97;
/** Under Retry-After, episode steps get deeper down to this factor. */
const MIN_CUT_FACTOR = 0.5;
/** Latency: the recent average is an EMA per sample; the baseline is the lowest recent average
 * over the last BASELINE_WINDOW_MS (kept per BASELINE_SLOT_MS), so a queue that keeps growing does
 * not drag the baseline up with it, while a server that simply got slower is learned in that time. */
const RECENT_ALPHA = 0.2;
const BASELINE_WINDOW_MS = 30_000;
const BASELINE_SLOT_MS = 2_000;
const LATENCY_WARMUP_SAMPLES = 10;
/** Rising latency cuts at most this often: the queue behind it takes time to drain. */
const LATENCY_CUT_SPACING_MS = 2_000;
/** The delivery rate (ok answers per second) is measured over this window. */
const DELIVERY_WINDOW_MS = 1_000;
const DELIVERY_MIN_SAMPLES = 5;
/** Growth uses at most this much time per answer, so a long silence does not turn into a leap. */
const MAX_GROWTH_STEP_MS = 250;

export class RateController {
  private readonly o: Omit<Required<RateControllerOptions>, "now">;
  private readonly now: () => number;
  private readonly createdAt: number;

  private current: number;
  private currentPhase: RatePhase = "startup";

  // Pacing (GCRA): a start is allowed from tat - tolerance on; tat then moves one interval on.
  private tat = Number.NEGATIVE_INFINITY;
  private lastStartAt = Number.NEGATIVE_INFINITY;
  private firstStartAt = Number.NEGATIVE_INFINITY;
  private gateUntil = Number.NEGATIVE_INFINITY;
  /** Last time a caller had to wait: demand exceeded the rate. */
  private lastHeldAt = Number.NEGATIVE_INFINITY;

  // Growth runs on "active" time: demanded, and not held by a Retry-After.
  private activeMs = 0;
  private lastTick: number;
  private lastGrowthActiveMs = 0;
  private epochActiveMs = 0;
  private limitEstimate = 0;
  private rateAfterCut = 0;
  private plateauMs = 0;

  // Cuts and episodes.
  private cuts = 0;
  private lastCutAt = Number.NEGATIVE_INFINITY;
  private lastCutRetryAfterMs = 0;
  private lastLatencyCutAt = Number.NEGATIVE_INFINITY;
  private streak = 0;
  /** ok answers to requests started after the last cut. */
  private okSinceCut = 0;
  /** Start of the refused request behind the last cut, and ok answers to requests started after it. */
  private refusedAt = Number.NEGATIVE_INFINITY;
  /** Active time (see tick) at that cut. */
  private refusedActiveMs = 0;
  private okSinceRefused = 0;
  /** The same for the first refusal of the current episode. */
  private episodeRefusedAt = Number.NEGATIVE_INFINITY;
  private okSinceEpisode = 0;

  private recentLatency = 0;
  private latencySamples = 0;
  /** Lowest recent latency per slot, oldest first. */
  private readonly baselineSlots: Array<{ at: number; min: number }> = [];
  /** Receive times of recent ok answers. */
  private readonly deliveries: number[] = [];

  private readonly points: RateHistoryPoint[] = [];
  private bucketMs: number;
  private bucketStart: number;
  private bucketRateIntegral = 0;
  private bucketOk = 0;
  private bucketThrottled = 0;
  private lastIntegralAt: number;

  private readonly totals = { starts: 0, ok: 0, throttled: 0, overloaded: 0, errors: 0 };
  /** Whether the rate climbs past the limit estimate once recovered (see setProbing). */
  private probing = true;

  constructor(options: RateControllerOptions) {
    const o = { ...RATE_CONTROLLER_DEFAULTS, ...stripUndefined(options) };
    for (const name of Object.keys(RATE_CONTROLLER_DEFAULTS) as Array<keyof typeof RATE_CONTROLLER_DEFAULTS>) {
      const v: unknown = o[name];
      if (typeof v !== "number" || Number.isNaN(v) || v <= 0 || (name !== "maxRate" && !Number.isFinite(v))) {
        throw new RangeError(`${name} must be a positive number, got ${String(v)}`);
      }
    }
    if (typeof o.now !== "function") throw new TypeError("now must be a clock function");
    if (o.minRate > o.maxRate) throw new RangeError(`minRate (${o.minRate}) must not exceed maxRate (${o.maxRate})`);
    if (o.decreaseFactor >= 1) throw new RangeError(`decreaseFactor must be below 1, got ${o.decreaseFactor}`);
    if (o.latencyToleranceRatio <= 1) throw new RangeError(`latencyToleranceRatio must exceed 1, got ${o.latencyToleranceRatio}`);
    if (o.minPlateauMs > o.maxPlateauMs) throw new RangeError("minPlateauMs must not exceed maxPlateauMs");
    const { now, ...rest } = o;
    this.o = rest;
    this.now = now;
    this.createdAt = now();
    this.lastTick = this.createdAt;
    this.bucketStart = this.createdAt;
    this.lastIntegralAt = this.createdAt;
    this.bucketMs = this.o.historyBucketMs;
    this.current = this.clamp(this.o.initialRate);
  }

  /** Requests per second now. */
  get rate(): number {
    return this.current;
  }

  get phase(): RatePhase {
    return this.currentPhase;
  }

  /** The server's limit as last estimated at a cut, requests/s; undefined before the first cut. */
  get limit(): number | undefined {
    return this.cuts > 0 ? this.limitEstimate : undefined;
  }

  /** Counters since creation: starts granted, answers by kind, cuts made. */
  get stats(): { starts: number; ok: number; throttled: number; overloaded: number; errors: number; cuts: number } {
    return { ...this.totals, cuts: this.cuts };
  }

  /**
   * Off: after a cut the rate climbs back to the limit estimate and holds there. Controllers
   * sharing one server's limit (the workers of a campaign) that all probe past it cut whichever of
   * them a probe's refusals land on: together they hold the limit, but their shares drift far
   * apart. With one prober at a time (in a campaign, the worker furthest behind) the others hold
   * their share and the prober finds what is left, as a single controller does.
   */
  setProbing(on: boolean): void {
    this.probing = on;
  }

  /** Milliseconds until the latest Retry-After elapses; 0 when none holds. */
  heldForMs(): number {
    return Math.max(0, this.gateUntil - this.now());
  }

  /**
   * Asks to start a request now. 0: go, now (the start is counted against the rate). Otherwise:
   * wait that many ms, then ask again. The wait is at most maxPollMs, so a rate change or a
   * Retry-After that arrives meanwhile reaches every waiting caller; nothing is reserved ahead.
   */
  acquire(): number {
    const now = this.now();
    this.tick(now);
    const interval = 1000 / this.current;
    // Timers fire late, never early: a little tolerance keeps lateness from eroding the rate, but
    // only a little, since two starts closer than 1/R trip a server bucket that allows no burst.
    const tolerance = Math.min(interval * START_TOLERANCE, MAX_START_TOLERANCE_MS);
    const earliest = Math.max(this.gateUntil, this.tat - tolerance);
    if (now >= earliest) {
      this.tat = Math.max(this.tat, now) + interval;
      this.lastStartAt = now;
      if (this.totals.starts === 0) this.firstStartAt = now;
      this.totals.starts++;
      return 0;
    }
    this.lastHeldAt = now;
    return Math.min(Math.max(earliest - now, 1), this.o.maxPollMs);
  }

  /** Reports the answer to a request started when `acquire()` returned 0. */
  onResult(sample: RateSample): void {
    const now = this.now();
    this.tick(now);
    const latency = Number.isFinite(sample.latencyMs) ? Math.max(0, sample.latencyMs) : 0;
    const startedAt = now - latency;
    switch (sample.kind) {
      case "error":
        this.totals.errors++;
        return;
      case "ok":
        this.totals.ok++;
        this.bucketOk++;
        if (startedAt >= this.lastCutAt) this.okSinceCut++;
        if (startedAt > this.refusedAt) this.okSinceRefused++;
        if (startedAt > this.episodeRefusedAt) this.okSinceEpisode++;
        this.observeLatency(now, latency);
        if (this.latencyAbove(this.o.latencyToleranceRatio) && startedAt >= this.lastCutAt && now - this.lastLatencyCutAt >= LATENCY_CUT_SPACING_MS) {
          this.lastLatencyCutAt = now;
          this.cut(now, startedAt, 0, true);
        } else {
          this.grow(now);
        }
        return;
      case "throttled":
      case "overloaded": {
        if (sample.kind === "throttled") {
          this.totals.throttled++;
          this.bucketThrottled++;
        } else {
          this.totals.overloaded++;
        }
        const retryAfter = sample.retryAfterMs;
        const retryAfterMs = retryAfter !== undefined && Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, this.o.maxRetryAfterMs) : 0;
        if (retryAfterMs > 0) this.gateUntil = Math.max(this.gateUntil, now + retryAfterMs);
        // Answers to requests started before the last cut describe the old rate: already acted on.
        if (startedAt >= this.lastCutAt) this.cut(now, startedAt, retryAfterMs);
        return;
      }
    }
  }

  /** Rate over time with the answers per span, oldest first; at most maxHistoryPoints + 1 points. */
  history(): RateHistoryPoint[] {
    const now = this.now();
    this.tick(now);
    const points = [...this.points];
    const open = now - this.bucketStart;
    if (open > 0 || this.bucketOk > 0 || this.bucketThrottled > 0) {
      const integral = this.bucketRateIntegral + this.current * (now - this.lastIntegralAt);
      points.push(this.point(this.bucketStart, open, integral, this.bucketOk, this.bucketThrottled));
    }
    return points;
  }

  // ---- the control law ------------------------------------------------------------------------

  /** `startedAt`: start of the request whose answer triggered the cut; `retryAfterMs`: its Retry-After, or 0. */
  private cut(now: number, startedAt: number, retryAfterMs: number, latency = false): void {
    const before = this.current;
    if (latency) {
      // A queue is building: the server gets through what it delivers now; pace under that so
      // the queue drains (BBR's idea). Latency cuts stand apart from refusal episodes.
      const delivered = this.deliveryRate(now);
      const estimate = Math.min(before, delivered ?? before);
      this.setRate(now, Math.min(before, this.o.decreaseFactor * estimate));
      this.tat = Math.max(this.tat, this.lastStartAt + 1000 / this.current);
      this.startRecovery(estimate, 0);
      this.streak = 0;
      this.episodeRefusedAt = startedAt;
      this.okSinceEpisode = 0;
      this.lastCutAt = now;
      this.lastCutRetryAfterMs = 0;
      this.okSinceCut = 0;
      this.cuts++;
      return;
    }
    // An episode goes on while refusals come before the rate earned a few ok answers; and, after a
    // Retry-After (whose wait lets the bucket refill, so ok answers come anyway), while they come
    // before the rate even climbed back to where it was refused last time.
    const consecutive =
      this.cuts > 0 &&
      (this.okSinceCut < EPISODE_OKS || (this.lastCutRetryAfterMs > 0 && this.currentPhase === "recover" && before < RECLIMB_RATIO * this.limitEstimate));
    let estimate = before;
    if (consecutive && this.lastCutRetryAfterMs === 0 && retryAfterMs === 0) {
      // The bucket was empty at the episode's first refusal and is empty now: what it accepted in
      // between is what it refilled (±1 request; the +1 keeps the estimate on the high side).
      // Not across a Retry-After wait: the bucket overflows while nobody sends.
      const span = startedAt - this.episodeRefusedAt;
      if (span > 0) estimate = Math.min(before, ((this.okSinceEpisode + 1) * 1000) / span);
    } else if (this.currentPhase === "probe" && before <= RISEN_RATIO * this.limitEstimate) {
      // A probe refused, but not so far past the limit estimate that the limit evidently rose: a
      // server's bucket saves up tokens while the rate sits under its limit and lets a probe run
      // on past the limit before refusing, so the probe's own rate says little. What the bucket
      // accepted since the previous refusal (empty then, empty now) is the limit, or a little
      // under it if it overflowed meanwhile; the rate goes back under the higher of that and the
      // estimate.
      estimate = Math.min(before, Math.max(this.limitEstimate, this.acceptedSinceRefusal(startedAt)));
    } else if (this.currentPhase === "recover" && this.lastCutRetryAfterMs === 0 && retryAfterMs === 0) {
      // Refused on the way back to the estimate, not past it: the estimate is above the limit.
      // The bucket was empty at the last refusal and is empty again, so what it accepted in
      // between is what it refilled: the limit (a little under it if the bucket overflowed
      // meanwhile, which the next probe corrects).
      const accepted = this.acceptedSinceRefusal(startedAt);
      if (accepted > 0) estimate = Math.min(before, accepted);
    } else if (this.currentPhase === "startup") {
      // Slow start ran on past the limit while the server's initial burst lasted: the estimate is
      // the higher of half the rate (as TCP does) and what the server accepted since the first
      // request (its burst included, so above the limit: the next refusal measures it).
      const span = startedAt - this.firstStartAt;
      const accepted = span > 0 ? (this.okSinceRefused * 1000) / span : 0;
      estimate = Math.min(before, Math.max(before / 2, accepted));
    }
    // Under Retry-After each step of an episode costs the whole wait, and the wait refills the
    // server's bucket so the episode estimate flatters it: step deeper each time (×0.81, ×0.66, ×0.5).
    const factor =
      consecutive && this.lastCutRetryAfterMs > 0
        ? Math.max(MIN_CUT_FACTOR, this.o.decreaseFactor ** (2 ** Math.min(this.streak + 1, 3)))
        : this.o.decreaseFactor;
    this.setRate(now, factor * estimate);
    // The next start was scheduled at the old spacing: move it out to the new one.
    this.tat = Math.max(this.tat, this.lastStartAt + 1000 / this.current);

    this.startRecovery(estimate, retryAfterMs);

    this.streak = consecutive ? this.streak + 1 : 0;
    if (!consecutive) {
      this.episodeRefusedAt = startedAt;
      this.okSinceEpisode = 0;
    }
    this.refusedAt = startedAt;
    this.refusedActiveMs = this.activeMs;
    this.okSinceRefused = 0;
    this.lastCutAt = now;
    this.lastCutRetryAfterMs = retryAfterMs;
    this.okSinceCut = 0;
    this.cuts++;
  }

  /** After a cut: climb back towards `estimate`, then probe past it. */
  private startRecovery(estimate: number, retryAfterMs: number): void {
    this.limitEstimate = Math.max(this.clamp(estimate), this.current);
    this.rateAfterCut = this.current;
    // A probe costs a refused request or two, and under Retry-After the whole wait: probe once per
    // plateauRequests requests at most, and at most once per retryAfterPlateau waits.
    const plateau = Math.max(this.o.minPlateauMs, (this.o.plateauRequests * 1000) / this.limitEstimate, this.o.retryAfterPlateau * retryAfterMs);
    this.plateauMs = Math.min(this.o.maxPlateauMs, plateau);
    this.epochActiveMs = this.activeMs;
    this.lastGrowthActiveMs = this.activeMs;
    this.currentPhase = "recover";
  }

  private grow(now: number): void {
    // Latency halfway to overloaded: hold, neither grow nor cut.
    if (this.latencyAbove(1 + (this.o.latencyToleranceRatio - 1) / 2)) return;
    const dt = Math.min(this.activeMs - this.lastGrowthActiveMs, Math.max(MAX_GROWTH_STEP_MS, 2_000 / this.current));
    this.lastGrowthActiveMs = this.activeMs;
    if (dt <= 0) return;
    // Slow start doubles every startupDoublingRequests requests, at most every startupDoublingMs:
    // gently at a few requests/s, where a server's burst allowance hides the limit for longest.
    const startupDoublingMs = Math.max(this.o.startupDoublingMs, (this.o.startupDoublingRequests * 1000) / this.current);
    const ceiling = this.current * 2 ** (dt / Math.min(startupDoublingMs, this.o.probeDoublingMs));
    let target = this.current * 2 ** (dt / startupDoublingMs);
    if (this.currentPhase !== "startup") {
      const t = this.activeMs - this.epochActiveMs;
      if (t <= this.plateauMs || !this.probing) {
        // Concave: quick at first, flattening out at the limit estimate (and holding it, when not probing).
        const gap = this.limitEstimate - this.rateAfterCut;
        target = this.limitEstimate - gap * (1 - Math.min(1, t / this.plateauMs)) ** 3;
      } else {
        // Past the estimate: doubling every probeDoublingRequests requests (as gently at 5 req/s
        // as at 200), easing in over probeMs, never faster than slow start.
        this.currentPhase = "probe";
        const ease = Math.max(Math.min(1, (t - this.plateauMs) / this.o.probeMs), 1e-3);
        // Clean past twice the estimate, the limit evidently rose: find it as fast as slow start can.
        const risen = this.current >= 2 * this.limitEstimate;
        const doublingMs = risen ? this.o.startupDoublingMs : Math.max((this.o.probeDoublingRequests * 1000) / this.current, this.o.probeDoublingMs) / ease;
        target = Math.max(this.current, this.limitEstimate) * 2 ** (dt / doublingMs);
      }
    }
    const next = Math.min(target, ceiling);
    if (next > this.current) this.setRate(now, next);
  }

  /** Requests/s accepted between the last cut's refusal and a refusal of a request started at `startedAt`; 0 if unknown. */
  private acceptedSinceRefusal(startedAt: number): number {
    // No refusal yet (only latency cuts so far): no moment the bucket was known to be empty.
    if (!Number.isFinite(this.refusedAt)) return 0;
    // Over active time only: while callers had nothing to send, or a Retry-After held them, the
    // server's bucket filled up and overflowed, and that time says nothing about its limit.
    const span = Math.min(startedAt - this.refusedAt, this.activeMs - this.refusedActiveMs);
    return span > 0 ? (this.okSinceRefused * 1000) / span : 0;
  }

  private observeLatency(now: number, latency: number): void {
    this.latencySamples++;
    this.recentLatency = this.latencySamples === 1 ? latency : this.recentLatency + RECENT_ALPHA * (latency - this.recentLatency);
    const slots = this.baselineSlots;
    const last = slots[slots.length - 1];
    if (last !== undefined && now - last.at < BASELINE_SLOT_MS) last.min = Math.min(last.min, this.recentLatency);
    else slots.push({ at: now, min: this.recentLatency });
    while (slots.length > 1 && now - slots[0]!.at > BASELINE_WINDOW_MS) slots.shift();
    this.deliveries.push(now);
    while (this.deliveries.length > 0 && now - this.deliveries[0]! > DELIVERY_WINDOW_MS) this.deliveries.shift();
  }

  private baselineLatency(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const slot of this.baselineSlots) min = Math.min(min, slot.min);
    return min;
  }

  private latencyAbove(ratio: number): boolean {
    if (this.latencySamples < LATENCY_WARMUP_SAMPLES) return false;
    const baseline = this.baselineLatency();
    return this.recentLatency > baseline * ratio && this.recentLatency - baseline > this.o.minLatencyRiseMs;
  }

  /** ok answers per second over the last DELIVERY_WINDOW_MS: what the server gets through when it queues. */
  private deliveryRate(now: number): number | undefined {
    const d = this.deliveries;
    while (d.length > 0 && now - d[0]! > DELIVERY_WINDOW_MS) d.shift();
    if (d.length < DELIVERY_MIN_SAMPLES) return undefined;
    return ((d.length - 1) * 1000) / Math.max(1, d[d.length - 1]! - d[0]!);
  }

  // ---- bookkeeping ----------------------------------------------------------------------------

  /** Moves the clocks to `now`: active time for growth, and the history buckets. */
  private tick(now: number): void {
    if (now > this.lastTick) {
      // Time under a Retry-After is not paced time; nor is time nobody waited on the rate.
      const ungated = now - Math.min(now, Math.max(this.lastTick, this.gateUntil));
      const demanded = now - this.lastHeldAt <= Math.max(1_000, 2_000 / this.current);
      if (demanded) this.activeMs += ungated;
      this.lastTick = now;
    }
    while (now - this.bucketStart >= this.bucketMs) {
      const end = this.bucketStart + this.bucketMs;
      const integral = this.bucketRateIntegral + this.current * (end - this.lastIntegralAt);
      this.points.push(this.point(this.bucketStart, this.bucketMs, integral, this.bucketOk, this.bucketThrottled));
      this.bucketStart = end;
      this.lastIntegralAt = end;
      this.bucketRateIntegral = 0;
      this.bucketOk = 0;
      this.bucketThrottled = 0;
      if (this.points.length >= this.o.maxHistoryPoints) this.compactHistory();
    }
  }

  private point(start: number, spanMs: number, integral: number, ok: number, throttled: number): RateHistoryPoint {
    return { atMs: start - this.createdAt, spanMs, rate: round2(spanMs > 0 ? integral / spanMs : this.current), ok, throttled };
  }

  /** Merges neighbouring points: the history keeps covering the whole run at half the detail. */
  private compactHistory(): void {
    const merged: RateHistoryPoint[] = [];
    for (let i = 0; i < this.points.length; i += 2) {
      const a = this.points[i]!;
      const b = this.points[i + 1];
      if (b === undefined) {
        merged.push(a);
        continue;
      }
      const spanMs = a.spanMs + b.spanMs;
      merged.push({
        atMs: a.atMs,
        spanMs,
        rate: round2((a.rate * a.spanMs + b.rate * b.spanMs) / spanMs),
        ok: a.ok + b.ok,
        throttled: a.throttled + b.throttled,
      });
    }
    this.points.splice(0, this.points.length, ...merged);
    this.bucketMs *= 2;
  }

  private setRate(now: number, rate: number): void {
    const next = this.clamp(rate);
    if (next === this.current) return;
    if (now > this.lastIntegralAt) {
      this.bucketRateIntegral += this.current * (now - this.lastIntegralAt);
      this.lastIntegralAt = now;
    }
    this.current = next;
  }

  private clamp(rate: number): number {
    return Math.min(this.o.maxRate, Math.max(this.o.minRate, rate));
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
