import type { Logger } from "pino";
import { UsageError } from "../errors.js";
import { CLIENT_DEFAULTS, PayPayClient } from "../paypay/client.js";
import { credentialsFromEnv, type Credentials } from "../paypay/credentials.js";
import { isLoopbackHost } from "../loopback.js";
import { checkBaseUrl, ENVIRONMENTS, environmentOfOrigin, type EnvironmentName } from "../paypay/environments.js";
import { createSimulator, LOCAL_CREDENTIALS, type Simulator } from "../simulator/index.js";
import { EMBEDDED_SIMULATOR_ORIGIN, type Target } from "../paypay/target.js";

/** Where and how to reach PayPay: every connection flag, resolved. */
export interface ConnectionSettings {
  env: EnvironmentName;
  baseUrl?: string;
  createPath: string;
  budgetPath: string;
  codeField: string;
  timeoutMs: number;
  budgetTimeoutMs: number;
  maxSockets?: number;
}

export interface Connection {
  client: PayPayClient;
  /** Which PayPay this is: a checkpoint is bound to one. */
  target: Target;
  /** What the user should see about where requests go (never credentials). */
  description: string;
  close(): Promise<void>;
}

/**
 * Opens a client for the chosen environment. `local` without `--base-url` starts the simulator inside
 * this process on loopback, so a fresh clone runs end to end with no account and no network.
 */
export async function openConnection(settings: ConnectionSettings, env: NodeJS.ProcessEnv, logger?: Logger): Promise<Connection> {
  const fromEnv = credentialsFromEnv(env);
  let simulator: Simulator | undefined;
  let baseUrl: URL;
  let credentials: Credentials;

  if (settings.baseUrl !== undefined) {
    baseUrl = checkBaseUrl(settings.baseUrl);
    credentials = fromEnv ?? (isLoopbackHost(baseUrl.hostname) ? LOCAL_CREDENTIALS : missingCredentials(settings.baseUrl));
  } else if (settings.env === "local") {
    credentials = fromEnv ?? LOCAL_CREDENTIALS;
    simulator = createSimulator({ credentials, createPath: settings.createPath, budgetPath: settings.budgetPath });
    baseUrl = new URL(await simulator.start(0, "127.0.0.1"));
    logger?.info({ baseUrl: baseUrl.href }, "using the embedded PayPay simulator (--env local)");
  } else {
    baseUrl = checkBaseUrl(ENVIRONMENTS[settings.env]);
    credentials = fromEnv ?? missingCredentials(settings.env);
  }

  const client = new PayPayClient({
    baseUrl,
    credentials,
    createPath: settings.createPath,
    budgetPath: settings.budgetPath,
    codeField: settings.codeField,
    createTimeoutMs: settings.timeoutMs,
    budgetTimeoutMs: settings.budgetTimeoutMs,
    maxSockets: settings.maxSockets,
  });
  const target = targetFor(settings.env, simulator ? undefined : baseUrl, credentials.merchantId);
  const description = simulator ? `embedded simulator at ${baseUrl.origin}` : `${settings.baseUrl ? "base URL" : settings.env} ${baseUrl.origin}`;
  return {
    client,
    target,
    description,
    async close() {
      client.close();
      await simulator?.close();
    },
  };
}

function targetFor(env: EnvironmentName, baseUrl: URL | undefined, merchantId: string): Target {
  if (baseUrl === undefined) return { kind: "embedded-simulator", env: "local", origin: EMBEDDED_SIMULATOR_ORIGIN, merchantId };
  if (isLoopbackHost(baseUrl.hostname)) return { kind: "loopback-simulator", env, origin: baseUrl.origin, merchantId };
  return { kind: "paypay", env: environmentOfOrigin(baseUrl.origin, env), origin: baseUrl.origin, merchantId };
}

/** The target a connection with these settings would have, without connecting (for checks only). */
export function targetOf(settings: Pick<ConnectionSettings, "env" | "baseUrl">, env: NodeJS.ProcessEnv): Target {
  const merchantId = credentialsFromEnv(env)?.merchantId ?? LOCAL_CREDENTIALS.merchantId;
  if (settings.baseUrl !== undefined) return targetFor(settings.env, checkBaseUrl(settings.baseUrl), merchantId);
  if (settings.env === "local") return targetFor("local", undefined, merchantId);
  return targetFor(settings.env, checkBaseUrl(ENVIRONMENTS[settings.env]), merchantId);
}

function missingCredentials(target: string): never {
  throw new UsageError(`${target} needs credentials: set PAYPAY_API_KEY, PAYPAY_API_SECRET and PAYPAY_MERCHANT_ID in the environment`, "MISSING_CREDENTIALS");
}

export const CONNECTION_DEFAULTS = {
  env: "local" as EnvironmentName,
  createPath: CLIENT_DEFAULTS.createPath,
  budgetPath: CLIENT_DEFAULTS.budgetPath,
  codeField: CLIENT_DEFAULTS.codeField,
  timeoutMs: CLIENT_DEFAULTS.createTimeoutMs,
  budgetTimeoutMs: CLIENT_DEFAULTS.budgetTimeoutMs,
};
