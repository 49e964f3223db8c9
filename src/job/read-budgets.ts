import { setTimeout as sleep } from "node:timers/promises";
import { BatchError } from "../errors.js";
import { BudgetReadError } from "../paypay/client.js";
import type { GroupBudget } from "../paypay/types.js";
import { backoffDelay, DEFAULT_BACKOFF } from "./backoff.js";

const ATTEMPTS = 4;

/**
 * Reads group budgets, retrying transient failures a few times. A read is harmless to repeat; a
 * refusal of the credentials is not transient and stops at once.
 */
export async function readBudgets(api: { getGroupBudgets(): Promise<GroupBudget[]> }, random: () => number = Math.random): Promise<GroupBudget[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.getGroupBudgets();
    } catch (error) {
      if (!(error instanceof BudgetReadError)) throw error;
      if (error.fatal || attempt >= ATTEMPTS) {
        const tries = error.fatal ? "" : ` (${attempt} attempts)`;
        throw new BatchError("fatal-api", error.errorCode, `${error.message}${tries}`, { cause: error });
      }
      await sleep(backoffDelay(attempt, random(), DEFAULT_BACKOFF));
    }
  }
}
