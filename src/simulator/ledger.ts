import { LosslessNumber } from "lossless-json";
import type { CreatePointsCodeRequest } from "../paypay/types.js";
import type { CodeGenerator } from "./codes.js";
import { formatDayNumber } from "../dates.js";
import { ApiError } from "./responses.js";
import type { LedgerEntry, SimulatorContract, SimulatorGroup } from "./types.js";
import type { ValidCreateRequest } from "./validate-request.js";

interface Committed {
  entry: LedgerEntry;
  /** As sent, so a replay is compared with what the client sent, not with the shifted endAt. */
  request: CreatePointsCodeRequest;
  /** Answered again verbatim to a replay. */
  data: Record<string, unknown>;
}

export type IssueOutcome = { replayed: boolean; data: Record<string, unknown> };

function sameRequest(a: CreatePointsCodeRequest, b: CreatePointsCodeRequest): boolean {
  return (
    a.requestId === b.requestId &&
    a.groupId === b.groupId &&
    a.giftCardName === b.giftCardName &&
    a.giftCardValue === b.giftCardValue &&
    a.startAt === b.startAt &&
    a.endAt === b.endAt
  );
}

export function assertBudget(budget: number): void {
  if (!Number.isSafeInteger(budget) || budget < 0) throw new Error(`Budget must be a non-negative integer, got ${String(budget)}`);
}

/** Groups, their remaining budgets and every committed code: the simulator's whole state. */
export class Ledger {
  private readonly groups = new Map<string, SimulatorGroup>();
  private readonly committed = new Map<string, Committed>();
  /** Codes a "reissued" changed body charged on top of the first one under the same requestId. */
  private readonly reissued: Committed[] = [];
  private readonly calls = new Map<string, number>();
  private readonly contract: Required<SimulatorContract>;

  constructor(
    groups: readonly SimulatorGroup[],
    private readonly codes: CodeGenerator,
    private readonly now: () => number,
    contract: SimulatorContract = {},
  ) {
    for (const group of groups) this.groups.set(group.groupId, { ...group });
    this.contract = { codeField: "giftCardCode", replay: "original", changedBody: "refused", ...contract };
  }

  recordCall(requestId: string): void {
    this.calls.set(requestId, (this.calls.get(requestId) ?? 0) + 1);
  }

  /**
   * Idempotent by requestId: a replay of the same request gets the original answer and is not
   * charged again. Refusals leave no trace, so the same requestId can succeed after a top-up.
   */
  issue({ request, startDay, endDay }: ValidCreateRequest): IssueOutcome {
    const previous = this.committed.get(request.requestId);
    if (previous !== undefined) {
      if (!sameRequest(previous.request, request)) {
        if (this.contract.changedBody === "original") return { replayed: true, data: previous.data };
        if (this.contract.changedBody === "refused") throw new ApiError("INVALID_REQUEST_PARAMS", "requestId already used with a different request");
      } else {
        if (this.contract.replay === "refused") throw new ApiError("INVALID_REQUEST_PARAMS", "requestId already used");
        return { replayed: true, data: previous.data };
      }
    }

    const group = this.groups.get(request.groupId);
    if (group === undefined) throw new ApiError("GIFT_CARD_GROUP_NOT_EXIST", `groupId ${request.groupId} does not exist`);
    if (request.giftCardValue < group.minAmount) {
      throw new ApiError("INVALID_CHARGE_CODE_AMOUNT", `giftCardValue is below the group's minimum of ${group.minAmount}`);
    }
    if (endDay - startDay > group.maxPeriodDays) {
      throw new ApiError("EXCEED_CHARGE_CODE_GROUP_MAX_PERIOD", `startAt..endAt exceeds the group's max period of ${group.maxPeriodDays} days`);
    }
    if (group.budget < request.giftCardValue) throw new ApiError("BUDGET_NOT_ENOUGH", `groupId ${request.groupId} has not enough budget`);

    group.budget -= request.giftCardValue;
    // PayPay's FAQ: a code that starts and ends on the same day is created ending the next day.
    const endAt = startDay === endDay ? formatDayNumber(endDay + 1) : request.endAt;
    const code = this.codes.next();
    const entry: LedgerEntry = {
      requestId: request.requestId,
      code,
      groupId: request.groupId,
      giftCardValue: request.giftCardValue,
      giftCardName: request.giftCardName,
      startAt: request.startAt,
      endAt,
      charges: 1,
      createdAt: new Date(this.now()).toISOString(),
    };
    const data = {
      [this.contract.codeField]: code,
      requestId: request.requestId,
      groupId: new LosslessNumber(request.groupId),
      giftCardName: request.giftCardName,
      giftCardValue: request.giftCardValue,
      startAt: request.startAt,
      endAt,
    };
    if (previous === undefined) this.committed.set(request.requestId, { entry, request, data });
    else this.reissued.push({ entry, request, data });
    return { replayed: false, data };
  }

  entries(): LedgerEntry[] {
    return [...this.committed.values(), ...this.reissued].map(({ entry }) => ({ ...entry }));
  }

  callsByRequestId(): Map<string, number> {
    return new Map(this.calls);
  }

  budgets(): SimulatorGroup[] {
    return [...this.groups.values()].map((group) => ({ ...group }));
  }

  setBudget(groupId: string, budget: number): void {
    const group = this.groups.get(groupId);
    if (group === undefined) throw new Error(`Unknown groupId ${groupId}`);
    assertBudget(budget);
    group.budget = budget;
  }

  /** Another issuer spends from the group behind the tool's back (for reconciliation tests). */
  spendOnTheSide(groupId: string, amount: number): void {
    const group = this.groups.get(groupId);
    if (group === undefined) throw new Error(`Unknown groupId ${groupId}`);
    if (!Number.isSafeInteger(amount) || amount < 0 || amount > group.budget) throw new Error(`Cannot spend ${amount} of a budget of ${group.budget}`);
    group.budget -= amount;
  }
}
