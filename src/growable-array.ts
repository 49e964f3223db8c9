/**
 * Typed-array columns that grow in place: the big per-row structures (the checkpoint's row index,
 * the planner's duplicate check) live in resizable ArrayBuffers. V8 reserves such a buffer as
 * address space and commits its pages as it grows, outside malloc. So:
 * - growing copies nothing, and never holds an old and a new column at once;
 * - a freed column's pages go back to the system.
 * A plain ArrayBuffer comes from malloc. glibc raises its mmap and trim thresholds to the size of
 * every large block freed (mallopt(3), M_MMAP_THRESHOLD), up to 32 MiB. After a million-row plan
 * grew its columns by doubling, some 25 MB freed in the malloc heap stayed in the process to the
 * end of the run (measured: see bench/README.md).
 */

type Column = Uint8Array | Int32Array | Uint32Array | Float64Array;

interface ColumnType<T extends Column> {
  new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

/** Address space reserved per column: 1 GiB, 67 million 16-byte keys. Only committed pages cost memory. */
const RESERVE_BYTES = 2 ** 30;

/** A zero-filled column of `length` elements that grownTo can extend in place. */
export function growable<T extends Column>(type: ColumnType<T>, length: number): T {
  return new type(reserve(length * type.BYTES_PER_ELEMENT), 0, length);
}

/**
 * `array` with at least `length` elements, its contents kept and the rest zero: the same memory
 * extended when `array` is a whole growable column, else a growable copy.
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
    return new ArrayBuffer(bytes, { maxByteLength: Math.max(bytes, RESERVE_BYTES) });
  } catch {
    // No address space to reserve (a 32-bit process, a tight ulimit -v): a plain buffer still works.
    return new ArrayBuffer(bytes);
  }
}
