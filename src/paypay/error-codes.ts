/**
 * PayPay's error codes for the Points Code API, with what a client does about each. The simulator
 * answers from this table and the client classifies from it, so the two can never disagree.
 */

/** What the batch does with a row (or the run) after this answer. */
export type Disposition =
  /** Permanent for this row: record it failed, never retry it automatically. */
  | "rejected"
  /** The group has no budget left: stop issuing for that group, its rows stay pending. */
  | "group-exhausted"
  /** Outcome unknown or transient: retry with the same requestId. */
  | "retryable"
  /** Credentials, scope or client are wrong: stop the whole run at once. */
  | "fatal";

export interface ErrorCodeInfo {
  httpStatus: number;
  codeId: string;
  disposition: Disposition;
  meaning: string;
}

export const ERROR_CODES = {
  INVALID_REQUEST_PARAMS: { httpStatus: 400, codeId: "08100006", disposition: "rejected", meaning: "invalid data" },
  MISSING_REQUEST_PARAMS: { httpStatus: 400, codeId: "08100024", disposition: "rejected", meaning: "a parameter is missing or invalid" },
  BUDGET_NOT_ENOUGH: { httpStatus: 400, codeId: "", disposition: "group-exhausted", meaning: "group budget exhausted" },
  EXCEED_CHARGE_CODE_GROUP_MAX_PERIOD: {
    httpStatus: 400,
    codeId: "",
    disposition: "rejected",
    meaning: "startAt..endAt is longer than the group's max period",
  },
  GIFT_CARD_GROUP_NOT_EXIST: { httpStatus: 400, codeId: "", disposition: "rejected", meaning: "no such group" },
  INVALID_CHARGE_CODE_AMOUNT: { httpStatus: 400, codeId: "", disposition: "rejected", meaning: "value below the group's minimum" },
  UNAUTHORIZED: { httpStatus: 401, codeId: "08100016", disposition: "fatal", meaning: "bad key, secret, signature or clock" },
  OP_OUT_OF_SCOPE: { httpStatus: 401, codeId: "08100023", disposition: "fatal", meaning: "operation not permitted" },
  OPA_CLIENT_NOT_FOUND: { httpStatus: 404, codeId: "08100007", disposition: "fatal", meaning: "OPA client not found" },
  RATE_LIMIT: { httpStatus: 429, codeId: "08100998", disposition: "retryable", meaning: "too many requests" },
  SERVICE_ERROR: { httpStatus: 500, codeId: "08100026", disposition: "retryable", meaning: "service error" },
  INTERNAL_SERVER_ERROR: { httpStatus: 500, codeId: "08101000", disposition: "retryable", meaning: "outcome unknown" },
  MAINTENANCE_MODE: { httpStatus: 503, codeId: "08100999", disposition: "retryable", meaning: "scheduled maintenance" },
} as const satisfies Record<string, ErrorCodeInfo>;

export type PayPayErrorCode = keyof typeof ERROR_CODES;

export function isKnownErrorCode(code: string): code is PayPayErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/**
 * How to treat an error answer. A known code decides by the table; an unknown code decides by its
 * HTTP status: 5XX and 429 are "outcome unknown" (retry the same requestId), 401/403 stop the run,
 * any other 4XX is permanent for the row.
 */
export function dispositionOf(httpStatus: number, code: string | undefined): Disposition {
  if (httpStatus >= 500 || httpStatus === 429) return "retryable";
  if (code !== undefined && isKnownErrorCode(code)) return ERROR_CODES[code].disposition;
  if (httpStatus === 401 || httpStatus === 403) return "fatal";
  return "rejected";
}
