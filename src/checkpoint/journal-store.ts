import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { CheckpointError } from "../errors.js";
import { fsyncDirectoryOf } from "../fs/fsync-directory.js";
import { removeStaleTemps } from "../fs/atomic-write.js";
import { processIsAlive } from "./lock.js";
import { DurableAppender } from "./durable-appender.js";
import { RowIndex } from "./row-index.js";
import { decodeLine, encodeLine, encodeOutcomeLine } from "./line-codec.js";
import { recordTime } from "./record-time.js";
import { readJournal } from "./journal-reader.js";
import { JournalBlocks } from "./journal-blocks.js";
import { indexFileOf, readIndexFile, writeIndexFile, type JournalMark } from "./index-file.js";
import {
  CHECKPOINT_VERSION,
  type CheckpointRecord,
  type CompleteRecord,
  type HeaderRecord,
  type OutcomeRecord,
  type PlanRecord,
  type RowState,
  type RunRecord,
} from "./records.js";
import type { CheckpointStore } from "./store.js";
import { parseTarget, type Target } from "../paypay/target.js";
import { refuseOtherTarget } from "./target-binding.js";

/**
 * The checkpoint as an append-only journal file (mode 0600: it holds codes). Opening it replays
 * every record (after those its index file covers) into a compact row index (requestId → status,
 * fingerprint, where the outcome sits), most of it paged out (paged-rows.ts); outcomes themselves
 * stay on disk until the result file is written.
 */
export class JournalStore implements CheckpointStore {
  private constructor(
    readonly location: string,
    readonly campaign: string,
    private readonly handle: FileHandle,
    private readonly appender: DurableAppender,
    private readonly index: RowIndex,
    private latestPlan: PlanRecord | RunRecord | undefined,
    private boundTarget: Target | undefined,
    /** Issued rows whose changed body an operator accepted: few, so a plain map. */
    private readonly accepted: Map<string, string>,
    readonly info: JournalInfo,
    private readonly readOnly: boolean,
    /** The journal's length and line count as replayed, then as appended to. */
    private readonly mark: JournalMark,
    /** Where the index file (index-file.ts) stood when the journal was opened; 0 if none was used. */
    private readonly cachedLength: number,
  ) {}

  private blocksOfJournal: JournalBlocks | undefined;

  /** Outcome records are read back from here (made at first use: the handle is a constructor parameter). */
  private get blocks(): JournalBlocks {
    this.blocksOfJournal ??= new JournalBlocks(this.handle);
    return this.blocksOfJournal;
  }

  /**
   * Opens (or creates) a checkpoint for a run. `readOnly` opens an existing one for `plan`, `status`
   * and `export`: nothing is created, truncated or appended, so it is safe beside a live run.
   * `campaign` "" accepts a checkpoint of any campaign (for commands that only read it).
   * `mustExist` opens an existing one for writing but creates none (CHECKPOINT_NOT_FOUND instead).
   */
  static async open(file: string, campaign: string, options: { readOnly?: boolean; mustExist?: boolean } = {}): Promise<JournalStore> {
    const readOnly = options.readOnly ?? false;
    let handle: FileHandle;
    try {
      const create = options.mustExist ? 0 : constants.O_CREAT;
      const flags = readOnly ? constants.O_RDONLY : constants.O_RDWR | constants.O_APPEND | create;
      handle = await open(file, flags, 0o600);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") throw new CheckpointError("CHECKPOINT_NOT_FOUND", `${file}: no such checkpoint`);
      throw new CheckpointError("CHECKPOINT_UNREADABLE", `${file}: cannot open checkpoint (${code ?? (error as Error).message})`);
    }
    let index: RowIndex | undefined;
    try {
      if (!readOnly) await handle.chmod(0o600);
      if (!readOnly) await removeStaleTemps(indexFileOf(file), processIsAlive);
      const replayed = await replay(handle, file);
      index = replayed.index;
      const { header, validLength, latestPlan, target, accepted, info, lines, cachedLength } = replayed;
      let end = validLength;
      let lineCount = lines;
      if (info.tornTail && !readOnly) {
        // The torn tail was never acknowledged durable; cut it so new records follow a whole line.
        await handle.truncate(validLength);
        await handle.datasync();
      }
      const appender = new DurableAppender(handle, end);
      let storeCampaign = header?.campaign;
      if (header === undefined) {
        if (readOnly) throw new CheckpointError("CHECKPOINT_EMPTY", `${file}: checkpoint is empty`);
        const record: HeaderRecord = { t: "header", version: CHECKPOINT_VERSION, campaign, createdAt: new Date().toISOString() };
        const line = encodeLine(record);
        await appender.append(line).durable;
        end += line.length;
        lineCount++;
        await fsyncDirectoryOf(file);
        storeCampaign = campaign;
        info.createdAt = record.createdAt;
      } else if (campaign !== "" && header.campaign !== campaign) {
        throw new CheckpointError(
          "CHECKPOINT_OTHER_CAMPAIGN",
          `${file} belongs to campaign "${header.campaign}", not "${campaign}": give this campaign its own checkpoint and result with --state and --out ` +
            `(each campaign needs both), or pass --campaign ${header.campaign} to continue that one`,
        );
      }
      const mark = { length: end, lines: lineCount };
      return new JournalStore(file, storeCampaign ?? campaign, handle, appender, index, latestPlan, target, accepted, info, readOnly, mark, cachedLength);
    } catch (error) {
      await index?.close();
      await handle.close();
      throw error;
    }
  }

  get target(): Target | undefined {
    return this.boundTarget;
  }

  get(requestId: string): RowState | undefined {
    const state = this.index.get(requestId);
    // Hashing a fresh requestId string for a map that is nearly always empty costs more than the index lookup.
    const acceptedFp = state && this.accepted.size > 0 ? this.accepted.get(requestId) : undefined;
    return state && acceptedFp !== undefined ? { ...state, acceptedFp } : state;
  }

  rowId(requestId: string): number {
    return this.index.idOf(requestId);
  }

  *entries(): IterableIterator<[string, RowState]> {
    for (const [rid, state] of this.index.entries()) {
      const acceptedFp = this.accepted.get(rid);
      yield [rid, acceptedFp === undefined ? state : { ...state, acceptedFp }];
    }
  }

  async bindTarget(target: Target): Promise<boolean> {
    if (this.boundTarget) {
      refuseOtherTarget(this.location, this.boundTarget, target);
      return false;
    }
    await this.append(encodeLine({ t: "target", at: new Date().toISOString(), target })).durable;
    this.boundTarget = target;
    return this.index.size > 0;
  }

  async recordPlan(plan: Omit<PlanRecord, "t" | "at">): Promise<void> {
    const record: PlanRecord = { t: "plan", at: new Date().toISOString(), ...plan };
    await this.append(encodeLine(record)).durable;
    this.latestPlan = record;
    noteActivity(this.info, record.at, true);
  }

  lastPlan(): PlanRecord | RunRecord | undefined {
    return this.latestPlan;
  }

  async recordAccepted(requestId: string, fingerprint: string): Promise<void> {
    await this.append(encodeLine({ t: "accept", at: new Date().toISOString(), rid: requestId, fp: fingerprint })).durable;
    this.accepted.set(requestId, fingerprint);
  }

  async recordComplete(complete: Omit<CompleteRecord, "t" | "at">): Promise<void> {
    const record: CompleteRecord = { t: "complete", at: new Date().toISOString(), ...complete };
    await this.append(encodeLine(record)).durable;
  }

  async recordSent(requestId: string, fingerprint: string, row: number): Promise<void> {
    const at = recordTime();
    const { durable } = this.append(encodeLine({ t: "sent", rid: requestId, fp: fingerprint, row, at }));
    await durable;
    applySent(this.index, requestId, fingerprint);
    noteActivity(this.info, at, false);
  }

  async recordOutcome(outcome: Omit<OutcomeRecord, "t" | "at">): Promise<void> {
    const at = recordTime();
    const line = encodeOutcomeLine(outcome, at);
    const { offset, durable } = this.append(line);
    await durable;
    applyOutcome(this.index, outcome, offset, line.length);
    noteActivity(this.info, at, false);
  }

  async readOutcome(state: RowState): Promise<OutcomeRecord | undefined> {
    if (!state.outcomeAt) return undefined;
    const { offset, length } = state.outcomeAt;
    return this.outcomeIn(this.blocks.cached(offset, length) ?? (await this.blocks.read(offset, length)), offset);
  }

  async readOutcomes(states: readonly (RowState | undefined)[]): Promise<(OutcomeRecord | undefined)[]> {
    const outcomes = new Array<OutcomeRecord | undefined>(states.length);
    for (let i = 0; i < states.length; i++) {
      const at = states[i]?.outcomeAt;
      if (!at) continue;
      // Only a record outside the blocks at hand waits; the rest decode from memory, with no promise per row.
      const cached = this.blocks.cached(at.offset, at.length);
      outcomes[i] = this.outcomeIn(cached ?? (await this.blocks.read(at.offset, at.length)), at.offset);
    }
    return outcomes;
  }

  /** The outcome record in a line read back from `offset`; one that no longer reads back is damage. */
  private outcomeIn(line: Buffer, offset: number): OutcomeRecord {
    const record = decodeOutcome(line);
    if (!record) throw new CheckpointError("CHECKPOINT_DAMAGED", `${this.location}: outcome record at byte ${offset} no longer reads back`);
    return record;
  }

  private append(line: Buffer): { offset: number; durable: Promise<void> } {
    this.mark.length += line.length;
    this.mark.lines++;
    return this.appender.append(line);
  }

  async close(): Promise<void> {
    try {
      await this.appender.drain();
      await this.refreshIndexFile();
    } finally {
      await this.index.close();
      await this.handle.close();
    }
  }

  /**
   * Rewrites the index file when the journal has outgrown it, so the next open replays little. A
   * cache: failing to write it (a full disk) costs the next open a full replay, never the run.
   */
  private async refreshIndexFile(): Promise<void> {
    // Rewriting costs the whole index (634 MB at 10,000,000 rows); replaying a tail costs that tail.
    // So a rerun that added a little leaves the index as it is, until the tail is a sixteenth of it.
    const growth = this.mark.length - this.cachedLength;
    if (this.readOnly || growth < Math.max(INDEX_AFTER_BYTES, this.cachedLength / 16) || this.info.tornTail) return;
    const state: CachedState = {
      header: { t: "header", version: CHECKPOINT_VERSION, campaign: this.campaign, createdAt: this.info.createdAt },
      latestPlan: this.latestPlan,
      target: this.boundTarget,
      accepted: [...this.accepted],
      info: { createdAt: this.info.createdAt, firstActivity: this.info.firstActivity, lastActivity: this.info.lastActivity, runs: this.info.runs },
    };
    await writeIndexFile(indexFileOf(this.location), this.handle, this.mark, state, this.index).catch(() => undefined);
  }
}

/** Journal bytes not yet in the index file before closing rewrites it: replaying that much is quick anyway. */
const INDEX_AFTER_BYTES = 1 << 20;

/** What replay keeps besides the row index, as the index file carries it. */
interface CachedState {
  header: HeaderRecord;
  latestPlan?: PlanRecord | RunRecord;
  target?: Target;
  accepted: [string, string][];
  info: Omit<JournalInfo, "tornTail">;
}

function decodeOutcome(line: Buffer): OutcomeRecord | undefined {
  if (line.length < 2 || line[line.length - 1] !== 0x0a) return undefined;
  const record = decodeLine(line.subarray(0, line.length - 1)) as OutcomeRecord | undefined;
  return record?.t === "outcome" ? record : undefined;
}

/** A sent record: the row may have reached PayPay, outcome unknown until its outcome record. */
function applySent(index: RowIndex, rid: string, fp: string): void {
  index.markSent(rid, fp);
}

function applyOutcome(index: RowIndex, outcome: Omit<OutcomeRecord, "t" | "at">, offset: number, length: number): void {
  index.markOutcome(outcome.rid, outcome.fp, outcome.status, outcome.status === "pending" && outcome.unknown === true, outcome.attempts, offset, length);
}

/** Keeps `info` current with a record of a run's activity, replayed or just written (the index file carries it). */
function noteActivity(info: JournalInfo, at: string, isRun: boolean): void {
  if (info.firstActivity === undefined || at < info.firstActivity) info.firstActivity = at;
  if (info.lastActivity === undefined || at > info.lastActivity) info.lastActivity = at;
  if (isRun) info.runs++;
}

/** What a read of the journal learned besides the rows, for `status`. */
export interface JournalInfo {
  createdAt: string;
  firstActivity?: string;
  lastActivity?: string;
  runs: number;
  /** The last record was torn by a crash mid-write (a writable open cuts it away). */
  tornTail: boolean;
}

interface Replayed {
  /** Lines read in all, the index file's included. */
  lines: number;
  /** The journal length the index file covered; 0 when it was replayed in full. */
  cachedLength: number;
  header?: HeaderRecord;
  index: RowIndex;
  validLength: number;
  latestPlan?: PlanRecord | RunRecord;
  target?: Target;
  accepted: Map<string, string>;
  info: JournalInfo;
}

async function replay(handle: FileHandle, file: string): Promise<Replayed> {
  const size = (await handle.stat()).size;
  // Pages of the row index that changed go beside the checkpoint when they leave memory (paged-rows.ts).
  const read = await readIndexFile<CachedState>(indexFileOf(file), handle, size, file);
  const cached = read && fromCache(read.state) ? read : undefined;
  if (read !== undefined && cached === undefined) await read.index.close();
  const replayed: Replayed = cached
    ? {
        lines: cached.mark.lines,
        cachedLength: cached.mark.length,
        header: cached.state.header,
        index: cached.index,
        validLength: -1,
        latestPlan: cached.state.latestPlan,
        target: cached.state.target,
        accepted: new Map(cached.state.accepted),
        info: { ...cached.state.info, tornTail: false },
      }
    : {
        lines: 0,
        cachedLength: 0,
        index: new RowIndex(undefined, file),
        validLength: -1,
        accepted: new Map(),
        info: { createdAt: "", runs: 0, tornTail: false },
      };
  const from = cached?.mark ?? { length: 0, lines: 0 };
  try {
    for await (const { record, offset, length } of readJournal(handle, file, (at) => (replayed.validLength = at), from)) {
      replayed.lines++;
      try {
        applyRecord(replayed, record as CheckpointRecord, offset, length, file);
      } catch (error) {
        if (error instanceof TypeError)
          throw new CheckpointError("CHECKPOINT_DAMAGED", `${file}: record at byte ${offset} has an invalid requestId or fingerprint`);
        throw error;
      }
    }
  } catch (error) {
    // The index file's rows are read from it until the store closes; a store that never opens lets it go.
    await replayed.index.close();
    throw error;
  }
  if (replayed.validLength < 0) replayed.validLength = size;
  else replayed.info.tornTail = true;
  return replayed;
}

/** Whether an index file's state is what this release writes (a sanity check on top of its checksum). */
function fromCache(state: CachedState): boolean {
  const { header } = state;
  return (
    header?.t === "header" &&
    header.version === CHECKPOINT_VERSION &&
    typeof header.campaign === "string" &&
    Array.isArray(state.accepted) &&
    (state.target === undefined || parseTarget(state.target) !== undefined)
  );
}

function applyRecord(replayed: Replayed, r: CheckpointRecord, offset: number, length: number, file: string): void {
  if (replayed.header === undefined) {
    if (r.t !== "header") throw new CheckpointError("CHECKPOINT_DAMAGED", `${file}: not a points-code-batch checkpoint (no header record)`);
    if (r.version !== CHECKPOINT_VERSION) {
      throw new CheckpointError("CHECKPOINT_VERSION", `${file}: checkpoint version ${r.version} is not supported (expected ${CHECKPOINT_VERSION})`);
    }
    replayed.header = r;
    replayed.info.createdAt = r.createdAt;
    return;
  }
  const { index, info } = replayed;
  if (r.t === "sent" || r.t === "outcome" || r.t === "run" || r.t === "plan") noteActivity(info, r.at, r.t === "run" || r.t === "plan");
  switch (r.t) {
    case "sent":
      applySent(index, r.rid, r.fp);
      return;
    case "outcome":
      applyOutcome(index, r, offset, length);
      return;
    case "run":
    case "plan":
      replayed.latestPlan = r;
      return;
    case "target": {
      const target = parseTarget(r.target);
      if (!target) throw new CheckpointError("CHECKPOINT_DAMAGED", `${file}: target record at byte ${offset} is not a target`);
      replayed.target = target;
      return;
    }
    case "accept":
      if (typeof r.rid !== "string" || typeof r.fp !== "string") throw new TypeError("accept record");
      replayed.accepted.set(r.rid, r.fp);
      return;
    case "complete":
      return;
    default:
      throw new CheckpointError("CHECKPOINT_DAMAGED", `${file}: unexpected record at byte ${offset}`);
  }
}
