import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { BatchError } from "../errors.js";
import { readBudgets } from "../job/read-budgets.js";
import { approvalBlock } from "./approval-rule.js";
import { type Check, checkCampaign, settingsOf } from "./campaign-check.js";
import type { CampaignRunner } from "./campaign-runner.js";
import { type Campaign, checkCampaignId } from "./campaign-store.js";
import type { ConsoleContext } from "./context.js";
import { checkCsrf, requireRole } from "./guard.js";
import { HttpError, readForm, redirect, sendHtml } from "./http-kit.js";
import { campaignPage } from "./pages/campaign.js";
import type { PageContext } from "./pages/layout.js";
import { listPage } from "./pages/list.js";
import { type NewCampaignForm, newCampaignPage } from "./pages/new-campaign.js";
import { resultRows, sendAttachment, writeExcelResult } from "./results-file.js";
import { streamProgress } from "./progress-events.js";
import type { Session, User } from "./sessions.js";
import { discard, readUpload } from "./upload.js";

/** The campaign pages and actions; every action is audited before it takes effect. */
export class CampaignRoutes {
  private readonly approving = new Set<string>();

  constructor(
    private readonly ctx: ConsoleContext,
    private readonly runner: CampaignRunner,
  ) {}

  private audit(id: string, who: string, action: string, detail?: string, planDigest?: string): Promise<void> {
    return this.ctx.audit
      .append({
        who,
        action,
        campaign: id,
        ...(planDigest ? { planDigest } : {}),
        ...(detail ? { detail } : {}),
      })
      .then(() => undefined);
  }

  runAudit = (id: string, action: string, detail: string, digest?: string): Promise<void> => this.audit(id, "console", action, detail, digest);

  async list(p: PageContext, res: ServerResponse): Promise<void> {
    sendHtml(
      res,
      200,
      listPage(p, await this.ctx.store.list(), (id) => this.runner.isRunning(id)),
    );
  }

  async newForm(p: PageContext, res: ServerResponse, form: NewCampaignForm = {}, error?: string, status = 200): Promise<void> {
    requireRole(p.user, "preparer");
    const budgets = await readBudgets(this.ctx.connection.client).catch((e: unknown) => `Budgets could not be read: ${(e as Error).message}`);
    sendHtml(res, status, newCampaignPage(p, budgets, this.ctx.maxUploadBytes, form, error));
  }

  async create(p: PageContext, session: Session, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const user = requireRole(p.user, "preparer");
    const upload = await readUpload(req, join(this.ctx.store.dir, "uploads"), this.ctx.maxUploadBytes);
    try {
      checkCsrf(session, upload.fields.get("csrf"));
      const f = (name: string) => {
        const v = upload.fields.get(name)?.trim();
        return v === "" ? undefined : v;
      };
      const form: NewCampaignForm = Object.fromEntries(["id", "groupId", "name", "value", "startAt", "endAt", "columns", "encoding"].map((k) => [k, f(k)]));
      const fail = (message: string) => this.newForm(p, res, form, message, 400);
      if (!upload.file) return await fail("Choose a CSV file.");
      try {
        checkCampaignId(form.id ?? "");
      } catch (error) {
        return await fail((error as Error).message);
      }
      const now = new Date().toISOString();
      const campaign: Campaign = {
        id: form.id ?? "",
        preparedBy: user.name,
        createdAt: now,
        updatedAt: now,
        fileName: upload.file.name,
        fields: {
          name: form.name,
          value: form.value,
          groupId: form.groupId,
          startAt: form.startAt,
          endAt: form.endAt,
          columns: (form.columns ?? "")
            .split(/\r?\n/)
            .map((x) => x.trim())
            .filter(Boolean),
          encoding: form.encoding ?? "auto",
        },
      };
      try {
        settingsOf(this.ctx, campaign);
      } catch (error) {
        if (error instanceof BatchError) return await fail(error.message);
        throw error;
      }
      await this.ctx.store.create(campaign);
      await this.ctx.store.replaceInput(campaign.id, upload.file.path);
      await this.audit(campaign.id, user.name, "created", `uploaded ${upload.file.name} (${upload.file.bytes} bytes)`);
      await this.recheck(campaign.id, user.name);
      redirect(res, `/campaigns/${campaign.id}`);
    } finally {
      await discard(upload);
    }
  }

  async replaceInput(p: PageContext, session: Session, id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const user = requireRole(p.user, "preparer");
    const campaign = await this.ctx.store.require(id);
    this.refuseAfterApproval(campaign);
    const upload = await readUpload(req, join(this.ctx.store.dir, "uploads"), this.ctx.maxUploadBytes);
    try {
      checkCsrf(session, upload.fields.get("csrf"));
      if (!upload.file) throw new HttpError(400, "Choose a CSV file.");
      this.refuseAfterApproval(await this.ctx.store.require(id));
      await this.ctx.store.replaceInput(id, upload.file.path);
      await this.ctx.store.update(id, (c) => {
        c.fileName = upload.file?.name;
      });
      await this.audit(id, user.name, "uploaded", `${upload.file.name} (${upload.file.bytes} bytes)`);
      await this.recheck(id, user.name);
      redirect(res, `/campaigns/${id}`);
    } finally {
      await discard(upload);
    }
  }

  async checkAgain(p: PageContext, session: Session, id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    checkCsrf(session, form.get("csrf"));
    const user = p.user;
    if (!user) throw new HttpError(401, "Sign in first");
    this.refuseAfterApproval(await this.ctx.store.require(id));
    await this.recheck(id, user.name);
    redirect(res, `/campaigns/${id}`);
  }

  /** Checks the campaign now, records the summary, and audits the plan digest it found. */
  private async recheck(id: string, who: string): Promise<Check> {
    const campaign = await this.ctx.store.require(id);
    const check = await checkCampaign(this.ctx, campaign);
    await this.saveCheck(id, check);
    const detail =
      check.formError ?? (check.problems.length > 0 ? `${check.problems.length} problem(s)` : (check.refusal?.message ?? `may charge ¥${check.worst}`));
    await this.audit(id, who, "checked", detail.slice(0, 300), check.digest);
    return check;
  }

  private async saveCheck(id: string, check: Check): Promise<void> {
    await this.ctx.store.update(id, (c) => {
      c.check = {
        at: new Date().toISOString(),
        rows: check.prepared?.plan.rows ?? 0,
        problems: check.problems.length,
        worst: check.worst,
        ...(check.digest ? { digest: check.digest } : {}),
        ...(check.refusal || check.formError ? { refusal: (check.formError ?? check.refusal?.message ?? "").slice(0, 500) } : {}),
      };
    });
  }

  private refuseAfterApproval(c: Campaign): void {
    if (c.approval || c.run || this.runner.isRunning(c.id)) throw new HttpError(409, `Campaign ${c.id} was approved: its file and plan can no longer change`);
  }

  async show(p: PageContext, id: string, url: URL, res: ServerResponse, error?: string, status = 200): Promise<void> {
    let campaign = await this.ctx.store.require(id);
    const running = this.runner.isRunning(id);
    let check: Check | undefined;
    if (!campaign.approval && !campaign.run && !running) {
      // The plan against live budgets, as the approver is about to approve it.
      check = await checkCampaign(this.ctx, campaign);
      await this.saveCheck(id, check);
      campaign = await this.ctx.store.require(id);
    }
    const worst = check?.worst ?? campaign.approval?.worst ?? campaign.check?.worst ?? 0;
    const view = {
      campaign,
      check,
      rule: url.searchParams.get("rule") ?? undefined,
      running,
      progress: this.runner.progressOf(id)?.snapshot(),
      results: running ? undefined : await resultRows(this.ctx, campaign),
      audit: await this.ctx.audit.read(id),
      approveBlock: approvalBlock(p.t, p.user, campaign, worst, this.ctx.approvalLimit),
      error,
    };
    sendHtml(res, status, campaignPage(p, view));
  }

  async approve(p: PageContext, session: Session, id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    checkCsrf(session, form.get("csrf"));
    // Two approvers pressing at once: the second waits for nothing and is refused.
    if (this.approving.has(id)) throw new HttpError(409, `Campaign ${id} is being approved by someone else right now`);
    this.approving.add(id);
    try {
      await this.approveOnce(p, id, form, res);
    } finally {
      this.approving.delete(id);
    }
  }

  private async approveOnce(p: PageContext, id: string, form: URLSearchParams, res: ServerResponse): Promise<void> {
    const user = p.user as User;
    const campaign = await this.ctx.store.require(id);
    this.refuseAfterApproval(campaign);
    const seen = form.get("digest") ?? "";
    if ((form.get("confirm") ?? "").trim() !== id) {
      await this.audit(id, user.name, "approve-refused", "the campaign id typed did not match", seen);
      return this.show(p, id, new URL("http://x/"), res, `Type the campaign id exactly (${id}) to approve.`, 400);
    }
    const check = await checkCampaign(this.ctx, campaign);
    if (check.digest === undefined || check.problems.length > 0 || check.refusal || check.formError) {
      await this.audit(id, user.name, "approve-refused", "the campaign cannot run", seen);
      throw new HttpError(409, check.refusal?.message ?? check.formError ?? "This campaign has problems and cannot be approved");
    }
    if (check.digest !== seen) {
      await this.audit(id, user.name, "approve-refused", `stale plan: the plan is now ${check.digest.slice(0, 12)}`, seen);
      throw new HttpError(
        409,
        "The plan changed since you saw it (its digest differs): nothing was approved. Reload the campaign, read the new plan and approve that.",
      );
    }
    const block = approvalBlock(p.t, user, campaign, check.worst, this.ctx.approvalLimit);
    if (block) {
      await this.audit(id, user.name, "approve-refused", block, seen);
      throw new HttpError(403, block);
    }
    await this.audit(id, user.name, "approved", `may charge ¥${check.worst}`, seen);
    const approved = await this.ctx.store.update(id, (c) => {
      c.approval = { by: user.name, at: new Date().toISOString(), digest: seen, worst: check.worst };
      c.refusedRun = undefined;
    });
    await this.runner.start(approved, check.worst, seen);
    redirect(res, `/campaigns/${id}`);
  }

  async stop(p: PageContext, session: Session, id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    checkCsrf(session, form.get("csrf"));
    const user = p.user as User;
    await this.ctx.store.require(id);
    if (this.runner.isRunning(id)) {
      await this.audit(id, user.name, "stopped", "no new rows; requests in flight finish (Ctrl-C)");
      await this.runner.stop(id);
    }
    redirect(res, `/campaigns/${id}`);
  }

  async resume(p: PageContext, session: Session, id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    checkCsrf(session, form.get("csrf"));
    const user = p.user as User;
    const campaign = await this.ctx.store.require(id);
    if (!campaign.approval) throw new HttpError(409, `Campaign ${id} was never approved: approve it first`);
    if (this.runner.isRunning(id)) throw new HttpError(409, `Campaign ${id} is running`);
    const block = approvalBlock(p.t, user, campaign, campaign.approval.worst, this.ctx.approvalLimit);
    if (block) throw new HttpError(403, block);
    await this.audit(id, user.name, "resumed", `capped at the approved ¥${campaign.approval.worst}`, campaign.approval.digest);
    await this.runner.start(campaign, campaign.approval.worst);
    redirect(res, `/campaigns/${id}`);
  }

  async events(id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    await this.ctx.store.require(id);
    streamProgress(req, res, () => this.runner.progressOf(id)?.snapshot());
  }

  async download(p: PageContext, id: string, url: URL, res: ServerResponse): Promise<void> {
    const user = p.user as User;
    const campaign = await this.ctx.store.require(id);
    if (this.runner.isRunning(id)) throw new HttpError(409, "The result is written when the run ends: download it then");
    const excel = url.searchParams.get("format") === "excel";
    const file = excel ? await writeExcelResult(this.ctx, campaign) : this.ctx.store.resultPath(id);
    await this.audit(id, user.name, "downloaded", excel ? "result for Excel" : "result CSV", campaign.approval?.digest);
    await sendAttachment(res, file, `${id}-results${excel ? "-excel" : ""}.csv`).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT" && !res.headersSent) throw new HttpError(404, "No result file yet");
      throw error;
    });
  }
}
