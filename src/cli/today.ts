import { UsageError } from "../errors.js";
import { isIsoDate, tokyoDate } from "../dates.js";
import type { Plan } from "../job/plan.js";

/**
 * Today in Asia/Tokyo, against which end dates are checked. `POINTS_CODE_BATCH_TODAY=yyyy-MM-dd`
 * pins it: a clock for tests (and for rehearsing a campaign on the day it will run), never needed
 * in production.
 */
export const TODAY_ENV = "POINTS_CODE_BATCH_TODAY";

export function todayFrom(env: NodeJS.ProcessEnv, nowMs = Date.now()): string {
  const pinned = env[TODAY_ENV];
  if (pinned === undefined || pinned === "") return tokyoDate(nowMs);
  if (!isIsoDate(pinned)) throw new UsageError(`Expected ${TODAY_ENV} to be a real date written yyyy-MM-dd, got ${JSON.stringify(pinned)}`);
  return pinned;
}
/** A start date before today is allowed (the code is usable at once), but said once, not per row. */
export function pastStartNote(plan: Plan, today: string | undefined): string | undefined {
  if (today === undefined || plan.firstStartAt === undefined || plan.firstStartAt >= today) return undefined;
  return `start_at ${plan.firstStartAt} is before today (${today}, Asia/Tokyo): those codes are usable from the moment they are issued`;
}
