/**
 * Request and response shapes of the Points Code API. int64 ids travel as decimal strings inside
 * the program and as bare JSON numbers on the wire, so they never pass through a JS `number`.
 */

/** A decimal int64 as a string, e.g. "29952775505428480". */
export type Int64String = string;

export interface CreatePointsCodeRequest {
  requestId: string;
  groupId: Int64String;
  giftCardName: string;
  /** JPY, integer 1..999999. */
  giftCardValue: number;
  /** yyyy-MM-dd */
  startAt: string;
  /** yyyy-MM-dd */
  endAt: string;
}

export interface GroupBudget {
  groupId: Int64String;
  /** Remaining budget in JPY. */
  budget: number;
  maxPeriodDays: number | undefined;
}

export interface ResultInfo {
  code: string;
  message: string;
  codeId: string;
}
