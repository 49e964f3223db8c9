/**
 * Seeded pseudo-random numbers. The simulator must replay the same faults, jitter and codes for
 * the same seed, so nothing here may touch Math.random or crypto.
 */

export type Random = () => number;

/** mulberry32: tiny, fast, and good enough for fault injection; returns [0, 1). */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * An independent stream per purpose, so that turning a fault on does not change which codes are
 * generated, and concurrency in one stream does not reorder another.
 */
export function derivedRandom(seed: number, stream: string): Random {
  let h = (seed >>> 0) ^ 0x9e3779b9;
  for (let i = 0; i < stream.length; i++) {
    h = Math.imul(h ^ stream.charCodeAt(i), 0x85ebca6b);
    h ^= h >>> 13;
  }
  return mulberry32(h);
}
