import type { Argv, CommandModule } from "yargs";
import { migrate, SCHEMA_VERSION } from "../../checkpoint/pg/migrations.js";
import { isPostgresState, parsePgState } from "../../checkpoint/pg/pg-url.js";
import { PgConnections } from "../../checkpoint/pg/pool.js";
import { UsageError } from "../../errors.js";

interface MigrateFlags {
  state: string;
}

/**
 * `migrate`: creates the state schema, or brings it to this release's version, and does nothing
 * else. Every command that writes migrates on start anyway; this one lets the schema's owner do
 * it alone, so the roles that run campaigns need no DDL rights (the README's GRANTs).
 */
export const migrateCommand: CommandModule<object, MigrateFlags> = {
  command: "migrate <state>",
  describe: "Create the PostgreSQL state schema, or migrate it to this release (run as its owner)",
  builder: (yargs) =>
    yargs
      .positional("state", { type: "string", demandOption: true, describe: "postgresql:// URL of the state (see issue --state)" })
      .example("$0 migrate 'postgresql://owner@db.internal/points'", "Before a release's first run, as the schema's owner") as unknown as Argv<MigrateFlags>,
  handler: async (argv) => {
    if (!isPostgresState(argv.state)) throw new UsageError(`Expected a postgresql:// state, got ${argv.state}: a checkpoint file needs no migration`);
    const connections = new PgConnections(parsePgState(argv.state, process.env));
    try {
      await migrate(connections).catch((error: unknown) => {
        throw connections.wrap(error, "STATE_UNREACHABLE", "cannot migrate the state schema");
      });
      process.stdout.write(`${connections.state.display}: schema ${connections.state.schema} is at version ${SCHEMA_VERSION}\n`);
    } finally {
      await connections.close();
    }
  },
};
