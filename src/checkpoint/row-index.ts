import { growable, grownTo } from "../growable-array.js";
import { hexFromWords, keyWords, UuidIndex, type UuidIndexParts } from "./uuid-index.js";
import type { RowState } from "./records.js";

/**
 * What the checkpoint knows of each requestId, in typed-array columns (about 60 bytes a row), so
 * a million-row campaign resumes in bounded memory. `get` materializes a small RowState on demand.
 */

const STATUS = ["sent", "issued", "failed", "pending"] as const;
export type Status = (typeof STATUS)[number];

/** A RowIndex's columns (see index-file.ts): parts() trims them to the rows held; fromParts() takes longer ones as room to grow. */
export interface RowIndexParts {
  ids: UuidIndexParts;
  status: Uint8Array;
  inDoubt: Uint8Array;
  attempts: Uint32Array;
  fingerprint: Uint32Array;
  outcomeOffset: Float64Array;
  outcomeLength: Uint32Array;
}

export class RowIndex {
  private ids = new UuidIndex();
  private status: Uint8Array = growable(Uint8Array, 1024);
  private inDoubt: Uint8Array = growable(Uint8Array, 1024);
  private attempts: Uint32Array = growable(Uint32Array, 1024);
  private fingerprint: Uint32Array = growable(Uint32Array, 4 * 1024);
  private outcomeOffset: Float64Array = growable(Float64Array, 1024);
  /** 0 when no outcome was recorded yet. */
  private outcomeLength: Uint32Array = growable(Uint32Array, 1024);

  get size(): number {
    return this.ids.size;
  }

  static fromParts(parts: RowIndexParts): RowIndex {
    const index = new RowIndex();
    const n = parts.ids.count;
    const sizes = [
      parts.status.length,
      parts.inDoubt.length,
      parts.attempts.length,
      parts.fingerprint.length / 4,
      parts.outcomeOffset.length,
      parts.outcomeLength.length,
    ];
    if (sizes.some((size) => size < n || size !== sizes[0])) throw new TypeError("inconsistent RowIndex parts");
    index.ids = UuidIndex.fromParts(parts.ids);
    index.status = parts.status;
    index.inDoubt = parts.inDoubt;
    index.attempts = parts.attempts;
    index.fingerprint = parts.fingerprint;
    index.outcomeOffset = parts.outcomeOffset;
    index.outcomeLength = parts.outcomeLength;
    return index;
  }

  /** Views of the live columns, trimmed to the rows held (not copies). */
  parts(): RowIndexParts {
    const n = this.size;
    return {
      ids: this.ids.parts(),
      status: this.status.subarray(0, n),
      inDoubt: this.inDoubt.subarray(0, n),
      attempts: this.attempts.subarray(0, n),
      fingerprint: this.fingerprint.subarray(0, n * 4),
      outcomeOffset: this.outcomeOffset.subarray(0, n),
      outcomeLength: this.outcomeLength.subarray(0, n),
    };
  }

  /** The row's dense id, -1 when the index does not hold it. */
  idOf(requestId: string): number {
    // The planner asks for a row's id and then its state: the second lookup is free. Only a hit is
    // remembered: a requestId's id never changes once given, while a miss may be added next.
    if (requestId === this.lastKey) return this.lastId;
    const id = this.ids.idOf(requestId);
    if (id >= 0) {
      this.lastKey = requestId;
      this.lastId = id;
    }
    return id;
  }

  private lastKey: string | undefined;
  private lastId = -1;

  get(requestId: string): RowState | undefined {
    const id = this.idOf(requestId);
    return id < 0 ? undefined : this.stateAt(id);
  }

  set(requestId: string, state: RowState): void {
    const fp = fingerprintWords(state.fp);
    const { id } = this.ids.add(requestId);
    this.ensure(id);
    this.status[id] = STATUS.indexOf(state.status as Status);
    this.inDoubt[id] = state.inDoubt ? 1 : 0;
    this.attempts[id] = state.attempts;
    this.fingerprint.set(fp, id * 4);
    this.outcomeOffset[id] = state.outcomeAt?.offset ?? 0;
    this.outcomeLength[id] = state.outcomeAt?.length ?? 0;
  }

  /**
   * A `sent` record: the row may be out, outcome unknown. Keeps attempts and the last outcome's
   * place; the same as set() with the spread state, without materializing it (replay does this per row).
   */
  markSent(requestId: string, fingerprint: string): void {
    const fp = fingerprintWords(fingerprint);
    const { id } = this.ids.add(requestId);
    this.ensure(id);
    this.status[id] = STATUS.indexOf("sent");
    this.inDoubt[id] = 1;
    this.fingerprint.set(fp, id * 4);
  }

  /** An `outcome` record at `offset`: attempts add up; the rest is the outcome's. */
  markOutcome(requestId: string, fingerprint: string, status: Status, inDoubt: boolean, attempts: number, offset: number, length: number): void {
    const fp = fingerprintWords(fingerprint);
    const { id } = this.ids.add(requestId);
    this.ensure(id);
    this.status[id] = STATUS.indexOf(status);
    this.inDoubt[id] = inDoubt ? 1 : 0;
    this.attempts[id] = (this.attempts[id] ?? 0) + attempts;
    this.fingerprint.set(fp, id * 4);
    this.outcomeOffset[id] = offset;
    this.outcomeLength[id] = length;
  }

  *entries(): IterableIterator<[string, RowState]> {
    for (let id = 0; id < this.ids.size; id++) yield [this.ids.uuidAt(id), this.stateAt(id)];
  }

  private stateAt(id: number): RowState {
    const f = this.fingerprint;
    const length = this.outcomeLength[id] ?? 0;
    return {
      fp: hexFromWords(f[id * 4] ?? 0, f[id * 4 + 1] ?? 0, f[id * 4 + 2] ?? 0, f[id * 4 + 3] ?? 0),
      status: STATUS[this.status[id] ?? 0] ?? "sent",
      inDoubt: this.inDoubt[id] === 1,
      attempts: this.attempts[id] ?? 0,
      outcomeAt: length > 0 ? { offset: this.outcomeOffset[id] ?? 0, length } : undefined,
    };
  }

  private ensure(id: number): void {
    if (id < this.status.length) return;
    // Columns loaded from an index file hold exactly their rows, possibly none.
    const size = Math.max(1024, this.status.length * 2);
    this.status = grownTo(this.status, size);
    this.inDoubt = grownTo(this.inDoubt, size);
    this.attempts = grownTo(this.attempts, size);
    this.fingerprint = grownTo(this.fingerprint, size * 4);
    this.outcomeOffset = grownTo(this.outcomeOffset, size);
    this.outcomeLength = grownTo(this.outcomeLength, size);
  }
}

function fingerprintWords(fp: string): [number, number, number, number] {
  const words = keyWords(fp);
  if (!words) throw new TypeError(`fingerprint must be 32 hex digits, got ${JSON.stringify(fp)}`);
  return words;
}
