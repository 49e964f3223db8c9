import { parseJsonExact, readInt64, readSafeInteger } from "../paypay/int64.js";
import type { CreatePointsCodeRequest } from "../paypay/types.js";
import { dayNumber } from "../dates.js";
import { ApiError } from "./responses.js";

const FIELDS = ["requestId", "groupId", "giftCardName", "giftCardValue", "startAt", "endAt"] as const;
const MAX_REQUEST_ID = 64;
const MAX_NAME = 40;
const MAX_VALUE = 999_999;

/** A create request that passed validation, with its dates as day numbers for the group checks. */
export interface ValidCreateRequest {
  request: CreatePointsCodeRequest;
  startDay: number;
  endDay: number;
}

const codePoints = (text: string): number => [...text].length;

function invalid(message: string): ApiError {
  return new ApiError("INVALID_REQUEST_PARAMS", message);
}

/** Decodes strictly: a body that is not UTF-8 is not JSON, rather than JSON with U+FFFD in it. */
export function parseJsonObject(body: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = parseJsonExact(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * The requestId of any body that has one, valid or not: the ledger counts every attempt,
 * including ones refused later, so a test can see how often the client retried.
 */
export function peekRequestId(body: Buffer): string | undefined {
  const requestId = parseJsonObject(body)?.requestId;
  return typeof requestId === "string" && requestId.length > 0 ? requestId : undefined;
}

function readString(fields: Record<string, unknown>, name: string, max: number): string {
  const value = fields[name];
  if (typeof value !== "string" || value.length === 0 || codePoints(value) > max) {
    throw invalid(`${name} must be a string of 1..${max} characters`);
  }
  return value;
}

function readDate(fields: Record<string, unknown>, name: "startAt" | "endAt"): { text: string; day: number } {
  const value = fields[name];
  const day = typeof value === "string" ? dayNumber(value) : undefined;
  if (typeof value !== "string" || day === undefined) throw invalid(`${name} must be a calendar date formatted yyyy-MM-dd`);
  return { text: value, day };
}

/** Throws ApiError with the first problem, naming the field: missing fields before invalid ones. */
export function validateCreateRequest(body: Buffer): ValidCreateRequest {
  const fields = parseJsonObject(body);
  if (fields === undefined) throw invalid("Request body must be a JSON object");

  // null counts as missing: a serializer that writes absent optionals as null means "not given".
  const missing = FIELDS.find((name) => fields[name] === undefined || fields[name] === null);
  if (missing !== undefined) throw new ApiError("MISSING_REQUEST_PARAMS", `${missing} is required`);

  const requestId = readString(fields, "requestId", MAX_REQUEST_ID);

  // readInt64 refuses a quoted id: PayPay types groupId as an int64 JSON number.
  const groupId = readInt64(fields.groupId);
  if (groupId === undefined) throw invalid("groupId must be an int64 JSON number");

  const giftCardName = readString(fields, "giftCardName", MAX_NAME);

  const giftCardValue = readSafeInteger(fields.giftCardValue);
  if (giftCardValue === undefined || giftCardValue < 1 || giftCardValue > MAX_VALUE) {
    throw invalid(`giftCardValue must be an integer 1..${MAX_VALUE}`);
  }

  const start = readDate(fields, "startAt");
  const end = readDate(fields, "endAt");
  if (start.day > end.day) throw invalid("startAt must not be after endAt");

  return {
    request: { requestId, groupId, giftCardName, giftCardValue, startAt: start.text, endAt: end.text },
    startDay: start.day,
    endDay: end.day,
  };
}
