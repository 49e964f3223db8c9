/**
 * Sweeps the rate controller through the deterministic world (test/support/rate-world.ts) the way
 * `npm run bench -- --only adaptive` measures it, in seconds instead of minutes: steady limits over
 * several seeds, and the 10 → 100 step at many moments of the controller's cycle (the bench sees
 * only two). Options to try go in as JSON: `node --import tsx scripts/tune-rate-controller.ts '{"plateauRequests":60}'`.
 */
import { followSeconds, quantile } from "../bench/lib/stats.js";
import { runWorld, window, type WorldRun } from "../test/support/rate-world.js";
import type { RateControllerOptions } from "../src/job/rate-controller.js";

const options = JSON.parse(process.argv[2] ?? "{}") as Partial<RateControllerOptions>;
const seeds = [1, 2, 3, 4, 5, 6];
/** Latency jitter, ms: the real loopback and timers add a few. */
const JITTER = Number(process.env.JITTER ?? 5);

/** The bench's follow time, from the ok answers (the bench counts the simulator's commits). */
function benchFollow(run: WorldRun, from: number, limit: number): number {
  return followSeconds(run.okAt, from, from + 30_000, limit) ?? Number.POSITIVE_INFINITY;
}

for (const limit of [5, 10, 50, 200]) {
  const ratios: number[] = [];
  const shares: number[] = [];
  let startupRefused = 0;
  for (const seed of seeds) {
    const run = runWorld({ limits: [[0, limit]], durationMs: 65_000, jitterMs: JITTER, seed, options });
    const whole = window(run, 0, 65_000);
    ratios.push(whole.okPerSecond / limit);
    shares.push(100 * whole.throttledShare);
    startupRefused += window(run, 0, 10_000).throttled;
  }
  console.log(
    `R=${limit}: ratio min ${Math.min(...ratios).toFixed(3)} med ${quantile(ratios, 0.5).toFixed(3)}; 429 % med ${quantile(shares, 0.5).toFixed(2)} max ${Math.max(...shares).toFixed(2)}; refused in first 10 s ${(startupRefused / seeds.length).toFixed(1)}/run`,
  );
}

const follows: number[] = [];
const downs: number[] = [];
const shares10: number[] = [];
for (const seed of seeds.slice(0, 3)) {
  for (let offset = 0; offset < 10_000; offset += 500) {
    const up = 60_000 + offset;
    const run = runWorld({
      limits: [
        [0, 50],
        [30_000, 10],
        [up, 100],
      ],
      durationMs: up + 25_000,
      jitterMs: JITTER,
      seed,
      options,
    });
    follows.push(benchFollow(run, up, 100));
    if (offset === 0) downs.push(benchFollow(run, 30_000, 10));
    shares10.push(100 * window(run, 40_000, up).throttledShare);
  }
}
console.log(`step 50→10: follow s ${downs.join(",")}`);
console.log(
  `step 10→100 (${follows.length} change moments): median ${quantile(follows, 0.5)} s, p90 ${quantile(follows, 0.9)} s, worst ${Math.max(...follows)} s; at R=10 429 % med ${quantile(shares10, 0.5).toFixed(2)} max ${Math.max(...shares10).toFixed(2)}`,
);
