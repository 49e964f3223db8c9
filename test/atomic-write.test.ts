import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { writeFileAtomically } from "../src/fs/atomic-write.js";
import { tempDir } from "./support/cli.js";

// writeFileAtomically keeps one write in flight while its caller makes the next chunks (issue #15):
// these check that the file is still every chunk in order, or nothing at all.

const run = promisify(execFile);
const atomicWrite = fileURLToPath(new URL("../src/fs/atomic-write.ts", import.meta.url));

/** Chunks around the 64 KiB at which a write starts: tiny, just under, just over, and several writes' worth. */
function chunks(): (string | Uint8Array)[] {
  const sizes = [1, 65_535, 2, 65_536, 300_000, 7, 131_073, 64, 1_000_000, 3];
  return sizes.map((size, i) => (i % 2 === 0 ? String.fromCharCode(97 + i).repeat(size) : new Uint8Array(size).fill(48 + i)));
}

test("every chunk lands in order, in a file of mode 0600, with no temp file left", async () => {
  const dir = await tempDir();
  const file = join(dir, "result.csv");
  const parts = chunks();
  await writeFileAtomically(file, async (write) => {
    for (const part of parts) await write(part);
  });
  const expected = Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part) : part)));
  assert.ok((await readFile(file)).equals(expected));
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(dir), ["result.csv"]);
});

test("a caller that fails mid-file, with a write in flight, leaves the old file as it was and no temp file", async () => {
  const dir = await tempDir();
  const file = join(dir, "result.csv");
  await writeFile(file, "the last run's result\n");
  const failure = new Error("the checkpoint could not be read");
  await assert.rejects(
    writeFileAtomically(file, async (write) => {
      for (const part of chunks().slice(0, 6)) await write(part);
      throw failure;
    }),
    (error) => error === failure,
  );
  assert.equal(await readFile(file, "utf8"), "the last run's result\n");
  assert.deepEqual(await readdir(dir), ["result.csv"]);
});

test("a disk that takes only part of the last write fails the file instead of renaming it short", async () => {
  // RLIMIT_FSIZE (ulimit -f, in KiB) makes the kernel write up to the limit and no further: the
  // write that crosses it is cut short, the next one fails with EFBIG. Node ignores SIGXFSZ.
  const dir = await tempDir();
  const file = join(dir, "result.csv");
  await writeFile(file, "the last run's result\n");
  const script = `
    import { writeFileAtomically } from ${JSON.stringify(atomicWrite)};
    await writeFileAtomically(process.argv[1], async (write) => {
      await write(Buffer.alloc(1024 * 1024 - 100, 0x61));
      await write(Buffer.alloc(200, 0x62));
    }).then(() => console.log("renamed"), (error) => console.log(error.code));
  `;
  const { stdout } = await run("bash", ["-c", 'ulimit -f 1024 && exec "$0" --import tsx --input-type=module -e "$1" "$2"', process.execPath, script, file], {
    cwd: fileURLToPath(new URL("..", import.meta.url)),
  });
  assert.equal(stdout.trim(), "EFBIG");
  assert.equal(await readFile(file, "utf8"), "the last run's result\n");
  assert.deepEqual(await readdir(dir), ["result.csv"]);
});
