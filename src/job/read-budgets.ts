import { setTimeout as sleep } from "node:timers/promises";
import pRetry from "p-retry";
import { BatchError } from "../errors.js";
import { BudgetReadError } from "../paypay/client.js";
import type { GroupBudget } from "../paypay/types.js";
import { backoffDelay, DEFAULT_BACKOFF } from "./backoff.js";

const ATTEMPTS = 4;

/**
 * Reads group budgets, retrying transient failures a few times (p-retry, with the pure backoff's
 * delay). A read is harmless to repeat; a refusal of the credentials is not transient and stops at once.
 */
export async function readBudgets(api: { getGroupBudgets(): Promise<GroupBudget[]> }, random: () => number = Math.random): Promise<GroupBudget[]> {
  let attempts = 0;
  try {
    return await pRetry(
      () => {
        attempts++;
        return api.getGroupBudgets();
      },
      {
        retries: ATTEMPTS - 1,
        minTimeout: 0,
        factor: 1,
        shouldRetry: ({ error }) => error instanceof BudgetReadError && !error.fatal,
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          if (error instanceof BudgetReadError && !error.fatal && retriesLeft > 0) await sleep(backoffDelay(attemptNumber, random(), DEFAULT_BACKOFF));
        },
      },
    );
  } catch (error) {
    if (!(error instanceof BudgetReadError)) throw error;
    const tries = error.fatal ? "" : ` (${attempts} attempts)`;
    throw new BatchError("fatal-api", error.errorCode, `${error.message}${tries}`, { cause: error });
  }
}
