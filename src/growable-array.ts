/**
 * Typed-array columns that grow in place: the big per-row structures (the checkpoint's row index,
 * the planner's duplicate check) live, once past 64 KiB, in resizable ArrayBuffers. V8 reserves such
 * a buffer as address space and commits its pages as it grows, outside malloc. So:
 * - growing copies nothing, and never holds an old and a new column at once;
 * - a freed column's pages go back to the system.
 * A plain ArrayBuffer comes from malloc. glibc raises its mmap and trim thresholds to the size of
 * every large block freed (mallopt(3), M_MMAP_THRESHOLD), up to 32 MiB. After a million-row plan
 * grew its columns by doubling, some 25 MB freed in the malloc heap stayed in the process to the
 * end of the run (measured: see bench/README.md). Small columns stay plain: malloc serves blocks
 * under its threshold from its heap, where freeing them moves no threshold.
 */

type Column = Uint8Array | Uint16Array | Int32Array | Uint32Array | Float64Array;

interface ColumnType<T extends Column> {
  new (length: number): T;
  new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

/** Below this a column is a plain typed array (glibc's default mmap threshold is 128 KiB). */
const PLAIN_BYTES = 64 * 1024;
/** Address space reserved for a growable column at least: only committed pages cost memory. */
const RESERVE_BYTES = 256 * 1024 * 1024;

/** A zero-filled column of `length` elements that grownTo can extend (in place once it is big). */
export function growable<T extends Column>(type: ColumnType<T>, length: number): T {
  const bytes = length * type.BYTES_PER_ELEMENT;
  if (bytes < PLAIN_BYTES) return new type(length);
  return new type(reserve(bytes), 0, length);
}

/**
 * `array` with at least `length` elements, its contents kept and the rest zero: the same memory
 * extended when `array` is a whole growable column with room, else a new column holding a copy.
 */
export function grownTo<T extends Column>(array: T, length: number): T {
  if (length <= array.length) return array;
  const type = array.constructor as ColumnType<T>;
  const bytes = length * type.BYTES_PER_ELEMENT;
  const buffer = array.buffer;
  if (buffer instanceof ArrayBuffer && buffer.resizable && array.byteOffset === 0 && array.byteLength === buffer.byteLength && bytes <= buffer.maxByteLength) {
    buffer.resize(bytes);
    return new type(buffer, 0, length);
  }
  const copy = growable(type, length);
  copy.set(array as never);
  return copy;
}

function reserve(bytes: number): ArrayBuffer {
  try {
    return new ArrayBuffer(bytes, { maxByteLength: Math.max(bytes * 4, RESERVE_BYTES) });
  } catch {
    // No address space to reserve (a 32-bit process, a tight ulimit -v): a plain buffer still works.
    return new ArrayBuffer(bytes);
  }
}
