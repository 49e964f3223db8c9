import type { Logger } from "pino";
import type { StateBackend } from "../checkpoint/open-store.js";
import { refuseOtherTarget } from "../checkpoint/target-binding.js";
import { CheckpointError } from "../errors.js";
import type { Target } from "../paypay/target.js";
import { completeRecord, type RunFingerprint } from "./finished-run.js";
import type { ResolvedInputSpec } from "./input-rows.js";
import type { PhaseClock } from "./phase-clock.js";
import { refuseOtherOwner } from "./result-owner.js";
import { writeResults, type ResultCounts, type ResultFormat } from "./write-results.js";

/**
 * A finished campaign rerun whose result file alone is not as the last run wrote it (deleted, or
 * edited): nothing else changed, so there is nothing to plan or send, and the file is written again
 * from the checkpoint and the same input, as `export` would, then recorded as that run's result.
 * Replanning a million rows to learn that nothing is to be sent took most of such a rerun's time.
 */
export async function rewriteFinishedResult(
  backend: StateBackend,
  input: ResolvedInputSpec,
  fingerprint: RunFingerprint,
  settings: { out: string; format: ResultFormat; target: Target; logger: Logger; inputBytes: number },
  clock: PhaseClock,
): Promise<ResultCounts> {
  const state = backend.location;
  const store = await backend.openExisting(input.campaign);
  clock.mark("replay");
  if (store === undefined) throw new CheckpointError("CHECKPOINT_NOT_FOUND", `${state}: the checkpoint went away as the run started; run again`);
  try {
    if (store.target) refuseOtherTarget(state, store.target, settings.target);
    await refuseOtherOwner(settings.out, state, input.campaign, store.lastPlan()?.out);
    settings.logger.info(
      { checkpoint: state, out: settings.out },
      "nothing changed since the last run finished but the result file: writing it again from the checkpoint",
    );
    // Every row was checked when its plan was made; an end date that has passed since (today moves
    // on) must not turn an issued row into an invalid one.
    const { counts, digest } = await writeResults({ ...input, today: undefined }, store, settings.out, settings.format);
    clock.mark("result");
    await store.recordComplete(completeRecord(fingerprint, digest, counts, settings.inputBytes));
    clock.mark("complete");
    return counts;
  } finally {
    await store.close();
  }
}
