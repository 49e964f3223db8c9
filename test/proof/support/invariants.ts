import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { parse } from "csv-parse/sync";
import { RESULT_COLUMNS } from "../../../src/job/columns.js";
import { deriveRequestId } from "../../../src/job/request-id.js";
import type { Simulator } from "../../../src/simulator/index.js";
import { fileMode } from "../../support/job.js";
import { GROUP_ID, type Recipients } from "./recipients.js";
import { openStateView } from "./stores.js";

const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The exactly-once invariants, checked against the simulator's ledger (the source of truth for
 * money), the result CSV and the checkpoint. Returns every violation found rather than stopping at
 * the first, so a failure shows its whole extent; callers assert the list is empty. The checkpoint is
 * read through the store interface (support/stores.ts), so the same rules hold for either store.
 */

export interface ExactlyOnceCheck {
  sim: Simulator;
  campaign: string;
  input: Recipients;
  resultFile: string;
  /** The run's --state: a checkpoint file or a postgresql:// URL, read through the store interface. */
  state: string;
  /** The group's budget before the first run. */
  initialBudget: number;
  /**
   * How the attempts column must relate to what the simulator saw:
   * - "exact": no kills and no short client timeout, so every attempt reached the server: per row the
   *   attempts equal the requests the simulator read for it, and they add up to its create requests.
   * - "timeouts": a short client timeout can abort a request before the server has even parsed it,
   *   so the simulator sees at most what the client counted: attempts >= requests, per row and in total.
   * - "killed": requests of killed runs were never recorded: 1 <= attempts <= requests per row.
   * - "shared": many checkpoints were resumed against one simulator: only attempts >= 1 is checked.
   */
  attempts: "exact" | "timeouts" | "killed" | "shared";
  /**
   * Rules switched off, for the checker's own self-test only (test/proof/checker.test.ts): it
   * disables each rule in turn and requires one of its planted violations to go uncaught.
   */
  disabledRules?: ReadonlySet<ExactlyOnceRule>;
}

/** Every rule the checker applies, one name per check, so a violation says which rule it broke. */
export const EXACTLY_ONCE_RULES = [
  "result-header",
  "result-row-count",
  "result-cell-count",
  "result-input-cells",
  "input-request-ids",
  "request-id",
  "request-id-twice",
  "status",
  "ledger-twice",
  "ledger-charges",
  "ledger-stranger",
  "ledger-count",
  "code-twice",
  "issued-without-ledger",
  "ledger-code",
  "ledger-amount",
  "ledger-group",
  "call-stranger",
  "call-missing",
  "attempts-invalid",
  "attempts-calls",
  "attempts-total",
  "budget",
  "checkpoint-count",
  "checkpoint-stranger",
  "checkpoint-missing",
  "checkpoint-status",
  "checkpoint-attempts",
  "checkpoint-in-doubt",
  "checkpoint-code",
  "checkpoint-data",
  "checkpoint-issued-at",
  "file-mode",
  "lock-left",
] as const;

export type ExactlyOnceRule = (typeof EXACTLY_ONCE_RULES)[number];

export interface Violation {
  rule: ExactlyOnceRule;
  /** The result file's line (header = 1) the violation is about, when it is about one row. */
  row?: number;
  message: string;
}

export interface ExactlyOnceFigures {
  rows: number;
  ledgerEntries: number;
  createCalls: number;
  /** Requests beyond the first per recipient: retries and resends after crashes. */
  resends: number;
  /** Rows whose code was issued by PayPay in a request whose answer this client never recorded. */
  maxCallsForOneRow: number;
}

const MAX_LISTED = 25;

export async function checkExactlyOnce(c: ExactlyOnceCheck): Promise<{ violations: string[]; found: Violation[]; figures: ExactlyOnceFigures }> {
  const found: Violation[] = [];
  const v = (rule: ExactlyOnceRule, row: number | undefined, message: string): void => {
    if (c.disabledRules?.has(rule)) return;
    found.push(row === undefined ? { rule, message } : { rule, row, message });
  };
  const { sim, campaign, input } = c;

  // ---- the result CSV: every input row exactly once, in input order, input cells untouched --------
  const table = parse(await readFile(c.resultFile, "utf8"), { relax_column_count: true }) as string[][];
  const header = table[0] ?? [];
  const expectedHeader = [...input.header, ...RESULT_COLUMNS];
  if (JSON.stringify(header) !== JSON.stringify(expectedHeader))
    v("result-header", undefined, `result header is ${JSON.stringify(header)}, expected ${JSON.stringify(expectedHeader)}`);
  const body = table.slice(1);
  if (body.length !== input.rows.length) v("result-row-count", undefined, `result has ${body.length} rows, input has ${input.rows.length}`);
  const rows = body.map((cells) => Object.fromEntries(expectedHeader.map((name, i) => [name, cells[i] ?? ""])) as Record<string, string>);
  input.rows.forEach((inputRow, i) => {
    const cells = body[i];
    if (cells === undefined) return;
    if (cells.length !== expectedHeader.length)
      v("result-cell-count", i + 2, `result row ${i + 2} has ${cells.length} cells, expected ${expectedHeader.length}`);
    const copied = cells.slice(0, input.header.length);
    if (JSON.stringify(copied) !== JSON.stringify(inputRow))
      v(
        "result-input-cells",
        i + 2,
        `result row ${i + 2} is ${JSON.stringify(copied)}, input row ${i + 2} is ${JSON.stringify(inputRow)} (missing, reordered or altered)`,
      );
  });

  // ---- one requestId per recipient ------------------------------------------------------------------
  const expectedRid = new Map<string, string>(); // requestId -> recipient_id
  for (const inputRow of input.rows) expectedRid.set(deriveRequestId(campaign, inputRow[0]!), inputRow[0]!);
  if (expectedRid.size !== input.rows.length)
    v("input-request-ids", undefined, `input recipients map to ${expectedRid.size} requestIds, expected ${input.rows.length}`);
  const ridOfRow = new Set<string>();
  rows.forEach((row, i) => {
    const want = deriveRequestId(campaign, row.recipient_id!);
    if (row.request_id !== want) v("request-id", i + 2, `row ${i + 2} (${row.recipient_id}) has request_id ${row.request_id}, expected ${want}`);
    if (ridOfRow.has(row.request_id!)) v("request-id-twice", i + 2, `request_id ${row.request_id} appears on two result rows`);
    ridOfRow.add(row.request_id!);
    if (row.status !== "issued")
      v("status", i + 2, `row ${i + 2} (${row.recipient_id}) is ${row.status} (${row.error_code}: ${row.error_message}), expected issued`);
  });

  // ---- the ledger: one code per recipient, charged once, on that recipient's row --------------------
  const ledger = sim.ledger();
  const byRid = new Map<string, (typeof ledger)[number]>();
  for (const entry of ledger) {
    if (byRid.has(entry.requestId)) v("ledger-twice", undefined, `ledger holds requestId ${entry.requestId} twice`);
    byRid.set(entry.requestId, entry);
    if (entry.charges !== 1) v("ledger-charges", undefined, `requestId ${entry.requestId} charged ${entry.charges} times`);
    if (!expectedRid.has(entry.requestId)) v("ledger-stranger", undefined, `ledger requestId ${entry.requestId} belongs to no recipient of the input`);
  }
  if (ledger.length !== input.rows.length) v("ledger-count", undefined, `ledger has ${ledger.length} codes for ${input.rows.length} recipients`);
  const codesSeen = new Map<string, number>();
  rows.forEach((row, i) => {
    const entry = byRid.get(row.request_id!);
    if (row.points_code) {
      const other = codesSeen.get(row.points_code);
      if (other !== undefined) v("code-twice", i + 2, `code ${row.points_code} is on rows ${other} and ${i + 2}`);
      codesSeen.set(row.points_code, i + 2);
    }
    if (entry === undefined) {
      if (row.status === "issued")
        v(
          "issued-without-ledger",
          i + 2,
          `row ${i + 2} (${row.recipient_id}) is issued with ${row.points_code} but the ledger has no code for ${row.request_id}`,
        );
      return;
    }
    if (row.points_code !== entry.code)
      v("ledger-code", i + 2, `row ${i + 2} (${row.recipient_id}) shows code ${JSON.stringify(row.points_code)}, the ledger issued ${entry.code} for it`);
    if (String(entry.giftCardValue) !== row.amount)
      v("ledger-amount", i + 2, `row ${i + 2} (${row.recipient_id}) asked ¥${row.amount}, the ledger charged ¥${entry.giftCardValue}`);
    if (entry.groupId !== GROUP_ID) v("ledger-group", i + 2, `row ${i + 2} charged group ${entry.groupId}`);
  });

  // ---- calls: no requestId outside the input ever sent; attempts consistent ------------------------
  const calls = sim.callsByRequestId();
  let createCalls = 0;
  let maxCalls = 0;
  for (const [rid, n] of calls) {
    createCalls += n;
    maxCalls = Math.max(maxCalls, n);
    if (!expectedRid.has(rid)) v("call-stranger", undefined, `the simulator received requestId ${rid}, which belongs to no recipient`);
  }
  let attemptsTotal = 0;
  const allowed = { exact: "attempts = requests", timeouts: "attempts ≥ requests", killed: "attempts ≤ requests", shared: "attempts ≥ 1" }[c.attempts];
  rows.forEach((row, i) => {
    const n = calls.get(row.request_id!) ?? 0;
    const attempts = Number(row.attempts);
    attemptsTotal += attempts;
    if (byRid.has(row.request_id!) && n < 1) v("call-missing", i + 2, `row ${i + 2}: ledger has a code but no call was recorded`);
    const ok = c.attempts === "exact" ? attempts === n : c.attempts === "timeouts" ? attempts >= n : c.attempts === "killed" ? attempts <= n : true;
    if (!Number.isSafeInteger(attempts) || attempts < 1)
      v("attempts-invalid", i + 2, `row ${i + 2} (${row.recipient_id}): attempts column ${JSON.stringify(row.attempts)}`);
    else if (!ok)
      v(
        "attempts-calls",
        i + 2,
        `row ${i + 2} (${row.recipient_id}): attempts column ${row.attempts}, the simulator read ${n} request(s) for it (expected ${allowed})`,
      );
  });
  const arrived = sim.stats().createRequests;
  if (c.attempts === "exact" && attemptsTotal !== arrived)
    v("attempts-total", undefined, `attempts add up to ${attemptsTotal}, the simulator received ${arrived} create requests (expected equal)`);
  if (c.attempts === "timeouts" && attemptsTotal < arrived)
    v(
      "attempts-total",
      undefined,
      `attempts add up to ${attemptsTotal}, the simulator received ${arrived} create requests (expected at least as many attempts)`,
    );

  // ---- money: the budget dropped by exactly one charge per recipient ---------------------------------
  const budget = sim.budgets().find((g) => g.groupId === GROUP_ID)?.budget ?? NaN;
  if (c.initialBudget - budget !== input.total)
    v("budget", undefined, `group budget dropped by ¥${c.initialBudget - budget}, the input asks ¥${input.total} once per recipient`);

  // ---- the checkpoint agrees with the CSV, whichever store holds it --------------------------------
  const view = await openStateView(c.state, campaign);
  try {
    const store = view.store;
    const known = store ? await view.requestIds() : [];
    if (known.length !== input.rows.length)
      v("checkpoint-count", undefined, `checkpoint knows ${known.length} requestIds, the input has ${input.rows.length} rows`);
    // A windowed store (PostgreSQL) answers get() only for the rows of its latest prefetch, which
    // takes UUIDs only: a mangled requestId is reported below as missing.
    await store?.prefetch?.([...new Set([...known, ...rows.map((row) => row.request_id ?? "")])].filter((rid) => UUID_SHAPE.test(rid)));
    for (const rid of known) if (!expectedRid.has(rid)) v("checkpoint-stranger", undefined, `checkpoint holds requestId ${rid}, which belongs to no recipient`);
    for (const [i, row] of rows.entries()) {
      const state = UUID_SHAPE.test(row.request_id ?? "") ? store?.get(row.request_id!) : undefined;
      if (!store || !state) {
        v("checkpoint-missing", i + 2, `checkpoint has no record of row ${i + 2} (${row.request_id})`);
        continue;
      }
      if (state.status !== row.status) v("checkpoint-status", i + 2, `row ${i + 2}: checkpoint says ${state.status}, CSV says ${row.status}`);
      if (String(state.attempts) !== row.attempts) v("checkpoint-attempts", i + 2, `row ${i + 2}: checkpoint attempts ${state.attempts}, CSV ${row.attempts}`);
      if (state.inDoubt) v("checkpoint-in-doubt", i + 2, `row ${i + 2}: checkpoint still has it in doubt`);
      const outcome = await store.readOutcome(state);
      if ((outcome?.code ?? "") !== row.points_code) v("checkpoint-code", i + 2, `row ${i + 2}: checkpoint code ${outcome?.code}, CSV code ${row.points_code}`);
      if ((outcome?.data ?? "") !== row.response_data) v("checkpoint-data", i + 2, `row ${i + 2}: checkpoint data differs from response_data`);
      if (row.status === "issued" && (outcome?.at ?? "") !== row.issued_at)
        v("checkpoint-issued-at", i + 2, `row ${i + 2}: checkpoint issued_at ${outcome?.at}, CSV ${row.issued_at}`);
    }

    // ---- files: 0600, the lock released ------------------------------------------------------------
    for (const file of [c.resultFile, ...view.files]) {
      const mode = await fileMode(file);
      if (mode !== 0o600) v("file-mode", undefined, `${basename(file)} has mode ${mode.toString(8)}, expected 600`);
    }
    if (await view.lockHeld()) v("lock-left", undefined, `the lock is still held after the final run: ${view.lockName}`);
  } finally {
    await view.close();
  }

  const figures = {
    rows: input.rows.length,
    ledgerEntries: ledger.length,
    createCalls,
    resends: createCalls - ledger.length,
    maxCallsForOneRow: maxCalls,
  };
  return { violations: found.map((f) => f.message), found, figures };
}

/** The first MAX_LISTED violations, then how many more, with the replay hint. */
export function formatViolations(title: string, violations: readonly string[], replayHint: string): string {
  const listed = violations.length <= MAX_LISTED ? violations : [...violations.slice(0, MAX_LISTED), `… and ${violations.length - MAX_LISTED} more`];
  return `${title}: ${violations.length} violation(s) ${replayHint}\n  ${listed.join("\n  ")}`;
}
