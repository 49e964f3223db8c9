import { chmod, mkdir, readdir, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { CAMPAIGN_PATTERN } from "../cli/issue-settings.js";
import { writeFileAtomically } from "../fs/atomic-write.js";
import { campaignFromCheckpoint } from "./adopt-cli-campaign.js";
import { HttpError } from "./http-kit.js";

/**
 * The console's campaigns, one folder each under `<dir>/campaigns/<id>/`, laid out as the CLI would
 * run them: `input.csv`, `results.csv` and the checkpoint `checkpoint` (or the --state URL), so
 * `points-code-batch status|export|issue` work on the same files. `campaign.json` holds what only
 * the console knows: who prepared and approved it and what they typed in the form. All files 0600.
 */

export interface CampaignFields {
  name?: string;
  value?: string;
  groupId?: string;
  startAt?: string;
  endAt?: string;
  /** `logical=header` pairs, as --column takes them. */
  columns: string[];
  encoding: string;
}

export interface CheckSummary {
  at: string;
  rows: number;
  problems: number;
  digest?: string;
  /** Yen the run may charge: new rows plus rows in doubt (charged at most once). */
  worst: number;
  refusal?: string;
}

export interface RunSummary {
  state: "running" | "stopping" | "ended";
  startedAt: string;
  endedAt?: string;
  /** The exit code the CLI would have given, and why. */
  exitCode?: number;
  reason?: string;
  issued?: number;
  failed?: number;
  pending?: number;
  issuedYen?: number;
}

export interface Campaign {
  id: string;
  preparedBy: string;
  createdAt: string;
  updatedAt: string;
  fileName?: string;
  fields: CampaignFields;
  check?: CheckSummary;
  approval?: { by: string; at: string; digest: string; worst: number };
  /** Why the last approved run was refused before sending anything (it needs approving again). */
  refusedRun?: string;
  run?: RunSummary;
}

export function checkCampaignId(id: string): string {
  if (!CAMPAIGN_PATTERN.test(id)) throw new HttpError(404, `No campaign ${JSON.stringify(id.slice(0, 70))}: ids are 1 to 64 letters, digits, '.', '_' or '-'`);
  return id;
}

export class CampaignStore {
  private readonly writes = new Map<string, Promise<unknown>>();

  constructor(
    readonly dir: string,
    /** --state: a postgresql:// URL shared by every campaign, or undefined for a checkpoint file each. */
    private readonly stateUrl?: string,
  ) {}

  folder(id: string): string {
    return join(this.dir, "campaigns", checkCampaignId(id));
  }
  inputPath(id: string): string {
    return join(this.folder(id), "input.csv");
  }
  resultPath(id: string): string {
    return join(this.folder(id), "results.csv");
  }
  excelPath(id: string): string {
    return join(this.folder(id), "results-excel.csv");
  }
  /** The checkpoint file (and, with files, the audit log's anchor); its name is kept also when the rows live in PostgreSQL. */
  checkpointPath(id: string): string {
    return join(this.folder(id), "checkpoint");
  }
  statePath(id: string): string {
    return this.stateUrl ?? this.checkpointPath(id);
  }
  logPath(id: string): string {
    return join(this.folder(id), "run.log");
  }

  async list(): Promise<Campaign[]> {
    const names = await readdir(join(this.dir, "campaigns")).catch(() => [] as string[]);
    const campaigns = await Promise.all(names.filter((n) => CAMPAIGN_PATTERN.test(n)).map((n) => this.get(n)));
    return campaigns.filter((c): c is Campaign => c !== undefined).sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
  }

  async get(id: string): Promise<Campaign | undefined> {
    const text = await readFile(join(this.folder(id), "campaign.json"), "utf8").catch(() => undefined);
    // A folder the CLI ran in the same layout is a campaign too, prepared on the command line.
    return text === undefined ? campaignFromCheckpoint(this, id) : (JSON.parse(text) as Campaign);
  }

  async require(id: string): Promise<Campaign> {
    const campaign = await this.get(id);
    if (!campaign) throw new HttpError(404, `No campaign ${id}`);
    return campaign;
  }

  /** Creates the folder; refuses an id already taken (a campaign id derives every requestId). */
  async create(campaign: Campaign): Promise<void> {
    await mkdir(join(this.dir, "campaigns"), { recursive: true, mode: 0o700 });
    try {
      await mkdir(this.folder(campaign.id), { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new HttpError(409, `Campaign ${campaign.id} exists already: choose another id`);
      throw error;
    }
    await this.save(campaign);
  }

  /** Read-modify-write, one at a time per campaign. */
  update(id: string, change: (c: Campaign) => void): Promise<Campaign> {
    const previous = this.writes.get(id) ?? Promise.resolve();
    const next = previous.then(async () => {
      const campaign = await this.require(id);
      change(campaign);
      campaign.updatedAt = new Date().toISOString();
      await this.save(campaign);
      return campaign;
    });
    this.writes.set(
      id,
      next.catch(() => undefined),
    );
    return next;
  }

  private async save(campaign: Campaign): Promise<void> {
    await writeFileAtomically(join(this.folder(campaign.id), "campaign.json"), (write) => write(`${JSON.stringify(campaign, null, 2)}\n`));
  }

  /** Puts an uploaded file (already in the folder as a temp) in place of the input. */
  async replaceInput(id: string, temp: string): Promise<void> {
    await chmod(temp, 0o600);
    await rename(temp, this.inputPath(id));
  }
}
