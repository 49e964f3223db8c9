import { growable, grownTo } from "../growable-array.js";

/**
 * A set of 128-bit keys (UUIDs, or 32-hex-digit digests) mapped to dense ids 0, 1, 2, …, held in
 * typed arrays: about 24 bytes per key, against some 150 for a Map of strings. The key is the whole
 * 128 bits, not a hash of them, so two different keys can never share an id.
 */

// Resume looks up every row of the file, so these two run a million times: no regex, no toString.
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE["0123456789abcdef".charCodeAt(i)] = i;
const BYTE_HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const HYPHEN = 45;

/** The four 32-bit words of a UUID or a 32-hex-digit key (lower case); undefined for anything else. */
export function keyWords(key: string): [number, number, number, number] | undefined {
  const dashed = key.length === 36;
  if (!dashed && key.length !== 32) return undefined;
  if (dashed && (key.charCodeAt(8) !== HYPHEN || key.charCodeAt(13) !== HYPHEN || key.charCodeAt(18) !== HYPHEN || key.charCodeAt(23) !== HYPHEN))
    return undefined;
  const words: [number, number, number, number] = [0, 0, 0, 0];
  let digits = 0;
  let word = 0;
  for (let i = 0; i < key.length; i++) {
    if (dashed && (i === 8 || i === 13 || i === 18 || i === 23)) continue;
    const code = key.charCodeAt(i);
    const value = code < 128 ? (HEX_VALUE[code] ?? -1) : -1;
    if (value < 0) return undefined;
    word = word * 16 + value;
    if (++digits % 8 === 0) {
      words[digits / 8 - 1] = word;
      word = 0;
    }
  }
  return words;
}

function hex8(word: number): string {
  return (BYTE_HEX[word >>> 24] ?? "") + (BYTE_HEX[(word >>> 16) & 255] ?? "") + (BYTE_HEX[(word >>> 8) & 255] ?? "") + (BYTE_HEX[word & 255] ?? "");
}

export function uuidFromWords(a: number, b: number, c: number, d: number): string {
  const h = hexFromWords(a, b, c, d);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function hexFromWords(a: number, b: number, c: number, d: number): string {
  return hex8(a) + hex8(b) + hex8(c) + hex8(d);
}

export class UuidIndex {
  /** Open addressing: slot → id + 1 (0 = empty). */
  private slots: Int32Array = growable(Int32Array, 1024);
  /** id → its four key words. */
  private keys: Uint32Array = growable(Uint32Array, 4 * 512);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The id of `key`, or -1. Throws for a key that is not 128 bits of hex. */
  idOf(key: string): number {
    const slot = this.find(this.words(key));
    return slot >= 0 ? (this.slots[slot] ?? 0) - 1 : -1;
  }

  /** The id of `key`, adding it when new; `added` tells which. */
  add(key: string): { id: number; added: boolean } {
    const words = this.words(key);
    const found = this.find(words);
    if (found >= 0) return { id: (this.slots[found] ?? 0) - 1, added: false };
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    const id = this.count++;
    if (id * 4 >= this.keys.length) this.keys = grownTo(this.keys, this.keys.length * 2);
    this.keys.set(words, id * 4);
    this.slots[this.emptySlotFor(words)] = id + 1;
    return { id, added: true };
  }

  /** The key of an id as a UUID string. */
  uuidAt(id: number): string {
    const k = this.keys;
    const i = id * 4;
    return uuidFromWords(k[i] ?? 0, k[i + 1] ?? 0, k[i + 2] ?? 0, k[i + 3] ?? 0);
  }

  private words(key: string): [number, number, number, number] {
    const words = keyWords(key);
    if (!words) throw new TypeError(`not a 128-bit hex key: ${JSON.stringify(key)}`);
    return words;
  }

  private find(words: readonly [number, number, number, number]): number {
    const mask = this.slots.length - 1;
    for (let slot = spread(words) & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot] ?? 0;
      if (entry === 0) return -1;
      const i = (entry - 1) * 4;
      const k = this.keys;
      if (k[i] === words[0] && k[i + 1] === words[1] && k[i + 2] === words[2] && k[i + 3] === words[3]) return slot;
    }
  }

  private emptySlotFor(words: ArrayLike<number>): number {
    const mask = this.slots.length - 1;
    let slot = spread(words) & mask;
    while ((this.slots[slot] ?? 0) !== 0) slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = growable(Int32Array, old.length * 2);
    for (const entry of old) if (entry !== 0) this.slots[this.emptySlotFor(this.keys.subarray((entry - 1) * 4, entry * 4))] = entry;
  }
}

/** Mixes all 128 bits (murmur3's finalizer), so keys that differ only in their tail still spread. */
function spread(words: ArrayLike<number>): number {
  return keySpread(words[0] ?? 0, words[1] ?? 0, words[2] ?? 0, words[3] ?? 0);
}

export function keySpread(w0: number, w1: number, w2: number, w3: number): number {
  return fmix(w0 ^ w1 ^ w2 ^ w3);
}

/**
 * 16 bits of a key independent of its slot (keySpread mixes the words' XOR; this chains them), so
 * a probe can pass a slot whose key differs without reading that key (see paged-rows.ts).
 */
export function keyTag(w0: number, w1: number, w2: number, w3: number): number {
  return fmix(w3 ^ fmix(w2 ^ fmix(w1 ^ fmix(w0)))) >>> 16;
}

function fmix(word: number): number {
  let h = word;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
