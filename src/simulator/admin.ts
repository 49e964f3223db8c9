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
export const ADMIN_SPEND_PATH = "/__simulator/spend";

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

/** Reads `{"groupId":<int64>,"<field>":<non-negative integer>}` naming a group the ledger has. */
async function readGroupAmount(req: IncomingMessage, ledger: Ledger, field: string): Promise<{ groupId: string; amount: number }> {
  const fields = parseJsonObject(await readBody(req));
  const rawId = fields?.groupId;
  const groupId = typeof rawId === "string" && isInt64String(rawId) ? rawId : readInt64(rawId);
  const amount = readSafeInteger(fields?.[field]);
  if (groupId === undefined || amount === undefined || amount < 0) {
    throw new ApiError("INVALID_REQUEST_PARAMS", `Expected {"groupId":<int64>,"${field}":<non-negative integer>}`);
  }
  const group = ledger.budgets().find((g) => g.groupId === groupId);
  if (!group) throw new ApiError("GIFT_CARD_GROUP_NOT_EXIST", `groupId ${groupId} does not exist`);
  return { groupId, amount };
}

export async function setBudgetFromRequest(req: IncomingMessage, res: ServerResponse, ledger: Ledger): Promise<void> {
  const { groupId, amount } = await readGroupAmount(req, ledger, "budget");
  ledger.setBudget(groupId, amount);
  sendJson(res, 200, jsonBody({ budgets: budgetsJson(ledger.budgets()) }));
}

/** Another issuer spends `{"groupId","amount"}` from a group, so reconciliation has something to find. */
export async function spendFromRequest(req: IncomingMessage, res: ServerResponse, ledger: Ledger): Promise<void> {
  const { groupId, amount } = await readGroupAmount(req, ledger, "amount");
  const group = ledger.budgets().find((g) => g.groupId === groupId);
  if (group && amount > group.budget) throw new ApiError("BUDGET_NOT_ENOUGH", `group ${groupId} has ${group.budget} left, less than ${amount}`);
  ledger.spendOnTheSide(groupId, amount);
  sendJson(res, 200, jsonBody({ budgets: budgetsJson(ledger.budgets()) }));
}
