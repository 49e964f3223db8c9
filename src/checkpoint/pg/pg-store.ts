import type pg from "pg";
import { CheckpointError, StateLostError } from "../../errors.js";
import { parseTarget, type Target } from "../../paypay/target.js";
import type { CompleteRecord, OutcomeRecord, PlanRecord, RowState, RunRecord } from "../records.js";
import type { CheckpointStore } from "../store.js";
import { refuseOtherTarget } from "../target-binding.js";
import { CommitQueue } from "./commit-queue.js";
import { quoteIdent } from "./migrations.js";
import { purgedError, readPurged } from "./purge.js";
import type { PgConnections } from "./pool.js";
import { keepSnapshot, loadPlannedRows, type PlannedRow } from "./bulk-load.js";
import { commitRows } from "./row-commit.js";
import { readOutcomeBySeq, readRowStates } from "./row-reads.js";
import { commitSegment, type Op, opKey, outcomeRow, segments, sentAndOutcomes } from "./store-ops.js";

/**
 * The checkpoint in PostgreSQL, with the journal's protocol: `sent` is committed before a row's
 * first request, an outcome is committed before the row counts, and outcomes that arrive together
 * share one transaction (CommitQueue). Every transaction first reads the campaign's generation
 * under FOR SHARE and goes on only if it is this run's: a run that lost its lock to another can
 * commit nothing, and a run taking the lock waits for a write in progress to finish.
 *
 * Row states are read a chunk at a time (prefetch), each chunk's outcomes with them: memory does
 * not grow with the campaign, and a result costs one query per chunk.
 */

export class PgStore implements CheckpointStore {
  readonly keepsBodies = true;
  private readonly queue: CommitQueue<Op>;
  /** The requestIds of the latest prefetch: get() answers for these only. */
  private prefetched: ReadonlySet<string> = new Set();
  /** The states of those of them a run has sent. */
  private states: Map<string, RowState> = new Map();
  /** Their outcomes as read with them, by seq; a row's is dropped when this run writes a newer one. */
  private outcomes: Map<number, OutcomeRecord> = new Map();
  /**
   * Whether the campaign's complete record may still be set: only this run writes one (it holds the
   * lock), so after a commit that cleared it rows commit in one round trip (row-commit.ts) until the
   * next complete record.
   */
  private completeMayBeSet: boolean;

  private constructor(
    private readonly connections: PgConnections,
    readonly location: string,
    readonly campaign: string,
    /** Undefined for a store opened to read (plan, status, export): every write is refused. */
    private readonly generation: string | undefined,
    private latestPlan: PlanRecord | RunRecord | undefined,
    private boundTarget: Target | undefined,
    readonly lastComplete: CompleteRecord | undefined,
    readonly createdAt: string,
  ) {
    this.queue = new CommitQueue((ops) => this.commit(ops), { inFlight: COMMITS_IN_FLIGHT, key: opKey });
    this.completeMayBeSet = lastComplete !== undefined;
  }

  /**
   * Opens a campaign's state. `generation`: the run's, from its lock (run-lock.ts); without one the
   * store only reads. `create`: a run past planning opens (the journal's header) a campaign that
   * has none yet; otherwise a campaign no run got past planning with is CHECKPOINT_NOT_FOUND.
   */
  static async open(connections: PgConnections, campaign: string, options: { generation?: string; create?: boolean }): Promise<PgStore> {
    const s = quoteIdent(connections.state.schema);
    const location = pgLocation(connections.state.display, campaign);
    return connections.withClient(async (client) => {
      const { rows } = await client.query<{ opened_at: Date | null; target: unknown; latest_plan: PlanRecord | null; last_complete: CompleteRecord | null }>(
        `SELECT opened_at, target, latest_plan, last_complete FROM ${s}.campaigns WHERE campaign = $1`,
        [campaign],
      );
      const found = rows[0];
      const purged = await readPurged(client, s, campaign);
      if (purged) throw purgedError(location, purged);
      let openedAt = found?.opened_at ?? undefined;
      if (openedAt === undefined) {
        if (!options.create || options.generation === undefined) {
          throw new CheckpointError("CHECKPOINT_NOT_FOUND", `${location}: no run of campaign ${campaign} has got past planning in this database`);
        }
        openedAt = new Date();
      }
      const target = found?.target === null || found?.target === undefined ? undefined : parseTarget(found.target);
      const store = new PgStore(
        connections,
        location,
        campaign,
        options.generation,
        found?.latest_plan ?? undefined,
        target,
        found?.last_complete ?? undefined,
        openedAt.toISOString(),
      );
      if (found?.opened_at === null || found?.opened_at === undefined) await store.queue.submit({ k: "campaign", column: "opened_at", value: store.createdAt });
      return store;
    });
  }

  /**
   * Keeps the plan's input in the database before the plan names it: the snapshot's bytes (so any
   * host can export or resume) and each row's cells (so support can query them), in one transaction
   * with one COPY (bulk-load.ts). The rows are loaded again even when the snapshot is already kept:
   * other --column settings make other requestIds of the same bytes.
   */
  async recordPlanInput(digest: string, snapshotFile: string, rows: AsyncIterable<readonly PlannedRow[]>): Promise<void> {
    const s = quoteIdent(this.connections.state.schema);
    await this.queue.drain();
    await this.fenced(async (client) => {
      await keepSnapshot(client, s, this.campaign, digest, snapshotFile);
      await loadPlannedRows(client, s, this.campaign, rows);
    });
  }

  /** Stops every later write: the run lost its lock. */
  fail(error: Error): void {
    this.queue.fail(error);
  }

  get target(): Target | undefined {
    return this.boundTarget;
  }

  /** Throws for a requestId outside the latest prefetch: answering "never sent" for it could send it twice. */
  get(requestId: string): RowState | undefined {
    if (!this.prefetched.has(requestId)) {
      throw new CheckpointError("STATE_NOT_PREFETCHED", `${this.location}: the state of ${requestId} was asked for before it was read (a bug: prefetch first)`);
    }
    return this.states.get(requestId);
  }

  async prefetch(requestIds: readonly string[]): Promise<void> {
    const s = quoteIdent(this.connections.state.schema);
    // No drain of the commit queue: the callers await each write of a row before they ask for it
    // again, and a chunk's rows are not in flight yet, so only committed state concerns them.
    const { states, outcomes } = await this.connections.withClient((client) => readRowStates(client, s, this.campaign, requestIds));
    this.states = states;
    this.outcomes = outcomes;
    this.prefetched = new Set(requestIds);
  }

  async bindTarget(target: Target): Promise<boolean> {
    if (this.boundTarget) {
      refuseOtherTarget(this.location, this.boundTarget, target);
      return false;
    }
    await this.queue.submit({ k: "campaign", column: "target", value: target });
    this.boundTarget = target;
    return false;
  }

  async recordPlan(plan: Omit<PlanRecord, "t" | "at">): Promise<void> {
    const record: PlanRecord = { t: "plan", at: new Date().toISOString(), ...plan };
    await this.queue.submit({ k: "campaign", column: "latest_plan", value: record });
    this.latestPlan = record;
  }

  lastPlan(): PlanRecord | RunRecord | undefined {
    return this.latestPlan;
  }

  async recordComplete(complete: Omit<CompleteRecord, "t" | "at">): Promise<void> {
    await this.queue.submit({ k: "campaign", column: "last_complete", value: { t: "complete", at: new Date().toISOString(), ...complete } });
  }

  async recordAccepted(requestId: string, fingerprint: string): Promise<void> {
    await this.queue.submit({ k: "accept", rid: requestId, fp: fingerprint });
    const state = this.states.get(requestId);
    if (state) this.states.set(requestId, { ...state, acceptedFp: fingerprint });
  }

  async recordSent(requestId: string, fingerprint: string, row: number, body?: string): Promise<void> {
    await this.queue.submit({ k: "sent", rid: requestId, fp: fingerprint, row, body: body ?? null });
    // Kept only while the row is in the window; a later prefetch reads it back from the database.
    if (!this.prefetched.has(requestId)) return;
    const state = this.states.get(requestId);
    this.states.set(requestId, { ...state, fp: fingerprint, status: "sent", inDoubt: true, attempts: state?.attempts ?? 0 });
  }

  async recordOutcome(outcome: Omit<OutcomeRecord, "t" | "at">): Promise<void> {
    const op: Op & { k: "outcome" } = { k: "outcome", outcome, at: new Date().toISOString() };
    await this.queue.submit(op);
    // The outcome read with the row's state is now stale (seq is the row's, whichever outcome).
    if (op.seq !== undefined) this.outcomes.delete(op.seq);
    if (!this.prefetched.has(outcome.rid)) return;
    const previous = this.states.get(outcome.rid);
    this.states.set(outcome.rid, {
      fp: outcome.fp,
      status: outcome.status,
      inDoubt: outcome.status === "pending" && outcome.unknown === true,
      attempts: (previous?.attempts ?? 0) + outcome.attempts,
      outcomeAt: { offset: op.seq ?? 0, length: 1 },
      ...(previous?.acceptedFp === undefined ? {} : { acceptedFp: previous.acceptedFp }),
    });
  }

  /**
   * `outcomeAt.offset` is the row's seq. A prefetched row's outcome came with its state; any other
   * (one this run wrote since) is read on its own.
   */
  async readOutcome(state: RowState): Promise<OutcomeRecord | undefined> {
    if (!state.outcomeAt) return undefined;
    const seq = state.outcomeAt.offset;
    let record = this.outcomes.get(seq);
    if (!record) {
      const s = quoteIdent(this.connections.state.schema);
      record = await this.connections.withClient((client) => readOutcomeBySeq(client, s, this.campaign, seq));
    }
    if (!record) throw new CheckpointError("CHECKPOINT_DAMAGED", `${this.location}: the outcome of row seq ${seq} no longer reads back`);
    return record;
  }

  async close(): Promise<void> {
    await this.queue.drain();
  }

  private async commit(ops: Op[]): Promise<void> {
    const s = quoteIdent(this.connections.state.schema);
    const rowOps = this.completeMayBeSet ? undefined : sentAndOutcomes(ops);
    if (rowOps) return this.commitRowOps(s, rowOps.sent, rowOps.outcomes);
    let completeWritten = false;
    await this.fenced(async (client) => {
      // fenced() cleared any complete record; one this commit writes must stay the last thing written.
      let complete = false;
      for (const segment of segments(ops)) {
        const first = segment[0];
        if (first?.k === "campaign" && first.column === "last_complete") complete = true;
        else if (complete) {
          await client.query(`UPDATE ${s}.campaigns SET last_complete = NULL WHERE campaign = $1`, [this.campaign]);
          complete = false;
        }
        const seqs = await commitSegment(client, s, this.campaign, segment);
        if (seqs) this.assignSeqs(segment as Array<Op & { k: "outcome" }>, seqs);
      }
      completeWritten = complete;
    });
    this.completeMayBeSet = completeWritten;
  }

  /** The hot path: a batch of `sent` and outcome records, fenced, in one statement (row-commit.ts). */
  private async commitRowOps(s: string, sent: Array<Op & { k: "sent" }>, outcomes: Array<Op & { k: "outcome" }>): Promise<void> {
    const generation = this.generation;
    if (generation === undefined) throw new CheckpointError("STATE_READ_ONLY", `${this.location}: opened to read; nothing can be written`);
    const result = await this.connections.withClient((client) =>
      commitRows(
        client,
        s,
        this.campaign,
        generation,
        sent.map(({ rid, fp, row, body }) => ({ rid, fp, row, body })),
        outcomes.map(outcomeRow),
      ),
    );
    if (result.generation !== generation) throw this.fencedError(result.generation);
    if (result.sent !== sent.length) {
      throw new CheckpointError("CHECKPOINT_DAMAGED", `${this.location}: ${sent.length} sent records committed as ${result.sent} rows`);
    }
    this.assignSeqs(outcomes, result.seqs);
  }

  private fencedError(found: string | undefined): StateLostError {
    return new StateLostError(
      "STATE_FENCED",
      `${this.location}: another run (generation ${found ?? "?"}) has taken campaign ${this.campaign} over from this one (${this.generation}); this run writes nothing more`,
    );
  }

  /** Each outcome's row seq (its outcomeAt), from what its UPDATE returned. */
  private assignSeqs(outcomes: Array<Op & { k: "outcome" }>, seqs: Map<string, number>): void {
    for (const op of outcomes) {
      op.seq = seqs.get(op.outcome.rid.toLowerCase());
      if (op.seq === undefined)
        throw new CheckpointError("CHECKPOINT_DAMAGED", `${this.location}: outcome for ${op.outcome.rid}, which was never recorded sent`);
    }
  }

  /**
   * Runs `work` in a transaction that goes on only while the campaign's generation is this run's,
   * read under FOR SHARE. The finished-run fast path holds only while the complete record is the
   * last thing written, so every write clears it first. Both statements go in BEGIN's round trip
   * (transactionFrom): a commit is that, the ops' statements, and COMMIT. The clear comes before
   * the share lock: when it has a record to clear it takes the row lock first, so two commits in
   * flight wait for each other instead of deadlocking; with nothing to clear it locks nothing.
   */
  private async fenced(work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const generation = this.generation;
    if (generation === undefined) throw new CheckpointError("STATE_READ_ONLY", `${this.location}: opened to read; nothing can be written`);
    const s = quoteIdent(this.connections.state.schema);
    const fence = (client: pg.PoolClient): string => {
      const campaign = client.escapeLiteral(this.campaign);
      return `UPDATE ${s}.campaigns SET last_complete = NULL WHERE campaign = ${campaign} AND generation = ${client.escapeLiteral(generation)} AND last_complete IS NOT NULL;
        SELECT generation FROM ${s}.campaigns WHERE campaign = ${campaign} FOR SHARE`;
    };
    await this.connections.transactionFrom<{ generation: string }, void>(fence, async (client, rows) => {
      if (rows[0]?.generation !== generation) throw this.fencedError(rows[0]?.generation);
      await work(client);
    });
  }
}

/**
 * Two transactions commit at once: an outcome arriving while one commits starts the next at once
 * instead of waiting a round trip for it. Ops in flight together touch different rows (a caller
 * awaits a row's op before the next, and the queue checks it by key), and a campaign record
 * commits alone, so neither order nor locks can go wrong; see fenced() for the campaign row.
 */
const COMMITS_IN_FLIGHT = 2;

export function pgLocation(display: string, campaign: string): string {
  return `${display}#${campaign}`;
}
