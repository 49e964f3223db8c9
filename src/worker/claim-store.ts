import type pg from "pg";
import { CommitQueue } from "../checkpoint/pg/commit-queue.js";
import { quoteIdent } from "../checkpoint/pg/migrations.js";
import { outcomeRow } from "../checkpoint/pg/store-ops.js";
import type { CompleteRecord, OutcomeRecord, PlanRecord, RowState, RunRecord } from "../checkpoint/records.js";
import type { CheckpointStore } from "../checkpoint/store.js";
import { CheckpointError } from "../errors.js";
import type { Target } from "../paypay/target.js";
import type { ClaimScope } from "./claims.js";
import { retryOnce } from "./retry-once.js";

/**
 * A worker's view of the campaign as the applier sees a checkpoint: the rows it has claimed. The
 * protocol is the store's (`sent` committed before the first request, the outcome before it counts,
 * writes that arrive together in one transaction), and every write is fenced by the claim: it
 * changes a row only while the row still carries this worker's token. A write that changes nothing
 * means another worker took the row over (this one was frozen past its lease): the row is marked
 * lost, and the applier neither sends it nor counts its outcome (see `owns`).
 */

type Op = { k: "sent"; rid: string; fp: string; body: string | null } | { k: "outcome"; outcome: Omit<OutcomeRecord, "t" | "at">; at: string };

export interface SettledCounts {
  issued: number;
  failed: number;
  pending: number;
  /** Writes refused because another worker holds the row now: not counted. */
  lost: number;
}

export class ClaimStore implements CheckpointStore {
  readonly keepsBodies = true;
  private readonly held = new Map<string, RowState | undefined>();
  private readonly lost = new Set<string>();
  private readonly queue: CommitQueue<Op>;
  readonly settled: SettledCounts = { issued: 0, failed: 0, pending: 0, lost: 0 };

  constructor(
    private readonly scope: ClaimScope,
    readonly location: string,
    readonly target: Target,
  ) {
    this.queue = new CommitQueue((ops) => this.commit(ops));
  }

  get campaign(): string {
    return this.scope.campaign;
  }

  /** A claimed row, with what earlier runs recorded of it. */
  hold(rid: string, state: RowState | undefined): void {
    this.held.set(rid, state);
    this.lost.delete(rid);
  }

  heldCount(): number {
    return this.held.size;
  }

  holds(rid: string): boolean {
    return this.held.has(rid);
  }

  get(requestId: string): RowState | undefined {
    return this.held.get(requestId);
  }

  *entries(): IterableIterator<[string, RowState]> {
    for (const [rid, state] of this.held) if (state) yield [rid, state];
  }

  owns(requestId: string): boolean {
    return !this.lost.has(requestId);
  }

  async bindTarget(): Promise<boolean> {
    return false;
  }

  async recordSent(requestId: string, fingerprint: string, _row: number, body?: string): Promise<void> {
    await this.queue.submit({ k: "sent", rid: requestId, fp: fingerprint, body: body ?? null });
    if (this.lost.has(requestId)) return;
    const state = this.held.get(requestId);
    this.held.set(requestId, { ...state, fp: fingerprint, status: "sent", inDoubt: true, attempts: state?.attempts ?? 0 });
  }

  async recordOutcome(outcome: Omit<OutcomeRecord, "t" | "at">): Promise<void> {
    await this.queue.submit({ k: "outcome", outcome, at: new Date().toISOString() });
    if (this.lost.has(outcome.rid)) return;
    this.held.delete(outcome.rid);
    this.settled[outcome.status === "issued" ? "issued" : outcome.status === "failed" ? "failed" : "pending"]++;
  }

  /** Rows this worker stops holding without an outcome (given back, or dropped from the plan). */
  forget(rid: string): void {
    this.held.delete(rid);
  }

  lastPlan(): PlanRecord | RunRecord | undefined {
    return undefined;
  }

  recordPlan(): Promise<void> {
    return this.refuse("record a plan");
  }

  recordComplete(_complete: Omit<CompleteRecord, "t" | "at">): Promise<void> {
    return this.refuse("record a complete run");
  }

  recordAccepted(): Promise<void> {
    return this.refuse("accept changes");
  }

  async readOutcome(): Promise<OutcomeRecord | undefined> {
    return undefined;
  }

  async close(): Promise<void> {
    await this.queue.drain();
  }

  private refuse(what: string): Promise<never> {
    return Promise.reject(new CheckpointError("WORKER_READ_ONLY", `${this.location}: a worker cannot ${what}; that is load's part`));
  }

  private async commit(ops: Op[]): Promise<void> {
    const s = quoteIdent(this.scope.connections.state.schema);
    await retryOnce(() => this.commitOnce(s, ops));
  }

  private async commitOnce(s: string, ops: Op[]): Promise<void> {
    await this.scope.connections.transaction(async (client) => {
      for (const segment of segments(ops)) {
        const kept =
          segment[0]?.k === "sent" ? await this.commitSent(client, s, segment as SentOp[]) : await this.commitOutcomes(client, s, segment as OutcomeOp[]);
        for (const op of segment) {
          const rid = op.k === "sent" ? op.rid : op.outcome.rid;
          if (kept.has(rid.toLowerCase())) continue;
          if (!this.lost.has(rid)) this.settled.lost++;
          this.lost.add(rid);
          this.held.delete(rid);
        }
      }
    });
  }

  private async commitSent(client: pg.PoolClient, s: string, ops: SentOp[]): Promise<Set<string>> {
    const { rows } = await client.query<{ rid: string }>(
      `UPDATE ${s}.rows AS r SET fingerprint = x.fp, body = coalesce(x.body, r.body), status = 'sent', in_doubt = true,
         sent_at = coalesce(r.sent_at, now()), updated_at = now()
         FROM jsonb_to_recordset($3::jsonb) AS x(rid uuid, fp text, body text)
        WHERE r.campaign = $1 AND r.request_id = x.rid AND r.claim_token = $2
       RETURNING r.request_id::text AS rid`,
      [this.scope.campaign, this.scope.token, JSON.stringify(ops.map(({ rid, fp, body }) => ({ rid, fp, body })))],
    );
    return new Set(rows.map((r) => r.rid));
  }

  private async commitOutcomes(client: pg.PoolClient, s: string, ops: OutcomeOp[]): Promise<Set<string>> {
    const { rows } = await client.query<{ rid: string }>(
      `UPDATE ${s}.rows AS r SET fingerprint = x.fp, outcome_fp = x.fp, status = x.status, outcome_status = x.status,
         in_doubt = x.status = 'pending' AND coalesce(x.unknown, false), unknown_outcome = coalesce(x.unknown, false),
         attempts = r.attempts + x.attempts, outcome_attempts = x.attempts, group_id = x.group_id, value = x.value,
         gift_card_name = x.name, start_at = x.start_at, end_at = x.end_at, code = x.code, data = x.data,
         last_error_code = x.error_code, last_error_message = x.error_message, paypay_request_id = x.paypay_request_id,
         outcome_at = x.at, updated_at = now(),
         -- A pending row stays to send, held until this worker stops (see run-worker.ts): its next worker resends it.
         todo = x.status = 'pending', claim_token = CASE WHEN x.status = 'pending' THEN r.claim_token END
       FROM jsonb_to_recordset($3::jsonb) AS x(rid uuid, fp text, status text, unknown boolean, attempts integer, group_id text,
         value bigint, name text, start_at text, end_at text, code text, data text, error_code text, error_message text,
         paypay_request_id text, at text)
       WHERE r.campaign = $1 AND r.request_id = x.rid AND r.claim_token = $2
       RETURNING r.request_id::text AS rid`,
      [this.scope.campaign, this.scope.token, JSON.stringify(ops.map(outcomeRow))],
    );
    return new Set(rows.map((r) => r.rid));
  }
}

type SentOp = Op & { k: "sent" };
type OutcomeOp = Op & { k: "outcome" };

/** Consecutive operations of one kind, no requestId twice (one statement may touch a row once). */
function* segments(ops: Op[]): Generator<Op[]> {
  let current: Op[] = [];
  let rids = new Set<string>();
  for (const op of ops) {
    const rid = op.k === "sent" ? op.rid : op.outcome.rid;
    const head = current[0];
    if (head && (head.k !== op.k || rids.has(rid))) {
      yield current;
      current = [];
      rids = new Set();
    }
    current.push(op);
    rids.add(rid);
  }
  if (current.length > 0) yield current;
}
