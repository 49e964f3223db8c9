import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
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

/** RFC 9562 UUIDv5 written out from SHA-1, independently of the uuid package the code uses. */
function uuidV5Oracle(namespace: string, name: string): string {
  const hash = createHash("sha1")
    .update(Buffer.from(namespace.replaceAll("-", ""), "hex"))
    .update(name, "utf8")
    .digest()
    .subarray(0, 16);
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

test("every (campaign, recipient) gets the UUIDv5 of its JSON pair: another campaign or recipient another id; ids fit PayPay's 64 characters", () => {
  const text = fc.string({ unit: "binary", maxLength: 300 });
  fc.assert(
    fc.property(text, text, (campaign, recipient) => {
      const id = deriveRequestId(campaign, recipient);
      assert.equal(id, uuidV5Oracle(REQUEST_ID_NAMESPACE, JSON.stringify([campaign, recipient])));
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }),
    { numRuns: 500, seed: 20260401 },
  );
  // The oracle agrees with the pinned vectors, so it is the same function they pin.
  assert.equal(uuidV5Oracle(REQUEST_ID_NAMESPACE, JSON.stringify(["spring-2026", "M-0001"])), "addd3ea6-4d35-5cf0-bcae-d67f49b89b5c");
  assert.notEqual(deriveRequestId("c1", "r1"), deriveRequestId("c2", "r1"));
  assert.notEqual(deriveRequestId("c1", "r1"), deriveRequestId("c1", "r2"));
});
