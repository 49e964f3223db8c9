import { readFile } from "node:fs/promises";
import { mkdir } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import type { Argv, CommandModule } from "yargs";
import { join } from "node:path";
import { type AuditLog, FileAuditLog, auditPathOf } from "../../audit/audit-log.js";
import { PgAuditLog } from "../../checkpoint/pg/pg-audit.js";
import { isPostgresState, parsePgState } from "../../checkpoint/pg/pg-url.js";
import { PgConnections } from "../../checkpoint/pg/pool.js";
import { loadAccounts } from "../../console/accounts.js";
import { CampaignStore } from "../../console/campaign-store.js";
import type { ConsoleContext } from "../../console/context.js";
import { Identity, type IdentityMode } from "../../console/identity.js";
import { hashPassword } from "../../console/passwords.js";
import { createConsoleServer } from "../../console/server.js";
import { Sessions, token } from "../../console/sessions.js";
import { UsageError } from "../../errors.js";
import { isLoopbackHost } from "../../loopback.js";
import { openConnection } from "../connection.js";
import { withConnectionOptions } from "../connection-options.js";
import { CONNECTION_DEFAULTS } from "../connection.js";
import { ENVIRONMENT_NAMES } from "../../paypay/environments.js";
import { expectInteger, expectOneOf, expectString } from "../expect.js";
import { todayFrom } from "../today.js";

type ConsoleFlags = Partial<Record<string, unknown>>;

const AUTH_MODES = ["token", "accounts", "proxy"] as const;

export const consoleCommand: CommandModule<object, ConsoleFlags> = {
  command: "console",
  describe: "Serve the campaign console: upload, check, approve with four eyes, watch, download",
  builder: (yargs) =>
    withConnectionOptions(yargs)
      .option("dir", { type: "string", describe: "Folder for the console's campaigns (a checkpoint each) and audit logs", group: "Console:" })
      .option("auth", {
        type: "string",
        describe: "Identity: token (one operator on loopback), accounts (--accounts) or proxy (SSO header) [default: token]",
        group: "Console:",
      })
      .option("accounts", { type: "string", describe: "JSON file of users and roles (and scrypt password hashes for --auth accounts)", group: "Console:" })
      .option("proxy-header", { type: "string", describe: "Header the SSO proxy names the user in [default: x-forwarded-user]", group: "Console:" })
      .option("trusted-proxy", { type: "string", array: true, describe: "Address of the SSO proxy; the header is believed from these only", group: "Console:" })
      .option("host", { type: "string", describe: "Address to listen on [default: 127.0.0.1]", group: "Console:" })
      .option("port", { type: "string", describe: "Port to listen on (0: any free one) [default: 8080]", group: "Console:" })
      .option("public-origin", { type: "string", describe: "The origin browsers use, e.g. https://console.example.com behind a proxy", group: "Console:" })
      .option("tls-cert", { type: "string", describe: "Serve HTTPS with this certificate (PEM)", group: "Console:" })
      .option("tls-key", { type: "string", describe: "…and this key (PEM)", group: "Console:" })
      .option("approval-limit", {
        type: "string",
        describe: "Yen a campaign may charge before its preparer can no longer approve it [default: 0]",
        group: "Console:",
      })
      .option("max-upload-bytes", { type: "string", describe: "Largest CSV accepted [default: 20971520]", group: "Console:" })
      .option("state", {
        type: "string",
        describe: "postgresql:// URL to keep every campaign's rows in (default: a checkpoint file per campaign)",
        group: "Console:",
      })
      .option("concurrency", { type: "string", describe: "Requests in flight at most, per run [default: 4]", group: "Sending:" })
      .option("rate", { type: "string", describe: "Requests per second at most, or auto", group: "Sending:" })
      .option("max-rate", { type: "string", describe: "Ceiling for --rate auto", group: "Sending:" })
      .option("hash-password", {
        type: "boolean",
        describe: "Read a password on stdin, print its scrypt hash for the accounts file, and exit",
        group: "Console:",
      })
      .example("$0 console --dir /srv/pcb --auth accounts --accounts /etc/pcb/accounts.json --env production", "A small team with built-in accounts")
      .example(
        "$0 console --dir /srv/pcb --auth proxy --accounts roles.json --trusted-proxy 127.0.0.1 --public-origin https://pcb.example.com",
        "Behind oauth2-proxy and nginx",
      )
      .example("printf '%s' \"$PASSWORD\" | $0 console --hash-password", "A password hash for the accounts file") as unknown as Argv<ConsoleFlags>,
  handler: async (argv) => {
    if (argv.hashPassword === true) {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      const password = Buffer.concat(chunks)
        .toString("utf8")
        .replace(/\r?\n$/, "");
      if (password === "") throw new UsageError("Expected a password on stdin, got nothing");
      process.stdout.write(`${await hashPassword(password)}\n`);
      return;
    }
    const dir = expectString("--dir", argv.dir);
    const auth = expectOneOf("--auth", argv.auth ?? "token", AUTH_MODES);
    const host = expectString("--host", argv.host ?? "127.0.0.1");
    const port = expectInteger("--port", argv.port ?? "8080", 0, 65535);
    const approvalLimit = expectInteger("--approval-limit", argv.approvalLimit ?? "0", 0, Number.MAX_SAFE_INTEGER);
    const maxUploadBytes = expectInteger("--max-upload-bytes", argv.maxUploadBytes ?? "20971520", 1024, 2 ** 31);
    const state = argv.state === undefined ? undefined : expectString("--state", argv.state, /^postgres(ql)?:\/\//, "a postgresql:// URL");
    if (state !== undefined && !isPostgresState(state)) throw new UsageError(`Expected --state to be a postgresql:// URL, got ${JSON.stringify(state)}`);
    const publicOrigin = argv.publicOrigin === undefined ? undefined : checkedOrigin(argv.publicOrigin);
    if ((argv.tlsCert === undefined) !== (argv.tlsKey === undefined)) throw new UsageError("--tls-cert and --tls-key go together: give both or neither");
    const tls = argv.tlsCert === undefined ? undefined : { cert: await readFile(String(argv.tlsCert)), key: await readFile(String(argv.tlsKey)) };
    const mode = await identityMode(auth, argv, host);
    const env = expectOneOf("--env", argv.env ?? CONNECTION_DEFAULTS.env, ENVIRONMENT_NAMES);
    const runFlags = pick(argv, ["env", "baseUrl", "createPath", "budgetPath", "codeField", "timeout", "concurrency", "rate", "maxRate"]);
    const connection = await openConnection(
      {
        ...CONNECTION_DEFAULTS,
        env,
        baseUrl: argv.baseUrl === undefined ? undefined : expectString("--base-url", argv.baseUrl),
        ...(argv.createPath === undefined ? {} : { createPath: String(argv.createPath) }),
        ...(argv.budgetPath === undefined ? {} : { budgetPath: String(argv.budgetPath) }),
        ...(argv.codeField === undefined ? {} : { codeField: String(argv.codeField) }),
        ...(argv.timeout === undefined ? {} : { timeoutMs: expectInteger("--timeout", argv.timeout, 1, 600_000) }),
      },
      process.env,
    );
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const store = new CampaignStore(dir, state);
    const ctx: ConsoleContext = {
      store,
      audit: openAuditLog(store, state),
      connection,
      runFlags,
      approvalLimit,
      maxUploadBytes,
      today: () => todayFrom(process.env),
      env: process.env,
    };
    const secure = tls !== undefined || publicOrigin?.startsWith("https:") === true;
    const identity = new Identity(mode, new Sessions(secure));
    const console_ = createConsoleServer({
      ctx,
      identity,
      publicOrigin,
      tls,
      onError: (error) => process.stderr.write(`points-code-batch console: internal error: ${(error as Error).message}\n`),
    });
    await new Promise<void>((resolve, reject) => {
      console_.server.once("error", reject);
      console_.server.listen(port, host, () => resolve());
    });
    const address = console_.server.address() as AddressInfo;
    const url = `${tls ? "https" : "http"}://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
    process.stdout.write(`console listening on ${url} (${auth} sign-in; PayPay: ${connection.description})\n`);
    if (mode.kind === "token") process.stdout.write(`one-time sign-in token: ${mode.token}\n  open ${url}/login and paste it\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        resolve();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    process.stdout.write("console stopping: runs take no new rows; waiting for requests in flight\n");
    await console_.close();
    await ctx.audit.close();
    await connection.close();
  },
};

/** The audit log goes where the campaigns' state does: beside each checkpoint, or into the --state database. */
function openAuditLog(store: CampaignStore, state: string | undefined): AuditLog {
  if (state !== undefined) return new PgAuditLog(new PgConnections(parsePgState(state, process.env)));
  return new FileAuditLog((campaign) => auditPathOf(campaign === "" ? join(store.dir, "console") : store.checkpointPath(campaign)));
}

async function identityMode(auth: (typeof AUTH_MODES)[number], argv: ConsoleFlags, host: string): Promise<IdentityMode> {
  if (auth === "token") {
    if (!isLoopbackHost(host))
      throw new UsageError(`Expected --host to be a loopback address with --auth token (one operator on this machine), got ${JSON.stringify(host)}`);
    return { kind: "token", token: token() };
  }
  const file = expectString("--accounts", argv.accounts);
  if (auth === "accounts") return { kind: "accounts", accounts: await loadAccounts(file, true) };
  const proxies = (argv.trustedProxy as string[] | undefined) ?? [];
  if (proxies.length === 0)
    throw new UsageError("--auth proxy needs --trusted-proxy <address>: the identity header is believed from those addresses only", "MISSING_OPTION");
  const header = expectString("--proxy-header", argv.proxyHeader ?? "x-forwarded-user", /^[A-Za-z0-9-]+$/, "a header name").toLowerCase();
  return { kind: "proxy", header, proxies: new Set(proxies), accounts: await loadAccounts(file, false) };
}

function checkedOrigin(value: unknown): string {
  const text = expectString("--public-origin", value);
  try {
    const url = new URL(text);
    if ((url.protocol === "https:" || url.protocol === "http:") && url.origin === text.replace(/\/$/, "")) return url.origin;
  } catch {}
  throw new UsageError(`Expected --public-origin to be an origin like https://console.example.com, got ${JSON.stringify(text)}`);
}

function pick(argv: ConsoleFlags, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => argv[k] !== undefined).map((k) => [k, argv[k]]));
}
