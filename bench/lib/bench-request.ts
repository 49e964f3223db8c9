/**
 * What every bench row asks PayPay for. The tool gets it as flags, the naive baseline too, the
 * floor client sends it as a body, and the synthetic checkpoint fingerprints it: one definition, so
 * a synthesized checkpoint always matches what the tool would send.
 */
import { DEFAULT_GROUP } from "../../src/simulator/config.js";

export const GROUP_ID = DEFAULT_GROUP.groupId;

export const BENCH_REQUEST = { amount: 1, giftCardName: "x", groupId: GROUP_ID, startAt: "2094-04-01", endAt: "2094-06-30" } as const;

export const REQUEST_FLAGS = [
  "--group-id",
  BENCH_REQUEST.groupId,
  "--name",
  BENCH_REQUEST.giftCardName,
  "--start-at",
  BENCH_REQUEST.startAt,
  "--end-at",
  BENCH_REQUEST.endAt,
  "--value",
  String(BENCH_REQUEST.amount),
];
