import type { ReplayBehaviour } from "../job/after-doubt.js";

/**
 * What `verify` found: one finding per assumption of the contract, each held, differed or not
 * checked, with what was seen and what to set when it differed. Plain data, written as JSON by
 * `--json` and as a config snippet by `--write-config`.
 */

export type FindingId = "clock" | "credentials" | "budget-path" | "budget-shape" | "create-path" | "code-field" | "replay" | "changed-body";

export type Verdict = "held" | "differed" | "not checked";

export interface Finding {
  id: FindingId;
  assumption: string;
  seen: string;
  verdict: Verdict;
  /** The flag or config key to set (or what to do) when it differed. */
  fix?: string;
  /** PayPay's X-REQUEST-IDs of the answers behind this finding, for support. */
  paypayRequestIds?: string[];
}

/** The settings verify observed, as `--config` keys the other commands read. */
export interface ObservedSettings {
  budgetPath?: string;
  createPath?: string;
  codeField?: string;
  replay?: ReplayBehaviour;
}

export interface TestCode {
  requestId: string;
  requestIdSource: "--request-id" | "derived from the merchant and today's JST date";
  groupId: string;
  groupSource: "--group-id or groupId in --config" | "the first group of the budget read";
  giftCardValue: number;
  giftCardName: string;
  startAt: string;
  endAt: string;
  /** The code PayPay issued, when it could be read. */
  code?: string;
  budgetBefore?: number;
  budgetAfterCreate?: number;
  budgetAfterReplay?: number;
  budgetAfterChangedBody?: number;
}

export interface VerifyReport {
  target: string;
  checkedAt: string;
  findings: Finding[];
  testCode?: TestCode;
  /** Why verification could not go on (unreachable, credentials refused, outcome unknown). */
  stopped?: string;
  observed: ObservedSettings;
}

/** The contract's assumptions, in the order they are checked and printed. */
export const ASSUMPTIONS: Record<FindingId, string> = {
  clock: "this host's clock is within 60 s of PayPay's (limit 120 s)",
  credentials: "the credentials and merchant are accepted",
  "budget-path": "budgets are read at the budget path",
  "budget-shape": "budgets come as data.groups[] with int64 groupId numbers",
  "create-path": "codes are created at the create path",
  "code-field": "a success's data carries the code in the code field",
  replay: "the same requestId and body again returns the same code, no second charge",
  "changed-body": "the same requestId with another body is refused with 400 INVALID_REQUEST_PARAMS",
};

export function finding(id: FindingId, verdict: Verdict, seen: string, extra: Pick<Finding, "fix" | "paypayRequestIds"> = {}): Finding {
  const result: Finding = { id, assumption: ASSUMPTIONS[id], seen, verdict };
  if (extra.fix !== undefined) result.fix = extra.fix;
  if (extra.paypayRequestIds !== undefined && extra.paypayRequestIds.length > 0) result.paypayRequestIds = extra.paypayRequestIds;
  return result;
}

export function notChecked(id: FindingId, why: string): Finding {
  return finding(id, "not checked", why);
}
