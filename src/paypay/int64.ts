import { isLosslessNumber, parse, stringify } from "lossless-json";

/**
 * int64 handling. JSON from PayPay may carry ids above 2^53, which `JSON.parse` would round. We
 * parse with lossless-json (every number stays a LosslessNumber holding its exact text) and read
 * each number out as an int64 string or a safe JS number, as the field requires.
 */

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT64_PATTERN = /^-?(0|[1-9][0-9]*)$/;

/** True when `text` is a canonical decimal int64 (no `+`, no leading zeros, no spaces, no `-0`). */
export function isInt64String(text: string): boolean {
  // Every row of a campaign asks this of its group id, nearly always the same one: remember the last yes.
  if (text === lastInt64) return true;
  if (!INT64_PATTERN.test(text) || text === "-0") return false;
  const value = BigInt(text);
  if (value < INT64_MIN || value > INT64_MAX) return false;
  lastInt64 = text;
  return true;
}

let lastInt64: string | undefined;

/** Parses JSON keeping every number's exact text. Throws SyntaxError on invalid JSON. */
export function parseJsonExact(text: string): unknown {
  return parse(text);
}

/** Serializes a value from `parseJsonExact` back to JSON with every digit as received. */
export function stringifyJsonExact(value: unknown): string {
  return stringify(value) ?? "null";
}

/** An int64 read from a parsed JSON value (a number, never a quoted string), or undefined. */
export function readInt64(value: unknown): string | undefined {
  if (isLosslessNumber(value)) return isInt64String(value.value) ? value.value : undefined;
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/** A JSON number that fits a JS number exactly, or undefined. */
export function readSafeInteger(value: unknown): number | undefined {
  const text = readInt64(value);
  if (text === undefined) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A JSON string value, or the exact text of a JSON number; undefined for anything else. */
export function readScalarText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (isLosslessNumber(value)) return value.value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}
