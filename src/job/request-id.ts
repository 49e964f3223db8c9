import { createHash } from "node:crypto";
import { v5 as uuidv5 } from "uuid";

/**
 * The idempotency key of a row. It must never change between versions: a rerun, next week or after
 * an upgrade, must send the same requestId for the same (campaign, recipient), or PayPay would issue
 * a second code. Pinned by a test vector and written out in the README.
 *
 *   requestId = UUIDv5(namespace = REQUEST_ID_NAMESPACE, name = UTF-8 of JSON.stringify([campaign, recipientId]))
 *
 * The JSON array keeps the two parts apart: ("a:b", "c") and ("a", "b:c") get different ids.
 */
export const REQUEST_ID_NAMESPACE = "8f0e4b5c-2f47-5a55-9d37-5c1f4f6b2a10";

export function deriveRequestId(campaign: string, recipientId: string): string {
  return uuidv5(JSON.stringify([campaign, recipientId]), REQUEST_ID_NAMESPACE);
}

/**
 * A digest of the exact create body a row sends (128 bits of SHA-256, as 32 hex digits). Recorded
 * before the first send, it tells a resume whether the row still asks for what was asked under its
 * requestId.
 */
export function requestFingerprint(serializedBody: string): string {
  return createHash("sha256").update(serializedBody, "utf8").digest("hex").slice(0, 32);
}
