import { isLosslessNumber } from "lossless-json";
import { parseJsonExact, readScalarText, stringifyJsonExact } from "./int64.js";

/** PayPay's answer envelope: `{"resultInfo":{"code","message",…},"data":…}`. */
export interface Envelope {
  code: string;
  message: string;
  /** As lossless-json reads it: every number a LosslessNumber. */
  data: unknown;
}

/** The envelope, or undefined when the body is not a complete `{resultInfo:{code,…},data}` object. */
export function parseEnvelope(body: string): Envelope | undefined {
  let parsed: unknown;
  try {
    parsed = parseJsonExact(body);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || !isRecord(parsed.resultInfo)) return undefined;
  const code = parsed.resultInfo.code;
  if (typeof code !== "string" || code === "") return undefined;
  const message = readScalarText(parsed.resultInfo.message) ?? "";
  return { code, message, data: parsed.data };
}

/**
 * What classifying a create answer reads of its envelope: the result code and message, and on a
 * success the issued code and the whole `data` object as JSON text with every digit as received.
 *
 * Every answer is read once per request, so this is on the send path's budget (issue #15). The exact
 * reading (lossless-json) costs about four times what `JSON.parse` does and allocated more than any
 * other step of a request, because it builds strings a character at a time. `JSON.parse` rounds
 * numbers above 2^53, which every success carries (the groupId), so it cannot give `data`'s text by
 * itself; but the body already holds that text. So: `JSON.parse` checks the body and gives the
 * strings, and `data`'s text is cut from the body where that cut is exactly what the exact reading
 * would write. Anything else (a numeric message or code, escapes, whitespace, repeated keys,
 * integer-like keys, characters outside the BMP) takes the exact reading, as before.
 */

export interface CreateEnvelope {
  code: string;
  message: string;
  /** `data[codeField]` as text, when `data` is an object holding it as a string or number. */
  issuedCode?: string;
  /** `data` as JSON text, every digit as received, when `data` is an object. */
  dataText?: string;
}

/** The envelope of a create answer, or undefined when the body is not a complete `{resultInfo:{code,…},data}` object. */
export function readCreateEnvelope(body: string, codeField: string): CreateEnvelope | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return readCreateEnvelopeExact(body, codeField);
  }
  if (!isRecord(parsed) || !isRecord(parsed.resultInfo)) return undefined;
  const { code, message } = parsed.resultInfo;
  if (typeof code !== "string" || code === "") return undefined;
  if (message !== undefined && typeof message !== "string") return readCreateEnvelopeExact(body, codeField);
  const data = parsed.data;
  const issued = isRecord(data) ? data[codeField] : undefined;
  const plain = issued === undefined || typeof issued === "string" ? plainForm(body, parsed) : undefined;
  if (plain === undefined) return readCreateEnvelopeExact(body, codeField);
  if (!isRecord(data)) return { code, message: message ?? "" };
  return { code, message: message ?? "", issuedCode: issued as string | undefined, dataText: plain.dataText };
}

/** The same reading through lossless-json alone: the reference the fast reading must equal. */
export function readCreateEnvelopeExact(body: string, codeField: string): CreateEnvelope | undefined {
  const envelope = parseEnvelope(body);
  if (envelope === undefined) return undefined;
  const { code, message, data } = envelope;
  if (!isRecord(data)) return { code, message };
  return { code, message, issuedCode: readScalarText(data[codeField]), dataText: stringifyJsonExact(data) };
}

/** A JSON object: not an array, and not a number as lossless-json reads one (an object too). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !isLosslessNumber(value);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

/**
 * Whether `body` is in the plain form, where JSON.parse's reading and a cut of the text give exactly
 * what lossless-json's reading and writing would, and if so the text of its top-level `data` object
 * (when `data` is one). `body` is valid JSON (JSON.parse read it into `parsed`). The plain form has
 * no whitespace between tokens and no escapes (the writer removes the one and rewrites the other),
 * no surrogate (a lone one would be escaped), no repeated key (JSON.parse keeps the last, lossless-json
 * refuses differing ones), and no integer-like key (JS puts those first). Undefined otherwise.
 */
export function plainForm(body: string, parsed: Record<string, unknown>): { dataText?: string } | undefined {
  let depth = 0;
  let members = 0;
  let inString = false;
  let keyStart = -1;
  let dataStart = -1;
  let dataEnd = -1;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (inString) {
      if (c === QUOTE) inString = false;
      else if (c === BACKSLASH || (c >= 0xd800 && c <= 0xdfff)) return undefined;
      continue;
    }
    switch (c) {
      case QUOTE:
        inString = true;
        if (depth === 1 && body.charCodeAt(i - 1) !== COLON) keyStart = i;
        break;
      case COLON:
        members++;
        // The cut is only ever of an object: a `data` of any other kind has no text to keep.
        if (depth === 1 && keyStart + 6 === i && body.startsWith('"data"', keyStart) && body.charCodeAt(i + 1) === OPEN_BRACE) dataStart = i + 1;
        break;
      case OPEN_BRACE:
      case OPEN_BRACKET:
        depth++;
        break;
      case CLOSE_BRACE:
      case CLOSE_BRACKET:
        depth--;
        if (depth === 1 && dataStart >= 0 && dataEnd < 0) dataEnd = i + 1;
        break;
      case COMMA:
        break;
      default:
        // Outside strings only numbers, true, false and null remain: anything else is whitespace.
        if (c <= 0x20) return undefined;
    }
  }
  if (members !== keysIn(parsed)) return undefined;
  return dataEnd < 0 ? {} : { dataText: body.slice(dataStart, dataEnd) };
}

/** Members of every object in `value`; -1 when a key is integer-like (JS orders those first). */
function keysIn(value: unknown): number {
  if (typeof value !== "object" || value === null) return 0;
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) {
      const inner = keysIn(item);
      if (inner < 0) return -1;
      count += inner;
    }
    return count;
  }
  for (const key in value) {
    const first = key.charCodeAt(0);
    if (first >= 0x30 && first <= 0x39) return -1;
    const inner = keysIn((value as Record<string, unknown>)[key]);
    if (inner < 0) return -1;
    count += inner + 1;
  }
  return count;
}
