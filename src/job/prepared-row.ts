import { serializeCreateBody } from "../paypay/client.js";
import type { CreatePointsCodeRequest } from "../paypay/types.js";
import { deriveRequestId, requestFingerprint } from "./request-id.js";
import type { ValidRow } from "./validate-row.js";

/** A valid row with everything needed to send it: its requestId, exact body and fingerprint. */
export interface PreparedRow {
  row: number;
  recipientId: string;
  request: CreatePointsCodeRequest;
  fingerprint: string;
}

export function prepareRow(campaign: string, valid: ValidRow): PreparedRow {
  return prepareRowWith((recipientId) => deriveRequestId(campaign, recipientId), valid);
}

/**
 * prepareRow with the campaign's requestId derivation (requestIdDeriver) made once for a whole file.
 * `withFingerprint` false leaves the fingerprint empty, for a reader thread whose receiver derives
 * it (see input-batch-codec.ts).
 */
export function prepareRowWith(requestIdOf: (recipientId: string) => string, valid: ValidRow, withFingerprint = true): PreparedRow {
  const request: CreatePointsCodeRequest = { requestId: requestIdOf(valid.recipientId), ...valid.request };
  return { row: valid.row, recipientId: valid.recipientId, request, fingerprint: withFingerprint ? fingerprintOf(request) : "" };
}

/** The fingerprint of the body a request sends. */
export function fingerprintOf(request: CreatePointsCodeRequest): string {
  return requestFingerprint(serializeCreateBody(request));
}

/** prepareRow with the requestId and fingerprint already derived (by the plan pass, see derived-rows.ts). */
export function preparedAs(valid: ValidRow, derived: { requestId: string; fingerprint: string }): PreparedRow {
  return { row: valid.row, recipientId: valid.recipientId, request: { requestId: derived.requestId, ...valid.request }, fingerprint: derived.fingerprint };
}
