/** Small statistics over repeated samples: medians and spreads, never means of noisy runs. */

export interface Spread {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The q-quantile (0..1) by rank, no interpolation: a value that was measured. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function spread(values: readonly number[]): Spread {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { n: 0, median: Number.NaN, min: Number.NaN, max: Number.NaN };
  return { n: finite.length, median: median(finite), min: Math.min(...finite), max: Math.max(...finite) };
}

export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** "1.23 (1.10–1.40)" */
export function fmt(s: Spread, digits = 2): string {
  if (s.n === 0) return "n/a";
  const f = (v: number): string => v.toFixed(digits);
  return s.n === 1 ? `${f(s.median)} (n=1)` : `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

/**
 * How long a rate took to follow a new limit: seconds from `from` to the end of the first 2-s
 * window (whole seconds counted from `from`, ending by `to`) whose event rate is within ±15 % of
 * `limit`; null if none. `times`: when each event (a success) happened, ms, in any order.
 */
export function followSeconds(times: readonly number[], from: number, to: number, limit: number): number | null {
  const buckets = new Array<number>(Math.max(0, Math.floor((to - from) / 1000))).fill(0);
  for (const t of times) {
    const i = Math.floor((t - from) / 1000);
    if (i >= 0 && i < buckets.length) buckets[i]!++;
  }
  for (let s = 2; s <= buckets.length; s++) {
    const rate = (buckets[s - 2]! + buckets[s - 1]!) / 2;
    if (rate >= 0.85 * limit && rate <= 1.15 * limit) return s;
  }
  return null;
}
