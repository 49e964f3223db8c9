import { readFile } from "node:fs/promises";
import { UsageError } from "../errors.js";
import { isPasswordHash } from "./passwords.js";

/**
 * The console's people: a JSON file `{"users":[{"name","roles":["preparer"|"approver"],"password"?}]}`.
 * Built-in accounts need a `password` (an scrypt hash from `console --hash-password`); behind an SSO
 * proxy the same file only maps the proxy's user names to roles.
 */

export type Role = "preparer" | "approver";
export const ROLES: readonly Role[] = ["preparer", "approver"];

export interface Account {
  name: string;
  roles: Role[];
  password?: string;
}

export async function loadAccounts(file: string, needPasswords: boolean): Promise<Map<string, Account>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new UsageError(`${file}: cannot read the accounts file (${(error as Error).message})`, "BAD_ACCOUNTS");
  }
  const users = (parsed as { users?: unknown })?.users;
  if (!Array.isArray(users)) throw new UsageError(`${file}: expected {"users": [...]}, got ${JSON.stringify(parsed).slice(0, 80)}`, "BAD_ACCOUNTS");
  const accounts = new Map<string, Account>();
  users.forEach((user: unknown, i) => {
    const where = `${file}: users[${i}]`;
    const u = user as Partial<Account>;
    if (typeof u?.name !== "string" || !/^[^\s<>"'&]{1,120}$/.test(u.name)) {
      throw new UsageError(`${where}: expected "name" to be 1 to 120 characters without spaces or <>"'&, got ${JSON.stringify(u?.name)}`, "BAD_ACCOUNTS");
    }
    if (!Array.isArray(u.roles) || u.roles.length === 0 || !u.roles.every((r) => (ROLES as readonly string[]).includes(r))) {
      throw new UsageError(`${where}: expected "roles" to be a list of ${ROLES.join(", ")}, got ${JSON.stringify(u.roles)}`, "BAD_ACCOUNTS");
    }
    if (needPasswords && (typeof u.password !== "string" || !isPasswordHash(u.password))) {
      throw new UsageError(
        `${where}: expected "password" to be an scrypt hash (make one with \`points-code-batch console --hash-password\`), got ${u.password === undefined ? "none" : "something else"}`,
        "BAD_ACCOUNTS",
      );
    }
    if (accounts.has(u.name)) throw new UsageError(`${where}: "${u.name}" is listed twice`, "BAD_ACCOUNTS");
    accounts.set(u.name, { name: u.name, roles: [...u.roles], ...(u.password ? { password: u.password } : {}) });
  });
  return accounts;
}
