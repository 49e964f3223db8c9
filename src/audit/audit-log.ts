import { chmod, open, readFile } from "node:fs/promises";
import { fsyncDirectoryOf } from "../fs/fsync-directory.js";

/**
 * Who did what to a campaign, and which plan they saw: one entry per action, durable before the
 * action takes effect. Where the campaign's state is a checkpoint file, the log is a JSONL file
 * beside it (`<checkpoint>.audit.jsonl`, fsync'd, mode 0600) so `status` finds it without being
 * told; where the state is PostgreSQL, it is the schema's `audit` table (pg/pg-audit.ts). Never
 * holds a code or secret.
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

/** The one interface the console writes and reads through, whichever store holds the campaigns. */
export interface AuditLog {
  /** Durable when it resolves: the caller proceeds with the action only then. */
  append(entry: Omit<AuditEntry, "at">, now?: Date): Promise<AuditEntry>;
  /** A campaign's entries ("" for the console's sign-ins), oldest first. */
  read(campaign: string): Promise<AuditEntry[]>;
  close(): Promise<void>;
}

/** One JSONL file per campaign; `pathOf` says where (the console: beside each checkpoint). */
export class FileAuditLog implements AuditLog {
  constructor(private readonly pathOf: (campaign: string) => string) {}

  append(entry: Omit<AuditEntry, "at">, now: Date = new Date()): Promise<AuditEntry> {
    return appendAudit(this.pathOf(entry.campaign), entry, now);
  }

  read(campaign: string): Promise<AuditEntry[]> {
    return readAudit(this.pathOf(campaign));
  }

  async close(): Promise<void> {}
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
