import { hash } from "node:crypto";

/**
 * The idempotency key of a row. It must never change between versions: a rerun, next week or after
 * an upgrade, must send the same requestId for the same (campaign, recipient), or PayPay would issue
 * a second code. Pinned by a test vector and written out in the README.
 *
 *   requestId = UUIDv5(namespace = REQUEST_ID_NAMESPACE, name = UTF-8 of JSON.stringify([campaign, recipientId]))
 *
 * The JSON array keeps the two parts apart: ("a:b", "c") and ("a", "b:c") get different ids.
 *
 * UUIDv5 is written out here (RFC 9562 §5.5: SHA-1 over namespace bytes + name, version and variant
 * bits set) rather than taken from the `uuid` package: a resume derives one per row, twice, and the
 * package's per-call namespace parsing and hash object cost 8 µs a row where this costs under 2.
 * test/request-id.test.ts checks it against an independent oracle and the pinned vectors.
 */
export const REQUEST_ID_NAMESPACE = "8f0e4b5c-2f47-5a55-9d37-5c1f4f6b2a10";

const NAMESPACE_BYTES = Buffer.from(REQUEST_ID_NAMESPACE.replaceAll("-", ""), "hex");
/** Namespace then name, reused for every row (one thread, no await in between). */
const scratch = Buffer.allocUnsafe(64 * 1024);
NAMESPACE_BYTES.copy(scratch, 0);

export function deriveRequestId(campaign: string, recipientId: string): string {
  return requestIdDeriver(campaign)(recipientId);
}

/** deriveRequestId for one campaign, with the campaign's half of the name encoded once. */
export function requestIdDeriver(campaign: string): (recipientId: string) => string {
  const prefix = `[${JSON.stringify(campaign)},`;
  return (recipientId) => uuidV5(`${prefix}${JSON.stringify(recipientId)}]`);
}

function uuidV5(name: string): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes, so a name that could overflow the scratch takes a copy.
  const input =
    16 + name.length * 3 <= scratch.length
      ? scratch.subarray(0, 16 + scratch.write(name, 16, "utf8"))
      : Buffer.concat([NAMESPACE_BYTES, Buffer.from(name, "utf8")]);
  // The digest as hex, not as a Buffer: node allocates a Buffer result at twice the cost of the hash.
  const hex = hash("sha1", input, "hex");
  // Version 5 is the 13th digit; the variant takes the top two bits of the 17th (10xx).
  const variant = VARIANT_DIGIT[hex.charCodeAt(16)] ?? "";
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** A hex digit's char code → that digit with its top two bits set to 10 (RFC 9562's variant). */
const VARIANT_DIGIT: string[] = [];
for (let value = 0; value < 16; value++) VARIANT_DIGIT["0123456789abcdef".charCodeAt(value)] = ((value & 0x3) | 0x8).toString(16);

/**
 * A digest of the exact create body a row sends (128 bits of SHA-256, as 32 hex digits). Recorded
 * before the first send, it tells a resume whether the row still asks for what was asked under its
 * requestId.
 */
export function requestFingerprint(serializedBody: string): string {
  return hash("sha256", serializedBody, "hex").slice(0, 32);
}
