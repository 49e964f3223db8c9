import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { processIsAlive } from "../lock.js";

/**
 * A private folder (0700) for the local copies a PostgreSQL-backed run or export needs (the input
 * snapshot the applier reads, files 0600), removed on close. Its name carries the pid, so the next
 * start removes the folders of processes that died without closing (a SIGKILL): they hold
 * personal data.
 */
const PREFIX = "points-code-batch-";

export async function privateTempDir(): Promise<string> {
  await removeDeadTemps();
  return mkdtemp(join(tmpdir(), `${PREFIX}${process.pid}-`));
}

async function removeDeadTemps(): Promise<void> {
  const names = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const name of names) {
    const pid = Number(/^points-code-batch-(\d+)-/.exec(name)?.[1]);
    if (pid > 0 && pid !== process.pid && !processIsAlive(pid)) await rm(join(tmpdir(), name), { recursive: true, force: true }).catch(() => undefined);
  }
}
