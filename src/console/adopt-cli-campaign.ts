import { access } from "node:fs/promises";
import { resolve } from "node:path";
import { JournalStore } from "../checkpoint/journal-store.js";
import type { Campaign, CampaignStore } from "./campaign-store.js";

/**
 * A campaign the CLI ran in the console's layout (`issue <dir>/campaigns/<id>/input.csv --state
 * …/checkpoint --out …/results.csv --campaign <id>`) has a checkpoint but no campaign.json. Its last
 * recorded plan says how the input was read, so the console can show it and, once an approver
 * approves the rest, resume it. Undefined when the folder holds no such run.
 */
export async function campaignFromCheckpoint(store: CampaignStore, id: string): Promise<Campaign | undefined> {
  const checkpoint = store.checkpointPath(id);
  if (store.statePath(id) !== checkpoint) return undefined;
  const exists = await access(checkpoint).then(
    () => true,
    () => false,
  );
  if (!exists) return undefined;
  const journal = await JournalStore.open(checkpoint, id, { readOnly: true }).catch(() => undefined);
  try {
    const run = journal?.lastPlan();
    // The console reads the campaign's input from its folder: a run of a file elsewhere is not its own.
    if (!run || resolve(run.input) !== resolve(store.inputPath(id))) return undefined;
    const d = run.defaults;
    const at = run.t === "plan" ? run.at : new Date().toISOString();
    return {
      id,
      preparedBy: "(command line)",
      createdAt: at,
      updatedAt: at,
      fileName: "input.csv",
      fields: {
        name: d.giftCardName,
        value: d.amount === undefined ? undefined : String(d.amount),
        groupId: d.groupId,
        startAt: d.startAt,
        endAt: d.endAt,
        columns: Object.entries(run.columns)
          .filter(([logical, header]) => logical !== header)
          .map(([logical, header]) => `${logical}=${header}`),
        encoding: run.encoding,
      },
    };
  } finally {
    await journal?.close();
  }
}
