import { access } from "node:fs/promises";
import { JournalStore } from "../checkpoint/journal-store.js";
import { BatchError } from "../errors.js";
import { resolveInput } from "../job/input-rows.js";
import { blockingProblems, preparePlan } from "../job/prepare-plan.js";
import { readBudgets } from "../job/read-budgets.js";
import { openConnection } from "./connection.js";
import { EXIT } from "./exit-codes.js";
import { formatPlan } from "./format-plan.js";
import type { IssueSettings } from "./issue-settings.js";
import { writeProblemsCsv } from "./problems-file.js";
import { pastStartNote } from "./today.js";

/**
 * `plan` and `issue --dry-run`: validate every row, read the checkpoint without locking or changing
 * it, and compare with live budgets. Sends nothing but the budget read.
 */
export async function runPlan(settings: IssueSettings, env: NodeJS.ProcessEnv): Promise<{ text: string; exitCode: number }> {
  const { job } = settings;
  const input = await resolveInput(job.input);
  const exists = await access(job.state).then(
    () => true,
    () => false,
  );
  const store = exists ? await JournalStore.open(job.state, input.campaign, { readOnly: true }) : undefined;
  try {
    let budgetNote: string | undefined;
    const connection = await openConnection(settings.connection, env);
    try {
      const outcome = await preparePlan(input, store, job.retryFailed, async () => {
        try {
          return await readBudgets(connection.client);
        } catch (error) {
          if (!(error instanceof BatchError)) throw error;
          budgetNote = `budgets not compared: ${error.message}`;
          return undefined;
        }
      }, { evenWithNothingToSend: true });
      const blocking = blockingProblems(outcome, job.allowPartial).length > 0;
      if (settings.problemsCsv && outcome.plan.problems.length > 0) await writeProblemsCsv(settings.problemsCsv, outcome.plan.problems);
      const notes = [outcome.budgets ? `budgets from ${connection.description}` : budgetNote, pastStartNote(outcome.plan, job.input.today)];
      const text = formatPlan(input, outcome, exists ? job.state : undefined, notes, settings.problemsCsv);
      return { text, exitCode: outcome.plan.problems.length > 0 || blocking ? EXIT.refused : EXIT.ok };
    } finally {
      await connection.close();
    }
  } finally {
    await store?.close();
  }
}
