import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { JournalStore } from "../src/checkpoint/journal-store.js";
import { decodeLine, encodeLine, encodeOutcomeLine } from "../src/checkpoint/line-codec.js";
import { BatchError } from "../src/errors.js";
import { deriveRequestId } from "../src/job/request-id.js";
import { tempDir } from "./support/cli.js";

/** Test requestIds are real UUIDs, fingerprints 32 hex digits, as the job writes them. */
const rid = (name: string): string => deriveRequestId("camp", name);
const fp = (name: string): string => createHash("sha256").update(name).digest("hex").slice(0, 32);

function outcome(name: string, status: "issued" | "failed" | "pending" = "issued") {
  return {
    rid: rid(name),
    fp: fp(name),
    status,
    attempts: 1,
    groupId: "29952775505428481",
    value: 100,
    code: `CODE-${name}`,
    data: `{"giftCardCode":"CODE-${name}"}`,
  };
}

async function journalWith(dir: string, records: number): Promise<string> {
  const file = join(dir, `j-${records}-${Math.random().toString(36).slice(2)}.checkpoint`);
  const store = await JournalStore.open(file, "camp");
  for (let i = 0; i < records; i++) {
    await store.recordSent(rid(`r${i}`), fp(`r${i}`), i + 2);
    await store.recordOutcome(outcome(`r${i}`));
  }
  await store.close();
  return file;
}

describe("journal line", () => {
  test("is the CRC-32 of the record's UTF-8 JSON in 8 lower-case hex digits, a space, that JSON and a newline; it decodes back", () => {
    const text = fc.string({ unit: "binary", maxLength: 40 });
    fc.assert(
      fc.property(fc.record({ t: fc.constantFrom("sent", "outcome"), rid: text, row: fc.nat(), data: fc.option(text, { nil: undefined }) }), (record) => {
        const json = JSON.stringify(record);
        const expected = Buffer.from(`${crc32(Buffer.from(json, "utf8")).toString(16).padStart(8, "0")} ${json}\n`, "utf8");
        const line = encodeLine(record);
        assert.deepEqual(line, expected);
        assert.deepEqual(decodeLine(line.subarray(0, line.length - 1)), JSON.parse(json));
      }),
      { numRuns: 2000 },
    );
  });

  test("an outcome's line, written without building the record, is byte for byte encodeLine of the whole record", () => {
    const text = fc.string({ unit: "binary", maxLength: 40 });
    const optional = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: undefined });
    const outcomeOf = fc.record({
      rid: text,
      fp: text,
      attempts: fc.nat(),
      groupId: text,
      value: fc.integer(),
      name: optional(text),
      startAt: optional(text),
      endAt: optional(text),
      paypayRequestId: optional(text),
      status: fc.constantFrom("issued" as const, "failed" as const, "pending" as const),
      code: optional(text),
      data: optional(text),
      errorCode: optional(text),
      errorMessage: optional(text),
      unknown: optional(fc.boolean()),
    });
    fc.assert(
      fc.property(outcomeOf, text, (outcome, at) => {
        assert.deepEqual(encodeOutcomeLine(outcome, at), encodeLine({ t: "outcome", ...outcome, at }));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("journal store", () => {
  test("records survive reopening; outcomes read back exactly; file mode 0600", async () => {
    const dir = await tempDir();
    const file = await journalWith(dir, 3);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const store = await JournalStore.open(file, "camp");
    assert.deepEqual(
      [...store.entries()].map(([id, s]) => [id, s.status, s.fp, s.attempts]),
      [
        [rid("r0"), "issued", fp("r0"), 1],
        [rid("r1"), "issued", fp("r1"), 1],
        [rid("r2"), "issued", fp("r2"), 1],
      ],
    );
    const read = await store.readOutcome(store.get(rid("r1"))!);
    assert.equal(read?.code, "CODE-r1");
    assert.equal(read?.data, `{"giftCardCode":"CODE-r1"}`);
    await store.close();
  });

  test("a later outcome replaces an earlier one and attempts add up across runs", async () => {
    const dir = await tempDir();
    const file = join(dir, "x.checkpoint");
    const store = await JournalStore.open(file, "camp");
    await store.recordSent(rid("a"), fp("a"), 2);
    await store.recordOutcome({ ...outcome("a", "pending"), attempts: 8, code: undefined, data: undefined, errorCode: "TIMEOUT" });
    await store.close();
    const again = await JournalStore.open(file, "camp");
    assert.equal(again.get(rid("a"))?.status, "pending");
    await again.recordOutcome({ ...outcome("a"), attempts: 2 });
    await again.close();
    const third = await JournalStore.open(file, "camp");
    assert.deepEqual([third.get(rid("a"))?.status, third.get(rid("a"))?.attempts], ["issued", 10]);
    await third.close();
  });

  test("a checkpoint belongs to one campaign", async () => {
    const dir = await tempDir();
    const file = await journalWith(dir, 1);
    await assert.rejects(
      JournalStore.open(file, "other"),
      (e: unknown) => e instanceof BatchError && e.code === "CHECKPOINT_OTHER_CAMPAIGN" && /"camp"/.test(e.message) && /"other"/.test(e.message),
    );
  });

  test("a last record cut at every byte offset resumes with the records before it, and appends cleanly after", async () => {
    const dir = await tempDir();
    const file = await journalWith(dir, 3);
    const whole = await readFile(file);
    const lastStart = whole.subarray(0, whole.length - 1).lastIndexOf(0x0a) + 1;
    for (let cut = lastStart; cut < whole.length; cut++) {
      await writeFile(file, whole.subarray(0, cut));
      const store = await JournalStore.open(file, "camp");
      // The cut record is r2's outcome: r2 is back to "sent" (in doubt), r0 and r1 stay issued.
      assert.deepEqual(
        [store.get(rid("r0"))?.status, store.get(rid("r1"))?.status, store.get(rid("r2"))?.status],
        ["issued", "issued", "sent"],
        `cut at ${cut}`,
      );
      await store.recordOutcome(outcome("r2"));
      await store.close();
      const reopened = await JournalStore.open(file, "camp");
      assert.equal(reopened.get(rid("r2"))?.status, "issued", `append after cut at ${cut}`);
      await reopened.close();
      const lines = (await readFile(file, "utf8")).split("\n");
      assert.equal(lines.length, whole.toString("utf8").split("\n").length, `after the cut at ${cut}, one whole record replaced the torn one`);
    }
  });

  test("trailing zero bytes (a filesystem's torn allocation) are a torn tail, not damage", async () => {
    const dir = await tempDir();
    const file = await journalWith(dir, 2);
    await writeFile(file, Buffer.concat([await readFile(file), Buffer.alloc(37)]));
    const store = await JournalStore.open(file, "camp");
    assert.equal(store.get(rid("r1"))?.status, "issued");
    await store.close();
  });

  test("damage before the last record is refused, naming file, line and byte", async () => {
    const dir = await tempDir();
    const file = await journalWith(dir, 3);
    const whole = await readFile(file);
    const secondLine = whole.indexOf(0x0a) + 1;
    const lastStart = whole.subarray(0, whole.length - 1).lastIndexOf(0x0a) + 1;
    for (const position of [secondLine + 3, secondLine + 20, lastStart - 10]) {
      const damaged = Buffer.from(whole);
      damaged[position] = damaged[position] === 0x41 ? 0x42 : 0x41;
      await writeFile(file, damaged);
      await assert.rejects(JournalStore.open(file, "camp"), (e: unknown) => {
        assert.ok(e instanceof BatchError && e.code === "CHECKPOINT_DAMAGED", String(e));
        assert.match(e.message, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: record at line \\d+ \\(byte \\d+\\)`));
        return true;
      });
    }
  });

  test("a lost newline merging the last two records is damage, not a tear", async () => {
    const dir = await tempDir();
    const file = await journalWith(dir, 3);
    const whole = await readFile(file);
    const lastStart = whole.subarray(0, whole.length - 1).lastIndexOf(0x0a) + 1;
    const damaged = Buffer.from(whole);
    damaged[lastStart - 1] = 0x41;
    await writeFile(file, damaged);
    await assert.rejects(JournalStore.open(file, "camp"), (e: unknown) => e instanceof BatchError && e.code === "CHECKPOINT_DAMAGED");
    assert.deepEqual(await readFile(file), damaged, "a refused checkpoint is left as it was");
  });

  test("a last complete line with a bad checksum followed by a partial line is damage, not a tear", async () => {
    const dir = await tempDir();
    const file = await journalWith(dir, 2);
    const whole = await readFile(file);
    const bad = Buffer.from(encodeLine({ t: "sent", rid: rid("zz"), fp: fp("zz"), row: 9, at: "x" }));
    bad[12] = 0x5a;
    await writeFile(file, Buffer.concat([whole, bad, Buffer.from("0000")]));
    await assert.rejects(JournalStore.open(file, "camp"), (e: unknown) => e instanceof BatchError && e.code === "CHECKPOINT_DAMAGED");
  });

  test("a record with a requestId that is not a UUID is damage, not a crash", async () => {
    const dir = await tempDir();
    const file = await journalWith(dir, 1);
    await writeFile(
      file,
      Buffer.concat([
        await readFile(file),
        encodeLine({ t: "sent", rid: "not-a-uuid", fp: fp("x"), row: 3, at: "x" }),
        encodeLine({ t: "sent", rid: rid("y"), fp: fp("y"), row: 4, at: "x" }),
      ]),
    );
    await assert.rejects(
      JournalStore.open(file, "camp"),
      (e: unknown) => e instanceof BatchError && e.code === "CHECKPOINT_DAMAGED" && /invalid requestId/.test(e.message),
    );
  });

  test("a file that is not a checkpoint is refused", async () => {
    const dir = await tempDir();
    const file = join(dir, "notes.txt");
    await writeFile(file, "hello\nworld\n");
    await assert.rejects(JournalStore.open(file, "camp"), (e: unknown) => e instanceof BatchError && e.kind === "checkpoint");
  });

  test("an empty or header-torn file starts fresh", async () => {
    const dir = await tempDir();
    const file = await journalWith(dir, 0);
    const size = (await stat(file)).size;
    await truncate(file, size - 5);
    const store = await JournalStore.open(file, "camp");
    assert.equal([...store.entries()].length, 0);
    await store.close();
    assert.equal((await stat(file)).size, size);
  });
});

describe("result temp files", () => {
  test("a temp file left by a killed writer is removed; a live writer's is kept", async () => {
    const { removeStaleTemps } = await import("../src/fs/atomic-write.js");
    const { readdir } = await import("node:fs/promises");
    const dir = await tempDir();
    const out = join(dir, "r.csv");
    await writeFile(join(dir, ".r.csv.999999991.tmp"), "codes");
    await writeFile(join(dir, `.r.csv.${process.pid}.tmp`), "mine");
    await writeFile(join(dir, ".other.csv.999999991.tmp"), "not ours");
    await removeStaleTemps(out, (pid) => pid === process.pid);
    assert.deepEqual((await readdir(dir)).sort(), [`.other.csv.999999991.tmp`, `.r.csv.${process.pid}.tmp`]);
  });
});
