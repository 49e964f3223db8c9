import { chmod, open, readFile } from "node:fs/promises";
import { fsyncDirectoryOf } from "../fs/fsync-directory.js";

/**
 * Who did what to a campaign, and which plan they saw: one JSON line per action, appended and
 * fsync'd before the action takes effect, mode 0600. It lives beside the checkpoint
 * (`<checkpoint>.audit.jsonl`) so `status` finds it without being told. Never holds a code or secret.
 */

export interface AuditEntry {
  at: string;
  who: string;
  action: string;
  campaign: string;
  /** The plan digest the person saw when acting, when there was one. */
  planDigest?: string;
  detail?: string;
}

export function auditPathOf(checkpoint: string): string {
  return `${checkpoint}.audit.jsonl`;
}

export async function appendAudit(file: string, entry: Omit<AuditEntry, "at">, now: Date = new Date()): Promise<AuditEntry> {
  const full: AuditEntry = { at: now.toISOString(), ...entry };
  const handle = await open(file, "a", 0o600);
  let created = false;
  try {
    created = (await handle.stat()).size === 0;
    await handle.write(`${JSON.stringify(full)}\n`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  if (created) {
    // Under a loose umask a new file may be wider than asked: narrow it, and make its name durable.
    await chmod(file, 0o600);
    await fsyncDirectoryOf(file);
  }
  return full;
}

/** Every entry, oldest first; a torn last line (a crash mid-append) is left out. Missing file: none. */
export async function readAudit(file: string): Promise<AuditEntry[]> {
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return "";
    throw error;
  });
  const entries: AuditEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      entries.push(JSON.parse(line) as AuditEntry);
    } catch {
      // Only the last line can be torn; anything else would be a damaged file, shown as far as it reads.
    }
  }
  return entries;
}

export function formatAuditEntry(e: AuditEntry): string {
  const digest = e.planDigest ? ` plan ${e.planDigest.slice(0, 12)}` : "";
  return `${e.at} ${e.who} ${e.action}${digest}${e.detail ? `: ${e.detail}` : ""}`;
}
