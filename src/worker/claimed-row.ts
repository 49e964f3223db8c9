import { CheckpointError } from "../errors.js";
import type { PreparedRow } from "../job/prepared-row.js";
import { requestFingerprint } from "../job/request-id.js";
import { serializeCreateBody } from "../paypay/client.js";
import type { CreatePointsCodeRequest } from "../paypay/types.js";
import type { ClaimedRow } from "./claims.js";

/**
 * A claimed row as the applier sends it, rebuilt from the exact body `load` recorded. The group id
 * is an int64: it is read as its digits, never through a JS number, and the rebuilt request must
 * serialize back to the very bytes recorded, or the row is refused.
 */
export function preparedRowOf(claimed: ClaimedRow, location: string): PreparedRow {
  const body = claimed.plannedBody;
  const groupId = /^\{"requestId":"[^"]*","groupId":(\d+),/.exec(body ?? "")?.[1];
  let request: CreatePointsCodeRequest | undefined;
  if (groupId !== undefined) {
    const parsed = JSON.parse(body) as Omit<CreatePointsCodeRequest, "groupId">;
    request = {
      requestId: parsed.requestId,
      groupId,
      giftCardName: parsed.giftCardName,
      giftCardValue: parsed.giftCardValue,
      startAt: parsed.startAt,
      endAt: parsed.endAt,
    };
  }
  if (request === undefined || request.requestId.toLowerCase() !== claimed.rid.toLowerCase() || serializeCreateBody(request) !== body) {
    throw new CheckpointError("CHECKPOINT_DAMAGED", `${location}: the planned body of row ${claimed.row} (${claimed.rid}) does not read back as recorded`);
  }
  return { row: claimed.row, recipientId: claimed.recipientId, request, fingerprint: requestFingerprint(body) };
}
