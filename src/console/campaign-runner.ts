import { createPacing } from "../cli/pacing.js";
import { EXIT, exitCodeOfError, exitCodeOfReport } from "../cli/exit-codes.js";
import { BatchError } from "../errors.js";
import { planDigest, runIssueJob } from "../job/issue-job.js";
import { createLogger } from "../log.js";
import { settingsOf } from "./campaign-check.js";
import type { Campaign } from "./campaign-store.js";
import type { ConsoleContext } from "./context.js";
import { RunProgress } from "./run-progress.js";

/**
 * Runs a campaign in this process through the same job as `issue` (runIssueJob), capped at the
 * total approved. Stop is the CLI's Ctrl-C: no new rows, requests in flight finish and are recorded.
 * Resume is a rerun of the same campaign: the checkpoint skips what is done.
 */

interface LiveRun {
  controller: AbortController;
  progress: RunProgress;
  done: Promise<void>;
}

export type RunAudit = (campaign: string, action: string, detail: string, digest?: string) => Promise<void>;

export class CampaignRunner {
  private readonly live = new Map<string, LiveRun>();
  /** The last run of each campaign since the console started, for its final figures. */
  private readonly last = new Map<string, RunProgress>();

  constructor(
    private readonly ctx: ConsoleContext,
    private readonly audit: RunAudit,
  ) {}

  isRunning(id: string): boolean {
    return this.live.has(id);
  }

  progressOf(id: string): RunProgress | undefined {
    return this.live.get(id)?.progress ?? this.last.get(id);
  }

  /**
   * Starts the run. `digest`: the plan approved; the job's own plan must have the same digest or it
   * sends nothing. Resolves once the run has started, not when it ends.
   */
  async start(campaign: Campaign, maxTotal: number, digest?: string): Promise<void> {
    if (this.live.has(campaign.id)) throw new BatchError("locked", "LOCKED", `Campaign ${campaign.id} is running already`);
    const settings = settingsOf(this.ctx, campaign);
    const options = { ...settings.job, spend: { maxTotal, capRequired: false } };
    const logger = createLogger("info", this.ctx.store.logPath(campaign.id));
    const pacing = createPacing(settings.pacing, logger);
    const controller = new AbortController();
    const progress = new RunProgress();
    let stale = false;
    await this.ctx.store.update(campaign.id, (c) => {
      c.run = { state: "running", startedAt: new Date().toISOString() };
    });
    const done = runIssueJob(
      { ...options, gate: pacing.gate },
      {
        api: this.ctx.connection.client,
        target: this.ctx.connection.target,
        logger,
        signal: controller.signal,
        confirm:
          digest === undefined
            ? undefined
            : async (prepared) => {
                stale = planDigest(prepared) !== digest;
                return !stale;
              },
        onPlanned: (plan) => {
          progress.planned(plan.actions.send);
          return progress;
        },
      },
    )
      .then(
        (report) => {
          const exitCode = exitCodeOfReport(report, controller.signal.aborted ? "SIGINT" : undefined);
          const c = report.counts;
          const issuedYen = [...c.issuedAmountByGroup.values()].reduce((sum, yen) => sum + yen, 0);
          return { exitCode, reason: report.fatalMessage ?? "", counts: { issued: c.issued, failed: c.failed, pending: c.pending, issuedYen } };
        },
        (error: unknown) => {
          const exitCode = exitCodeOfError(error);
          const message = error instanceof Error ? error.message : String(error);
          const reason = stale ? "The plan changed after it was approved (its digest differs): nothing was sent. Check it and approve again." : message;
          return { exitCode, reason, counts: undefined };
        },
      )
      .then(async ({ exitCode, reason, counts }) => {
        pacing.stop();
        logger.flush();
        // The end is audited before anything shows the run ended: whoever sees "ended" finds it in the log.
        try {
          await this.audit(
            campaign.id,
            "run-ended",
            `exit ${exitCode}${counts ? `: ${counts.issued} issued, ${counts.failed} failed, ${counts.pending} pending` : ""}${reason ? ` (${reason.slice(0, 200)})` : ""}`,
          );
        } finally {
          try {
            await this.ctx.store.update(campaign.id, (c) => {
              if (exitCode === EXIT.refused) {
                // Refused before anything was sent (a stale plan, a budget that no longer covers it):
                // back to planning, and whoever approves next sees the plan as it is now.
                c.run = undefined;
                c.approval = undefined;
                c.refusedRun = reason;
                return;
              }
              c.run = { ...(c.run ?? { startedAt: new Date().toISOString() }), state: "ended", endedAt: new Date().toISOString(), exitCode, reason, ...counts };
            });
          } finally {
            progress.ended(exitCode, reason);
          }
        }
      })
      .catch(() => undefined)
      .finally(() => {
        this.live.delete(campaign.id);
        this.last.set(campaign.id, progress);
      });
    this.live.set(campaign.id, { controller, progress, done });
  }

  /** Ctrl-C: no new rows; requests in flight finish and their outcomes are recorded. */
  async stop(id: string): Promise<boolean> {
    const run = this.live.get(id);
    if (!run) return false;
    run.progress.state = "stopping";
    run.controller.abort();
    await this.ctx.store.update(id, (c) => {
      if (c.run?.state === "running") c.run.state = "stopping";
    });
    return true;
  }

  /** Stops every run and waits for them: the console is shutting down. */
  async stopAll(): Promise<void> {
    for (const run of this.live.values()) run.controller.abort();
    await Promise.all([...this.live.values()].map((r) => r.done));
  }
}
