import type { Logger } from "pino";
import type { SharedHalts } from "../job/apply-plan.js";
import { recordHalt, type Beat, type ClaimScope } from "./claims.js";

/**
 * Halts shared by every worker of a campaign. A worker that meets BUDGET_NOT_ENOUGH halts that
 * group, and one refused by PayPay's authentication halts the campaign, in the database; the others
 * read the halts with every heartbeat (claims.ts) and stop the same way, and claims skip halted
 * groups. The next `load` clears them (mark-todo.ts): a new plan is a new start.
 */
export class HaltWatch implements SharedHalts {
  private readonly groups = new Set<string>();
  private readonly writes = new Set<Promise<void>>();
  /** The campaign's halt, from this worker or another. */
  halt: string | undefined;
  private readonly stop = new AbortController();

  constructor(
    private readonly scope: ClaimScope,
    private readonly logger: Logger,
  ) {}

  /** Aborted when another worker halted the campaign. */
  get stopped(): AbortSignal {
    return this.stop.signal;
  }

  groupHalted(groupId: string): boolean {
    return this.groups.has(groupId);
  }

  haltedGroups(): string[] {
    return [...this.groups];
  }

  haltGroup(groupId: string, reason: string): void {
    if (this.groups.has(groupId)) return;
    this.groups.add(groupId);
    this.write(groupId, reason);
  }

  haltCampaign(reason: string): void {
    this.halt ??= reason;
    this.write(undefined, reason);
  }

  /** What a heartbeat read: halts recorded by other workers. */
  update(beat: Beat): void {
    for (const group of beat.haltedGroups) {
      if (this.groups.has(group)) continue;
      this.groups.add(group);
      this.logger.warn({ groupId: group }, `group ${group} was halted by another worker (no budget left): its rows stay pending`);
    }
    if (beat.halt !== undefined && !this.stop.signal.aborted) {
      if (this.halt === undefined) this.logger.error(`another worker halted the campaign: ${beat.halt}`);
      this.halt ??= beat.halt;
      this.stop.abort();
    }
  }

  /** Resolves once every halt this worker recorded is committed (or failed, which is logged). */
  async flush(): Promise<void> {
    await Promise.all(this.writes);
  }

  private write(groupId: string | undefined, reason: string): void {
    const write = recordHalt(this.scope, groupId, reason)
      .catch((error: unknown) => this.logger.error({ groupId, error: (error as Error).message }, "could not record a halt for the other workers"))
      .finally(() => this.writes.delete(write));
    this.writes.add(write);
  }
}
