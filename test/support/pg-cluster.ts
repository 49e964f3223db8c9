import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

/**
 * A throwaway PostgreSQL cluster of the test's own (initdb + pg_ctl on a free port, in a temp
 * folder), for the faults the shared server must never suffer: a restart, the whole cluster going
 * read-only, a full disk. The caller destroys it (an `after` hook of its suite). PostgreSQL refuses
 * to run as root, so as root the binaries run as the `postgres` user (runuser) in a folder it owns.
 * PCB_TEST_PG_BIN names the binaries' folder (default: Debian's PostgreSQL 15).
 */

const run = promisify(execFile);
const BIN = process.env.PCB_TEST_PG_BIN ?? "/usr/lib/postgresql/15/bin";
const AS_ROOT = process.getuid?.() === 0;
const OS_USER = "postgres";

/** Why a throwaway cluster cannot be made here, or undefined when it can. */
export async function clusterUnavailable(): Promise<string | undefined> {
  if (!existsSync(join(BIN, "initdb")) || !existsSync(join(BIN, "pg_ctl"))) return `no initdb/pg_ctl in ${BIN} (set PCB_TEST_PG_BIN)`;
  if (AS_ROOT) {
    try {
      await run("id", ["-u", OS_USER]);
      await run("runuser", ["--help"]);
    } catch {
      return `running as root, but no ${OS_USER} user or no runuser to run PostgreSQL as`;
    }
  }
  return undefined;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

export class ThrowawayCluster {
  private mounts: string[] = [];

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** postgresql://root@127.0.0.1:<port>/postgres (trust authentication). */
  get url(): string {
    return `postgresql://root@127.0.0.1:${this.port}/postgres`;
  }

  static async create(): Promise<ThrowawayCluster> {
    const dir = await mkdtemp(join(tmpdir(), "pcb-pg-cluster-"));
    if (AS_ROOT) await chown(dir, ...(await osUser()));
    const cluster = new ThrowawayCluster(dir, await freePort());
    await cluster.pg("initdb", ["-D", cluster.data, "-A", "trust", "-U", "root", "--no-sync", "-E", "UTF8", "--locale", "C"]);
    await cluster.start();
    return cluster;
  }

  private get data(): string {
    return join(this.dir, "data");
  }

  async start(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40`;
    await this.pg("pg_ctl", ["start", "-w", "-t", "60", "-D", this.data, "-l", join(this.dir, "log"), "-o", options]);
  }

  /** fast: the server ends every session (SQLSTATE 57P01) and stops cleanly; immediate: as a crash. */
  async restart(mode: "fast" | "immediate"): Promise<void> {
    await this.pg("pg_ctl", ["restart", "-w", "-t", "60", "-m", mode, "-D", this.data, "-l", join(this.dir, "log")]);
  }

  /** `text` in a session of its own, after `first` (settings for that session). */
  async sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = [], first: string[] = []): Promise<R[]> {
    const client = new pg.Client({ connectionString: this.url });
    client.on("error", () => undefined);
    await client.connect();
    try {
      for (const statement of first) await client.query(statement);
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  /**
   * A tablespace on a tmpfs of `megabytes`, the default for tables created from now on, so the
   * state's tables live on a disk the test can fill; undefined (with why) when mount is refused.
   */
  async tinyTablespace(megabytes: number): Promise<{ mount: string } | { unavailable: string }> {
    const mount = join(this.dir, "tiny");
    await mkdir(mount);
    try {
      await run("mount", ["-t", "tmpfs", "-o", `size=${megabytes}m,mode=0700`, "tmpfs", mount]);
    } catch (error) {
      return { unavailable: `cannot mount a tmpfs to fill (${(error as Error).message.split("\n")[0]})` };
    }
    this.mounts.push(mount);
    const location = join(mount, "ts");
    await mkdir(location);
    if (AS_ROOT) {
      await chown(mount, ...(await osUser()));
      await chown(location, ...(await osUser()));
    }
    await this.sql(`CREATE TABLESPACE tiny LOCATION '${location}'`);
    await this.sql("ALTER DATABASE postgres SET default_tablespace = tiny");
    return { mount };
  }

  private async pg(binary: string, args: string[]): Promise<void> {
    const command = join(BIN, binary);
    if (AS_ROOT) await run("runuser", ["-u", OS_USER, "--", command, ...args], { cwd: this.dir });
    else await run(command, args, { cwd: this.dir });
  }

  /** Stops the cluster and removes its folder (the caller's `after` hook). */
  async destroy(): Promise<void> {
    await this.pg("pg_ctl", ["stop", "-w", "-m", "immediate", "-D", this.data]).catch(() => undefined);
    for (const mount of this.mounts) await run("umount", ["-l", mount]).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function osUser(): Promise<[number, number]> {
  const uid = Number((await run("id", ["-u", OS_USER])).stdout.trim());
  const gid = Number((await run("id", ["-g", OS_USER])).stdout.trim());
  return [uid, gid];
}
