import { mulberry32 } from "../../../src/simulator/prng.js";

/**
 * One seed drives every random choice of the proof suite: kill moments, fault draws, generated
 * inputs, secrets. Set PROOF_SEED to replay a failure; every failure message names the seed.
 */

export const DEFAULT_PROOF_SEED = 20260501;

function parseSeed(text: string | undefined): number {
  if (text === undefined || text.trim() === "") return DEFAULT_PROOF_SEED;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`PROOF_SEED must be an integer 0..4294967295, got ${JSON.stringify(text)}`);
  }
  return value;
}

export const PROOF_SEED = parseSeed(process.env.PROOF_SEED);

/** A 32-bit seed for one named stream (FNV-1a of seed and label), so streams do not interfere. */
export function subSeed(label: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(`${PROOF_SEED}:${label}`, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** A seeded PRNG in [0, 1) for one named stream. */
export function rngFor(label: string): () => number {
  return mulberry32(subSeed(label));
}

export function intBetween(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function shuffled<T>(random: () => number, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** Appended to every failure message: how to replay exactly this run. */
export function replay(file: string): string {
  return `[PROOF_SEED=${PROOF_SEED}; replay: PROOF_SEED=${PROOF_SEED} node --import tsx --test ${file}]`;
}
