import type { AuditLog } from "../audit/audit-log.js";
import type { Connection } from "../cli/connection.js";
import type { CampaignStore } from "./campaign-store.js";

/** What every part of the console shares: where campaigns live and the one connection to PayPay. */
export interface ConsoleContext {
  store: CampaignStore;
  /** Where every action is recorded before it takes effect: beside each checkpoint, or the --state database. */
  audit: AuditLog;
  connection: Connection;
  /** Flags passed to every campaign as the CLI would take them (--env, --base-url, --concurrency, --rate…). */
  runFlags: Record<string, unknown>;
  /** A campaign whose possible charges exceed this many yen needs an approver who did not prepare it. */
  approvalLimit: number;
  maxUploadBytes: number;
  today(): string;
  env: NodeJS.ProcessEnv;
}
