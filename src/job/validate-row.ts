import { isInt64String } from "../paypay/int64.js";
import type { CreatePointsCodeRequest } from "../paypay/types.js";
import type { ColumnIndex, ColumnMap, LogicalColumn } from "./columns.js";
import { dayNumber } from "../dates.js";

/**
 * Row validation, pure. Each rule names itself in the message a user reads, so "row 7, column
 * amount, value '1e3': must be a whole number of yen written with digits only" is enough to fix it.
 */

/** Values used when a row leaves an optional column empty (from flags or the config file). */
export interface RowDefaults {
  amount?: number;
  giftCardName?: string;
  groupId?: string;
  startAt?: string;
  endAt?: string;
}

export interface RowProblem {
  /** Spreadsheet row number: the header is row 1. */
  row: number;
  column: string;
  value: string;
  rule: string;
}

export interface ValidRow {
  row: number;
  recipientId: string;
  request: Omit<CreatePointsCodeRequest, "requestId">;
}

export const MAX_RECIPIENT_ID_LENGTH = 256;
export const MAX_NAME_CHARACTERS = 40;
export const MAX_AMOUNT = 999_999;
const AMOUNT_PATTERN = /^[1-9][0-9]*$/;
// C0/C1 controls and DEL would reach the PayPay app's screen or break the CSV for the next reader.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/u;

/**
 * Why a plausible amount is still refused. The amount is money, so `1,000` and `５００` are never
 * guessed at; the hint names what to change in the sheet.
 */
function amountHint(text: string): string {
  if (/^[0-9０-９]+$/.test(text) && /[０-９]/.test(text))
    return ` (it is written with full-width digits; type ASCII digits 0-9, e.g. ${JSON.stringify(toAsciiDigits(text))})`;
  if (/^[1-9][0-9]{0,2}([,，][0-9]{3})+$/.test(text))
    return ` (it has a thousands separator ","; write ${JSON.stringify(text.replace(/[,，]/g, ""))}, or format the cell without separators)`;
  return "";
}

function toAsciiDigits(text: string): string {
  return text.replace(/[０-９]/g, (d) => String.fromCharCode(d.charCodeAt(0) - 0xff10 + 0x30));
}

export function characterCount(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

export function validateRow(
  record: readonly string[],
  row: number,
  index: ColumnIndex,
  map: ColumnMap,
  defaults: RowDefaults,
  /** yyyy-MM-dd in Asia/Tokyo: an end date before it is refused (a code already expired is useless). */
  today?: string,
): { ok: ValidRow } | { problems: RowProblem[] } {
  const problems: RowProblem[] = [];
  const cell = (column: LogicalColumn): string | undefined => {
    const i = index[column];
    const value = i >= 0 ? record[i] : undefined;
    return value === undefined || value === "" ? undefined : value;
  };
  const fail = (column: LogicalColumn, value: string | undefined, rule: string): void => {
    problems.push({ row, column: map[column], value: value ?? "", rule });
  };

  const recipientId = cell("recipient_id");
  if (recipientId === undefined || recipientId.trim() === "") fail("recipient_id", recipientId, "is required");
  else if (recipientId !== recipientId.trim()) fail("recipient_id", recipientId, "must not start or end with spaces");
  else if (characterCount(recipientId) > MAX_RECIPIENT_ID_LENGTH) fail("recipient_id", recipientId, `must be at most ${MAX_RECIPIENT_ID_LENGTH} characters`);
  else if (CONTROL_CHARACTERS.test(recipientId)) fail("recipient_id", recipientId, "must not contain control characters");

  const amountText = cell("amount");
  let amount = defaults.amount;
  if (amountText !== undefined) {
    amount = AMOUNT_PATTERN.test(amountText) && amountText.length <= 6 ? Number(amountText) : undefined;
    if (amount === undefined || amount > MAX_AMOUNT) {
      fail("amount", amountText, `must be a whole number of yen from 1 to ${MAX_AMOUNT}, digits only${amountHint(amountText)}`);
      amount = undefined;
    }
  } else if (amount === undefined) {
    fail("amount", amountText, "is required (or give a default with --value)");
  }

  const name = cell("gift_card_name") ?? defaults.giftCardName;
  if (name === undefined) fail("gift_card_name", name, "is required (or give a default with --name)");
  else if (name.trim() === "") fail("gift_card_name", name, "must not be blank");
  else if (characterCount(name) > MAX_NAME_CHARACTERS) {
    fail("gift_card_name", name, `must be at most ${MAX_NAME_CHARACTERS} characters (has ${characterCount(name)})`);
  } else if (CONTROL_CHARACTERS.test(name)) fail("gift_card_name", name, "must not contain control characters");

  const groupId = cell("group_id") ?? defaults.groupId;
  if (groupId === undefined) fail("group_id", groupId, "is required (or give a default with --group-id)");
  else if (!isInt64String(groupId) || groupId.startsWith("-") || groupId === "0") {
    fail("group_id", groupId, "must be a positive 64-bit integer written with digits only");
  }

  const startAt = cell("start_at") ?? defaults.startAt;
  const endAt = cell("end_at") ?? defaults.endAt;
  const startDay = checkDate("start_at", startAt, "--start-at");
  const endDay = checkDate("end_at", endAt, "--end-at");
  if (startDay !== undefined && endDay !== undefined && startDay > endDay) {
    fail("end_at", endAt, `must not be before start_at (${startAt})`);
  } else if (endDay !== undefined && today !== undefined && endDay < (dayNumber(today) ?? -Infinity)) {
    fail("end_at", endAt, `is in the past (today is ${today} in Asia/Tokyo): the code would expire before anyone could use it`);
  }

  function checkDate(column: "start_at" | "end_at", value: string | undefined, flag: string): number | undefined {
    if (value === undefined) {
      fail(column, value, `is required (or give a default with ${flag})`);
      return undefined;
    }
    const day = dayNumber(value);
    if (day === undefined) fail(column, value, "must be a real calendar date written yyyy-MM-dd");
    return day;
  }

  if (problems.length > 0) return { problems };
  return {
    ok: {
      row,
      recipientId: recipientId as string,
      request: {
        groupId: groupId as string,
        giftCardName: name as string,
        giftCardValue: amount as number,
        startAt: startAt as string,
        endAt: endAt as string,
      },
    },
  };
}
