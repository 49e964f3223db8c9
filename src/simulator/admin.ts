import type { IncomingMessage, ServerResponse } from "node:http";
import { LosslessNumber } from "lossless-json";
import { isInt64String, readInt64, readSafeInteger } from "../paypay/int64.js";
import { readBody } from "./http-io.js";
import type { Ledger } from "./ledger.js";
import { ApiError, jsonBody, sendJson } from "./responses.js";
import type { SimulatorGroup, SimulatorStats } from "./types.js";
import { parseJsonObject } from "./validate-request.js";

/**
 * Unauthenticated test hooks for a simulator running in another process. Ids go out as bare
 * int64 numbers, as on the API itself, so a reader that rounds them fails here too.
 */

export const ADMIN_LEDGER_PATH = "/__simulator/ledger";
export const ADMIN_BUDGET_PATH = "/__simulator/budget";

function budgetsJson(groups: SimulatorGroup[]): unknown[] {
  return groups.map((group) => ({ ...group, groupId: new LosslessNumber(group.groupId) }));
}

export function sendLedger(res: ServerResponse, ledger: Ledger, stats: SimulatorStats): void {
  const body = {
    entries: ledger.entries().map((entry) => ({ ...entry, groupId: new LosslessNumber(entry.groupId) })),
    calls: Object.fromEntries(ledger.callsByRequestId()),
    budgets: budgetsJson(ledger.budgets()),
    stats,
  };
  sendJson(res, 200, jsonBody(body));
}

export async function setBudgetFromRequest(req: IncomingMessage, res: ServerResponse, ledger: Ledger): Promise<void> {
  const fields = parseJsonObject(await readBody(req));
  const rawId = fields?.groupId;
  const groupId = typeof rawId === "string" && isInt64String(rawId) ? rawId : readInt64(rawId);
  const budget = readSafeInteger(fields?.budget);
  if (groupId === undefined || budget === undefined || budget < 0) {
    throw new ApiError("INVALID_REQUEST_PARAMS", 'Expected {"groupId":<int64>,"budget":<non-negative integer>}');
  }
  if (!ledger.budgets().some((group) => group.groupId === groupId)) {
    throw new ApiError("GIFT_CARD_GROUP_NOT_EXIST", `groupId ${groupId} does not exist`);
  }
  ledger.setBudget(groupId, budget);
  sendJson(res, 200, jsonBody({ budgets: budgetsJson(ledger.budgets()) }));
}
