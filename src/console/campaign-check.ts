import { access } from "node:fs/promises";
import { JournalStore } from "../checkpoint/journal-store.js";
import { PgReader } from "../checkpoint/pg/pg-reader.js";
import { isPostgresState } from "../checkpoint/pg/pg-url.js";
import type { CheckpointStore } from "../checkpoint/store.js";
import { refuseOtherTarget } from "../checkpoint/target-binding.js";
import { resolveIssueSettings, type IssueSettings } from "../cli/issue-settings.js";
import { BatchError } from "../errors.js";
import { resolveInput } from "../job/input-rows.js";
import { planDigest } from "../job/issue-job.js";
import { changedRowsNote, prepareRun, refusalOf, type PreparedRun } from "../job/prepare-run.js";
import { readBudgets } from "../job/read-budgets.js";
import type { RowProblem } from "../job/validate-row.js";
import type { Campaign } from "./campaign-store.js";
import type { ConsoleContext } from "./context.js";

/**
 * A campaign checked exactly as `points-code-batch plan` checks it (resolveIssueSettings,
 * prepareRun, refusalOf) and identified by the digest `issue` records: what the approver approves.
 */

export interface Check {
  settings?: IssueSettings;
  /** A form value the CLI's option checks refuse (a bad value, date or group id). */
  formError?: string;
  prepared?: PreparedRun;
  problems: readonly RowProblem[];
  /** What would refuse or halt the run; nothing is sent while there is one. */
  refusal?: BatchError;
  /** Rows changed since sent: the run goes on but exits 3. */
  changedNote?: string;
  digest?: string;
  /** The most the run may charge: new rows and rows in doubt (charged at most once). */
  worst: number;
}

export function settingsOf(ctx: ConsoleContext, campaign: Campaign): IssueSettings {
  const f = campaign.fields;
  const flags = {
    csv: ctx.store.inputPath(campaign.id),
    campaign: campaign.id,
    name: f.name,
    value: f.value,
    groupId: f.groupId,
    startAt: f.startAt,
    endAt: f.endAt,
    column: f.columns,
    encoding: f.encoding,
    out: ctx.store.resultPath(campaign.id),
    state: ctx.store.statePath(campaign.id),
    ...ctx.runFlags,
  };
  const settings = resolveIssueSettings(flags, {}, ctx.today());
  // The approval in the console is the confirmation: the run is capped at the total approved.
  settings.job.spend = { capRequired: false };
  return settings;
}

export async function checkCampaign(ctx: ConsoleContext, campaign: Campaign): Promise<Check> {
  let settings: IssueSettings;
  try {
    settings = settingsOf(ctx, campaign);
  } catch (error) {
    if (error instanceof BatchError) return { formError: error.message, problems: [], worst: 0 };
    throw error;
  }
  const { job } = settings;
  const input = await resolveInput(job.input);
  const pg = isPostgresState(job.state);
  const reader = pg ? await PgReader.open(job.state, campaign.id, ctx.env) : undefined;
  try {
    const exists =
      !pg &&
      (await access(job.state).then(
        () => true,
        () => false,
      ));
    const store: CheckpointStore | undefined = reader ? reader.store : exists ? await JournalStore.open(job.state, campaign.id, { readOnly: true }) : undefined;
    try {
      if (store?.target) refuseOtherTarget(reader?.location ?? job.state, store.target, ctx.connection.target);
      const prepared = await prepareRun(input, store, job, () => readBudgets(ctx.connection.client), { evenWithNothingToSend: true });
      const refusal = refusalOf(prepared, job);
      const worst = prepared.charges.newAmount + prepared.charges.inDoubtAmount;
      const changedNote = changedRowsNote(prepared.plan, job.acceptChanged);
      return { settings, prepared, problems: prepared.plan.problems, refusal, changedNote, digest: planDigest(prepared), worst };
    } finally {
      if (!reader) await store?.close();
    }
  } catch (error) {
    if (error instanceof BatchError) return { settings, problems: [], refusal: error, worst: 0 };
    throw error;
  } finally {
    await reader?.close();
  }
}
