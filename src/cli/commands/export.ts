import { isAbsolute, relative } from "node:path";
import type { Argv, CommandModule } from "yargs";
import { JournalStore } from "../../checkpoint/journal-store.js";
import { PgReader } from "../../checkpoint/pg/pg-reader.js";
import { isPostgresState } from "../../checkpoint/pg/pg-url.js";
import { purgedError } from "../../checkpoint/pg/purge.js";
import { refuseIfLocked } from "../../checkpoint/lock-status.js";
import { CheckpointError } from "../../errors.js";
import type { ResolvedInputSpec } from "../../job/input-rows.js";
import { writeResults } from "../../job/write-results.js";
import { parseColumnMap } from "../../job/columns.js";
import { expectString } from "../expect.js";
import { snapshotPath, verifySnapshot } from "../../job/input-snapshot.js";
import { refuseOtherOwner } from "../../job/result-owner.js";
import { refuseOtherTargetFlags, withTargetOptions, type TargetFlags } from "../target-options.js";

interface ExportFlags extends TargetFlags {
  checkpoint: string;
  campaign?: string;
  out?: string;
  input?: string;
  excel?: boolean;
}

export const exportCommand: CommandModule<object, ExportFlags> = {
  command: "export <checkpoint>",
  describe: "Rewrite the result CSV from a checkpoint (same format as issue); sends nothing",
  builder: (yargs) =>
    withTargetOptions(yargs)
      .positional("checkpoint", { type: "string", demandOption: true, describe: "Checkpoint file, or postgresql:// URL (see issue --state)" })
      .option("campaign", { type: "string", describe: "The campaign, with a postgresql:// state" })
      .option("out", { type: "string", describe: "Result CSV to write [default: the result path the run recorded]" })
      .option("input", { type: "string", describe: "Read the rows from this CSV [default: the run's own copy of its input]" })
      .option("excel", { type: "boolean", describe: "UTF-8 with BOM, CRLF, formula-like cells neutralized" })
      .example("$0 export samples/recipients.results.checkpoint", "Recreate a deleted result file where the run wrote it")
      .example("$0 export samples/recipients.results.checkpoint --out restored.csv", "Or somewhere else")
      .example(
        "$0 export run.checkpoint --input moved/recipients.csv --out results.csv --excel",
        "From a moved input, for Excel",
      ) as unknown as Argv<ExportFlags>,
  handler: async (argv) => {
    // PostgreSQL: the run's copy of its input comes out of the database, so no input file is needed.
    // A live run rewrites its result when it ends: an export beside it could replace a newer file.
    if (!isPostgresState(argv.checkpoint)) await refuseIfLocked(`${argv.checkpoint}.lock`);
    const reader = isPostgresState(argv.checkpoint) ? await PgReader.open(argv.checkpoint, argv.campaign, process.env) : undefined;
    const location = reader?.location ?? argv.checkpoint;
    if (reader?.purged) {
      await reader.close();
      throw purgedError(location, reader.purged);
    }
    const store = reader ? reader.store : await JournalStore.open(argv.checkpoint, "", { readOnly: true });
    try {
      await refuseOtherTargetFlags(location, store?.target, argv);
      const run = store?.lastPlan();
      if (!store || !run) {
        throw new CheckpointError("CHECKPOINT_NO_RUN", `${location}: no run has got past planning with this checkpoint yet, so there is nothing to export`);
      }
      // The run's own copy of its input, unless the user names one (or the checkpoint predates copies).
      const snapshot =
        argv.input === undefined && run.t === "plan" ? (reader ? await reader.snapshotFile(run) : snapshotPath(argv.checkpoint, run)) : undefined;
      if (snapshot !== undefined && run.t === "plan") await verifySnapshot(snapshot, run.inputDigest);
      const input: ResolvedInputSpec = {
        file: argv.input ?? run.input,
        snapshot,
        encoding: run.encoding,
        campaign: store.campaign,
        columns: parseColumnMap(Object.entries(run.columns).map(([k, v]) => `${k}=${v}`)),
        defaults: run.defaults,
      };
      const out = argv.out === undefined ? nearPath(run.out) : expectString("--out", argv.out);
      await refuseOtherOwner(out, location, store.campaign, run.out);
      const { counts } = await writeResults(input, store, out, argv.excel ? "excel" : "plain");
      process.stdout.write(`wrote ${out}: ${counts.rows} row(s) — ${counts.issued} issued, ${counts.failed} failed, ${counts.pending} pending\n`);
    } finally {
      await (reader ?? store)?.close();
    }
  },
};

/** The recorded (absolute) path as a person would type it from here, when it lies below. */
function nearPath(path: string): string {
  const near = relative(process.cwd(), path);
  return near === "" || near.startsWith("..") || isAbsolute(near) ? path : near;
}
