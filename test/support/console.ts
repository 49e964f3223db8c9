import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { after } from "node:test";
import { hashPassword } from "../../src/console/passwords.js";
import type { Simulator } from "../../src/simulator/index.js";
import { startCli } from "./cli.js";

/** The console as a real child process of the built CLI, on 127.0.0.1 port 0, against a simulator. */

export const TODAY = { POINTS_CODE_BATCH_TODAY: "2094-03-15" };

export interface RunningConsole {
  url: string;
  token?: string;
  stdout(): string;
  stderr(): string;
  /** SIGINT, as an operator's Ctrl-C; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export async function startConsole(dir: string, sim: Simulator, extra: string[] = [], env: Record<string, string> = {}): Promise<RunningConsole> {
  const child = startCli(["console", "--dir", join(dir, "console"), "--port", "0", "--base-url", sim.baseUrl, ...extra], { env: { ...TODAY, ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr?.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  const deadline = Date.now() + 20_000;
  // In token mode the token comes on a line of its own, maybe in a later chunk.
  while (!/listening on (\S+)/.test(stdout) || (/token sign-in/.test(stdout) && !/sign-in token: \S+\n/.test(stdout))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`console did not start\nstdout: ${stdout}\nstderr: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const url = /listening on (\S+)/.exec(stdout)?.[1] ?? "";
  return {
    url,
    token: /sign-in token: (\S+)/.exec(stdout)?.[1],
    stdout: () => stdout,
    stderr: () => stderr,
    stop: () => {
      child.kill("SIGINT");
      return exited;
    },
  };
}

export const ALICE = { name: "alice", password: "alice-secret-1", roles: ["preparer"] };
export const BOB = { name: "bob", password: "bob-secret-2", roles: ["approver"] };
export const CAROL = { name: "carol", password: "carol-secret-3", roles: ["preparer", "approver"] };

/** An accounts file with scrypt hashes for ALICE (preparer), BOB (approver) and CAROL (both). */
/** A console signing in with writeAccounts' accounts (passwords), started in `dir`. */
export async function startAccountsConsole(dir: string, sim: Simulator, extra: string[] = [], env: Record<string, string> = {}): Promise<RunningConsole> {
  const accounts = await writeAccounts(dir);
  return startConsole(dir, sim, ["--auth", "accounts", "--accounts", accounts, ...extra], env);
}

export async function writeAccounts(dir: string): Promise<string> {
  const users = await Promise.all([ALICE, BOB, CAROL].map(async (u) => ({ name: u.name, roles: u.roles, password: await hashPassword(u.password) })));
  const file = join(dir, "accounts.json");
  await writeFile(file, JSON.stringify({ users }), { mode: 0o600 });
  return file;
}

/** A tiny browser without a browser: a cookie jar, same-origin form posts with the page's CSRF token. */
export class ConsoleClient {
  readonly cookies = new Map<string, string>();
  csrf = "";

  constructor(
    readonly url: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const response = await fetch(new URL(path, this.url), {
      redirect: "manual",
      ...init,
      headers: { Accept: "text/html", ...this.headers, ...(cookie ? { Cookie: cookie } : {}), ...(init.headers as Record<string, string>) },
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair?.indexOf("=") ?? -1;
      if (pair && eq > 0) this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return response;
  }

  /** A GET of `path` exactly as written: fetch would resolve `..` and `%2e%2e` before sending. */
  raw(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const url = new URL(this.url);
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: url.hostname, port: url.port, path, headers: { Cookie: cookie, Accept: "text/html", ...headers } }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    });
  }

  /** GETs a page and keeps its CSRF token. */
  async page(path: string): Promise<{ status: number; html: string }> {
    const response = await this.request(path);
    const html = await response.text();
    const token = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    if (token) this.csrf = token;
    return { status: response.status, html };
  }

  post(path: string, fields: Record<string, string>, options: { origin?: string | null; csrf?: string | null } = {}): Promise<Response> {
    const body = new URLSearchParams(fields);
    const csrf = options.csrf === undefined ? this.csrf : options.csrf;
    if (csrf !== null) body.set("csrf", csrf);
    const origin = options.origin === undefined ? new URL(this.url).origin : options.origin;
    return this.request(path, {
      method: "POST",
      body,
      headers: { "Content-Type": "application/x-www-form-urlencoded", ...(origin === null ? {} : { Origin: origin }) },
    });
  }

  upload(
    path: string,
    fields: Record<string, string>,
    file: { name: string; bytes: Buffer | string } | undefined,
    options: { origin?: string } = {},
  ): Promise<Response> {
    const form = new FormData();
    form.set("csrf", this.csrf);
    for (const [k, v] of Object.entries(fields)) form.set(k, v);
    if (file) form.set("file", new Blob([file.bytes]), file.name);
    return this.request(path, { method: "POST", body: form, headers: { Origin: options.origin ?? new URL(this.url).origin } });
  }

  async signIn(user: { name: string; password: string }): Promise<void> {
    await this.page("/login");
    const response = await this.post("/login", { user: user.name, password: user.password });
    assert.equal(response.status, 303, `sign-in of ${user.name}: ${await response.text()}`);
    await this.page("/");
  }
}
