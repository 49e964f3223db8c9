import type { FileHandle } from "node:fs/promises";

/** The journal's bytes are read a block at a time: some 400 outcome records, one read. */
const BLOCK_BYTES = 1 << 18;
/** Blocks kept: the one being read, the one before it and the one read ahead. */
const KEPT = 3;
/** Buffers of blocks let go, kept for the next reads: one for the block read ahead, one to spare. */
const SPARE = 2;

/**
 * Reads of records from an append-only journal, served from a few aligned blocks with the next one
 * read ahead. A result pass reads a million outcomes in input order, which is close to the order
 * they were written but not the same (requests end out of order): aligned blocks, the last few
 * kept, serve a record written a little before the one just read without a new read, and the block
 * read ahead is there by the time the pass reaches it. A single window that restarted at each
 * record it lacked read most bytes twice, and the pass waited on every read (issue #15).
 *
 * The journal only grows: a full block never changes, and a block read short at the end of the
 * file is read again when a record reaches past it.
 */
export class JournalBlocks {
  private readonly blocks = new Map<number, Buffer>();
  private readonly reading = new Map<number, Promise<Buffer>>();
  private lastUsed = -1;
  /** Reads under way (see letGo). */
  private readers = 0;
  /** Memory of blocks let go, for the next reads. */
  private readonly spare: Buffer[] = [];

  constructor(
    private readonly handle: FileHandle,
    /** Smaller in tests, so that few bytes cross many blocks. */
    private readonly blockBytes = BLOCK_BYTES,
  ) {}

  /**
   * `length` bytes at `offset` when the blocks at hand hold them, without waiting. A view into a
   * block, whose memory is used again once the block is let go: read it before anything else is
   * asked of this object and before the caller next waits.
   */
  cached(offset: number, length: number): Buffer | undefined {
    const index = Math.floor(offset / this.blockBytes);
    const block = this.blocks.get(index);
    const start = offset - index * this.blockBytes;
    if (block === undefined || start + length > block.length) return undefined;
    if (index !== this.lastUsed) this.use(index, block);
    return block.subarray(start, start + length);
  }

  /** `length` bytes at `offset` (fewer only past the end of the file): a copy, the caller's to keep. */
  async read(offset: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    this.readers++;
    try {
      const first = Math.floor(offset / this.blockBytes);
      const last = Math.floor((offset + length - 1) / this.blockBytes);
      const pieces: Buffer[] = [];
      for (let index = first; index <= last; index++) {
        const end = offset + length - index * this.blockBytes;
        let block = this.blocks.get(index);
        // A block read short at the end of the file is read again once a record reaches past it.
        if (block === undefined || block.length < Math.min(end, this.blockBytes)) block = await this.load(index, block !== undefined);
        this.use(index, block);
        // Copied at once: while the next block is awaited, this one may be let go and read into again.
        pieces.push(Buffer.from(block.subarray(index === first ? offset - index * this.blockBytes : 0, Math.min(block.length, end))));
        if (block.length < this.blockBytes) break;
      }
      return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
    } finally {
      this.readers--;
    }
  }

  /** The block in use: the most recently used (the oldest is the one let go), with the next one read ahead. */
  private use(index: number, block: Buffer): void {
    this.lastUsed = index;
    this.keep(index, block);
    if (block.length === this.blockBytes && !this.blocks.has(index + 1)) this.load(index + 1, false).catch(() => undefined);
  }

  /** One read per block at a time; `again` reads a block anew (it was short, and the journal has grown). */
  private load(index: number, again: boolean): Promise<Buffer> {
    const running = this.reading.get(index);
    if (running !== undefined && !again) return running;
    const reading = this.handle
      .read(this.spare.pop() ?? Buffer.allocUnsafeSlow(this.blockBytes), 0, this.blockBytes, index * this.blockBytes)
      .then(({ buffer, bytesRead }) => {
        const block = buffer.subarray(0, bytesRead);
        if (this.reading.get(index) === reading) {
          this.reading.delete(index);
          this.keep(index, block);
        }
        return block;
      });
    this.reading.set(index, reading);
    reading.catch(() => {
      if (this.reading.get(index) === reading) this.reading.delete(index);
    });
    return reading;
  }

  private keep(index: number, block: Buffer): void {
    const previous = this.blocks.get(index);
    if (previous !== undefined && previous.buffer !== block.buffer) this.letGo(previous);
    this.blocks.delete(index);
    this.blocks.set(index, block);
    for (const [kept, oldest] of this.blocks) {
      if (this.blocks.size <= KEPT) break;
      this.blocks.delete(kept);
      this.letGo(oldest);
    }
  }

  /**
   * A block no longer kept lends its memory to the next read. A fresh buffer for every block made a
   * million-row result pass peak some 35 MB higher: the freed blocks were not given back at once.
   * Nothing else holds a block's memory: `read` copies before it waits again, and `cached` views
   * are read at once.
   */
  private letGo(block: Buffer): void {
    // With reads waiting side by side, one may hold a block it has not copied yet: none is lent then.
    if (this.readers <= 1 && this.spare.length < SPARE) this.spare.push(Buffer.from(block.buffer, block.byteOffset, this.blockBytes));
  }
}
