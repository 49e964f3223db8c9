import { access } from "node:fs/promises";
import { JournalStore } from "../checkpoint/journal-store.js";
import { lockedBy } from "../checkpoint/lock.js";
import { PgReader } from "../checkpoint/pg/pg-reader.js";
import { purgedError } from "../checkpoint/pg/purge.js";
import { isPostgresState } from "../checkpoint/pg/pg-url.js";
import { refuseOtherTarget } from "../checkpoint/target-binding.js";
import { refuseIfLocked } from "../checkpoint/lock-status.js";
import { BatchError } from "../errors.js";
import { resolveInput } from "../job/input-rows.js";
import { changedRowsNote, prepareRun, refusalOf } from "../job/prepare-run.js";
import { readBudgets } from "../job/read-budgets.js";
import { refuseOtherOwner } from "../job/result-owner.js";
import { openConnection } from "./connection.js";
import { formatPlan } from "./format-plan.js";
import type { IssueSettings } from "./issue-settings.js";
import { writeProblemsOf } from "./problems-file.js";
import { pastStartNote } from "./today.js";

/**
 * `plan` and `issue --dry-run`: the same planning as `issue` (prepare-run.ts), reading the checkpoint
 * without locking or changing it. Returns the plan for people, and the refusal `issue` would meet
 * (thrown by the caller once the plan is shown, so the entry point gives it the same exit code).
 */
export async function runPlan(settings: IssueSettings, env: NodeJS.ProcessEnv): Promise<{ text: string; refusal?: BatchError }> {
  const { job } = settings;
  const input = await resolveInput(job.input);
  const reader = isPostgresState(job.state) ? await PgReader.open(job.state, input.campaign, env) : undefined;
  if (reader?.purged) {
    await reader.close();
    throw purgedError(reader.location, reader.purged);
  }
  const state = reader?.location ?? job.state;
  const exists = reader
    ? reader.store !== undefined
    : await access(job.state).then(
        () => true,
        () => false,
      );
  const connection = await openConnection(settings.connection, env).catch(async (error: unknown) => {
    await reader?.close();
    throw error;
  });
  try {
    const store = reader ? reader.store : exists ? await JournalStore.open(job.state, input.campaign, { readOnly: true }) : undefined;
    try {
      if (store?.target) refuseOtherTarget(state, store.target, connection.target);
      if (reader) {
        const lock = await reader.lockStatus();
        if (lock.state === "held") throw lockedBy(state, lock.owner);
      } else await refuseIfLocked(`${job.state}.lock`);
      await refuseOtherOwner(job.out, state, input.campaign, store?.lastPlan()?.out);
      const prepared = await prepareRun(input, store, job, () => readBudgets(connection.client), { evenWithNothingToSend: true });
      const budgetNote = prepared.budgets
        ? `budgets from ${connection.description}`
        : prepared.budgetError
          ? `budgets not compared: ${prepared.budgetError.message}`
          : undefined;
      const text = formatPlan(input, prepared, exists ? state : undefined, [budgetNote, pastStartNote(prepared.plan, job.input.today)], connection.target);
      const refusal = refusalOf(prepared, job);
      if (refusal) {
        await writeProblemsOf(refusal, settings.problemsCsv);
        return { text, refusal };
      }
      const changed = changedRowsNote(prepared.plan, job.acceptChanged);
      return changed ? { text, refusal: new BatchError("rows-changed", "ROWS_CHANGED", changed) } : { text };
    } finally {
      await (reader ?? store)?.close();
    }
  } finally {
    await connection.close();
  }
}
