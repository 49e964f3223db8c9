/**
 * The per-row columns of the checkpoint's row index, and their order in the index file
 * (index-file.ts), where each is stored whole, one after the other, after the slot table.
 */
export interface RowColumns {
  /** The requestId's four 32-bit words. */
  keys: Uint32Array;
  status: Uint8Array;
  inDoubt: Uint8Array;
  attempts: Uint32Array;
  /** The body fingerprint's four 32-bit words. */
  fingerprint: Uint32Array;
  outcomeOffset: Float64Array;
  /** 0 when no outcome was recorded yet. */
  outcomeLength: Uint32Array;
}

export type RowColumn = keyof RowColumns;

/** Each column with its elements per row and their type, in file order. */
export const ROW_COLUMNS = [
  { name: "keys", type: Uint32Array, perRow: 4 },
  { name: "status", type: Uint8Array, perRow: 1 },
  { name: "inDoubt", type: Uint8Array, perRow: 1 },
  { name: "attempts", type: Uint32Array, perRow: 1 },
  { name: "fingerprint", type: Uint32Array, perRow: 4 },
  { name: "outcomeOffset", type: Float64Array, perRow: 1 },
  { name: "outcomeLength", type: Uint32Array, perRow: 1 },
] as const satisfies readonly { name: RowColumn; type: { BYTES_PER_ELEMENT: number }; perRow: number }[];

/** Bytes a row takes in a column. */
export function columnWidth(name: RowColumn): number {
  const column = ROW_COLUMNS.find((c) => c.name === name) as (typeof ROW_COLUMNS)[number];
  return column.type.BYTES_PER_ELEMENT * column.perRow;
}

/** Bytes a row takes across all columns (50). */
export const ROW_BYTES = ROW_COLUMNS.reduce((sum, c) => sum + columnWidth(c.name), 0);

/** Zero-filled columns for `rows` rows, each a view of one shared buffer. */
export function newRowColumns(rows: number): RowColumns {
  const buffer = new ArrayBuffer(rows * ROW_BYTES);
  let at = 0;
  const view = <T>(make: (offset: number) => T, bytes: number): T => {
    const v = make(at);
    at += bytes;
    return v;
  };
  // Widest elements first, so every view starts aligned for its type.
  const outcomeOffset = view((o) => new Float64Array(buffer, o, rows), rows * 8);
  const keys = view((o) => new Uint32Array(buffer, o, rows * 4), rows * 16);
  const fingerprint = view((o) => new Uint32Array(buffer, o, rows * 4), rows * 16);
  const attempts = view((o) => new Uint32Array(buffer, o, rows), rows * 4);
  const outcomeLength = view((o) => new Uint32Array(buffer, o, rows), rows * 4);
  const status = view((o) => new Uint8Array(buffer, o, rows), rows);
  const inDoubt = view((o) => new Uint8Array(buffer, o, rows), rows);
  return { keys, status, inDoubt, attempts, fingerprint, outcomeOffset, outcomeLength };
}

/** All of the buffer newRowColumns made (every column's rows, back to back). */
export function wholeBuffer(columns: RowColumns): Uint8Array {
  return new Uint8Array(columns.keys.buffer);
}

/** The bytes of rows [from, to) of a column, as the index file stores them (a view, not a copy). */
export function columnBytes(columns: RowColumns, name: RowColumn, from: number, to: number): Uint8Array {
  const column = columns[name];
  const width = columnWidth(name);
  return new Uint8Array(column.buffer, column.byteOffset + from * width, (to - from) * width);
}
