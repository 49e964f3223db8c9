import type { Argv, CommandModule } from "yargs";
import { isPostgresState, parsePgState } from "../../checkpoint/pg/pg-url.js";
import { PgConnections } from "../../checkpoint/pg/pool.js";
import { type PurgeCandidate, purgeCampaign, purgeCandidates } from "../../checkpoint/pg/purge.js";
import { LockedError, UsageError } from "../../errors.js";
import { yen } from "../../yen.js";
import { askYes, isInteractive } from "../confirm.js";
import { expectInteger } from "../expect.js";

interface PurgeFlags {
  state: string;
  olderThan?: string;
  campaign?: string;
  dryRun?: boolean;
  yes?: boolean;
}

/**
 * `purge`: retention for a PostgreSQL state. Deleting personal data and codes cannot be undone,
 * so it lists first and deletes only after "yes" at a terminal, or with --yes (a scheduled job);
 * without a terminal and without --yes it refuses, having deleted nothing.
 */
export const purgeCommand: CommandModule<object, PurgeFlags> = {
  command: "purge <state>",
  describe: "Delete the input cells and codes of campaigns finished more than N days ago (PostgreSQL state); keep their counts",
  builder: (yargs) =>
    yargs
      .positional("state", { type: "string", demandOption: true, describe: "postgresql:// URL of the state (see issue --state)" })
      .option("older-than", { type: "string", demandOption: true, describe: "Purge campaigns whose latest run finished more than this many days ago" })
      .option("campaign", { type: "string", describe: "Only this campaign" })
      .option("dry-run", { type: "boolean", describe: "List what would be purged; delete nothing" })
      .option("yes", { type: "boolean", describe: "Do not ask (for a scheduled job); without a terminal, purge refuses without it" })
      .example("$0 purge 'postgresql://batch@db.internal/points' --older-than 90 --dry-run", "What a 90-day retention would delete")
      .example("$0 purge 'postgresql://batch@db.internal/points' --older-than 90 --yes", "Delete it (a nightly job)") as unknown as Argv<PurgeFlags>,
  handler: async (argv) => {
    if (!isPostgresState(argv.state)) {
      throw new UsageError(
        `purge is for a postgresql:// state; ${argv.state} is a checkpoint file, whose retention is the file itself: ` +
          "when a campaign's retention ends, delete its checkpoint (and its .input-* copies and result file)",
      );
    }
    const days = expectInteger("--older-than", argv.olderThan, 0, 36_500);
    const connections = new PgConnections(parsePgState(argv.state, process.env));
    try {
      const candidates = await purgeCandidates(connections, days, argv.campaign).catch((error: unknown) => {
        throw connections.wrap(error, "STATE_UNREACHABLE", "cannot list campaigns");
      });
      if (argv.campaign !== undefined) {
        const named = candidates[0];
        if (!named) throw new UsageError(`campaign ${argv.campaign} is not in ${connections.state.display}, or was purged already (see status)`);
        if (named.notDue !== undefined) throw new UsageError(`campaign ${argv.campaign} is not due for a purge: ${named.notDue}`, "PURGE_NOT_DUE");
      }
      const due = candidates.filter((c) => c.notDue === undefined);
      if (due.length === 0) {
        process.stdout.write(`nothing to purge in ${connections.state.display}: no campaign finished more than ${days} day(s) ago\n`);
        return;
      }
      const listing = [
        `${due.length} campaign(s) in ${connections.state.display} finished more than ${days} day(s) ago:`,
        ...due.map(describe),
        "Their input cells, recipient ids, bodies, codes, PayPay data and input copies will be deleted for good; counts and totals are kept.",
      ].join("\n");
      process.stdout.write(`${listing}\n`);
      if (argv.dryRun) {
        process.stdout.write("dry run: nothing deleted\n");
        return;
      }
      if (!argv.yes) {
        if (!isInteractive())
          throw new UsageError("purge deletes personal data and codes for good: pass --yes to purge without a terminal, or --dry-run to list only");
        if (!(await askYes("Type yes to purge (anything else stops; --yes skips this question): "))) {
          throw new UsageError("purge not confirmed: nothing deleted", "NOT_CONFIRMED");
        }
      }
      const locked: string[] = [];
      for (const candidate of due) {
        try {
          const summary = await purgeCampaign(connections, candidate.campaign, days);
          process.stdout.write(
            `purged ${candidate.campaign}: ${summary.rows} row(s), ${summary.issued} issued (${yen(Number(summary.issuedJpy))}) kept as counts\n`,
          );
        } catch (error) {
          // A campaign a run holds is not finished any more: the others still go.
          if (!(error instanceof LockedError)) throw error;
          locked.push(candidate.campaign);
          process.stderr.write(`skipped ${candidate.campaign}: ${error.message}\n`);
        }
      }
      if (locked.length > 0) throw new LockedError(`not purged, a run holds them: ${locked.join(", ")}; purge again once they are free`);
    } finally {
      await connections.close();
    }
  },
};

function describe(c: PurgeCandidate): string {
  return `  ${c.campaign}: finished ${c.finishedAt?.toISOString()}, ${c.rows} row(s), ${c.issued} issued (${yen(Number(c.issuedJpy))}), ${c.failed} failed`;
}
