import type { InputItem } from "./input-rows.js";
import { fingerprintOf } from "./prepared-row.js";

/**
 * A batch of input items in a form that crosses between threads cheaply. Structured clone copies
 * an object graph property by property: some 4 µs a row to receive a prepared row, more than
 * reading and checking it. Here every string of a batch's valid rows travels as one string with a
 * table of end offsets, and their numbers as one typed array, so the receiver pays a few slices
 * and three small objects a row. Headers, empty and invalid rows are rare and go as they are.
 *
 * A row may travel without its fingerprint (empty: the reader thread leaves it, see
 * input-reader-worker.ts), and `unpackBatch` derives it: of the reader's work, the body's
 * serialization and SHA-256 are the share that balances the two threads of a plan pass.
 */
export interface PackedBatch {
  /** How many items the batch holds, in input order. */
  length: number;
  /** The strings of the valid rows, in the order `unpackBatch` reads them, back to back. */
  text: string;
  /** End offset in `text` of each string. */
  ends: Uint32Array;
  /** Per valid row: its field count, row number and amount. */
  numbers: Float64Array;
  /** Every other item, with its place in the batch. */
  others: { at: number; item: InputItem }[];
}

export function packBatch(items: readonly InputItem[]): PackedBatch {
  const strings: string[] = [];
  const numbers: number[] = [];
  const others: PackedBatch["others"] = [];
  for (let at = 0; at < items.length; at++) {
    const item = items[at] as InputItem;
    if (item.kind !== "row") {
      others.push({ at, item });
      continue;
    }
    const { fields, prepared } = item;
    const { request } = prepared;
    // unpackBatch reads them back in this order: the fields, then the row's seven strings.
    for (const field of fields) strings.push(field);
    strings.push(prepared.recipientId, request.requestId, request.groupId, request.giftCardName, request.startAt, request.endAt, prepared.fingerprint);
    numbers.push(fields.length, prepared.row, request.giftCardValue);
  }
  const ends = new Uint32Array(strings.length);
  let end = 0;
  for (let i = 0; i < strings.length; i++) ends[i] = end += (strings[i] as string).length;
  return { length: items.length, text: strings.join(""), ends, numbers: Float64Array.from(numbers), others };
}

export function unpackBatch(packed: PackedBatch): InputItem[] {
  const { text, ends, numbers, others } = packed;
  const items = new Array<InputItem>(packed.length);
  for (const { at, item } of others) items[at] = item;
  let s = 0;
  let start = 0;
  const next = (): string => {
    const end = ends[s++] as number;
    const value = text.slice(start, end);
    start = end;
    return value;
  };
  let n = 0;
  for (let at = 0; at < items.length; at++) {
    if (items[at] !== undefined) continue;
    const fieldCount = numbers[n++] as number;
    const row = numbers[n++] as number;
    const giftCardValue = numbers[n++] as number;
    const fields = new Array<string>(fieldCount);
    for (let f = 0; f < fieldCount; f++) fields[f] = next();
    const recipientId = next();
    const requestId = next();
    const groupId = next();
    const giftCardName = next();
    const startAt = next();
    const endAt = next();
    const fingerprint = next();
    const request = { requestId, groupId, giftCardName, giftCardValue, startAt, endAt };
    items[at] = { kind: "row", fields, prepared: { row, recipientId, request, fingerprint: fingerprint === "" ? fingerprintOf(request) : fingerprint } };
  }
  if (s !== ends.length || n !== numbers.length) throw new Error(`unpackBatch: read ${s} of ${ends.length} strings and ${n} of ${numbers.length} numbers`);
  return items;
}
