import assert from "node:assert/strict";
import { test } from "node:test";
import { deriveRequestId, REQUEST_ID_NAMESPACE } from "../src/job/request-id.js";

// Pinned forever: changing any of these would make a rerun issue a second code to every recipient.
// Cross-checked with Python: uuid.uuid5(UUID(namespace), json.dumps([c, r], ensure_ascii=False, separators=(",", ":"))).
test("requestId test vectors never change", () => {
  assert.equal(REQUEST_ID_NAMESPACE, "8f0e4b5c-2f47-5a55-9d37-5c1f4f6b2a10");
  assert.equal(deriveRequestId("spring-2026", "M-0001"), "addd3ea6-4d35-5cf0-bcae-d67f49b89b5c");
  assert.equal(deriveRequestId("spring-2026", "会員-42"), "5ad98611-1336-5e30-b659-a88ce6d5ccb2");
});

test("the campaign/recipient boundary cannot be shifted to collide", () => {
  assert.equal(deriveRequestId("a:b", "c"), "12f294d7-c0e0-57aa-8d97-7ab99b2649fe");
  assert.equal(deriveRequestId("a", "b:c"), "5caff122-836f-52a4-a011-3343197a2996");
});

test("same inputs give the same id; another campaign or recipient another id; ids fit PayPay's 64 characters", () => {
  assert.equal(deriveRequestId("c1", "r1"), deriveRequestId("c1", "r1"));
  assert.notEqual(deriveRequestId("c1", "r1"), deriveRequestId("c2", "r1"));
  assert.notEqual(deriveRequestId("c1", "r1"), deriveRequestId("c1", "r2"));
  assert.match(deriveRequestId("c1", "x".repeat(256)), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
