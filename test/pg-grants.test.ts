import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { runCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, recipientsCsv } from "./support/csv.js";
import { freshSchema, pgSuites, queryAt, sql, stateUrl } from "./support/pg.js";
import { startSimulator } from "./support/simulator.js";

/**
 * The README's roles, run as written (names made unique): the operator role can run issue, load,
 * work and export, and the support role reads the masked view of codes and nothing else.
 */

const { skip } = await pgSuites();

const README = fileURLToPath(new URL("../README.md", import.meta.url));

async function readmeGrants(): Promise<string> {
  const readme = await readFile(README, "utf8");
  const block = /^Roles \(codes are worth money[^\n]*\n+```sql\n([\s\S]*?)```/m.exec(readme)?.[1];
  assert.ok(block, "the README's roles block");
  return block;
}

function as(role: string, schema: string): string {
  const url = new URL(stateUrl(schema));
  url.username = role;
  return url.href;
}

describe("the README's roles", { skip }, () => {
  test("the operator runs issue, load, work and export; support reads masked codes only", async () => {
    const schema = freshSchema();
    const suffix = randomBytes(4).toString("hex");
    const operator = `pcb_op_${suffix}`;
    const support = `pcb_sup_${suffix}`;
    after(() => sql(`DROP OWNED BY ${operator}, ${support}; DROP ROLE IF EXISTS ${operator}, ${support}`).catch(() => undefined));
    // The schema is created by its owner, as the README says.
    const migrated = await runCli(["migrate", stateUrl(schema)]);
    assert.equal(migrated.code, 0, migrated.stderr);
    const grants = (await readmeGrants()).replaceAll("points_code_batch", schema).replaceAll("points_operator", operator).replaceAll("points_support", support);
    await sql(grants);
    await sql(`ALTER ROLE ${operator} LOGIN; ALTER ROLE ${support} LOGIN`);

    const dir = await tempDir("pcb-grants-");
    const sim = await startSimulator({ seed: 5 });
    const input = await writeText(dir, "in.csv", recipientsCsv(12));
    const state = as(operator, schema);
    const issued = await runCli(["issue", input, "--base-url", sim.baseUrl, ...campaignFlags("grants-issue"), "--state", state, "--out", join(dir, "a.csv")]);
    assert.equal(issued.code, 0, issued.stderr);
    const loaded = await runCli(["load", input, "--base-url", sim.baseUrl, ...campaignFlags("grants-work"), "--state", state, "--out", join(dir, "b.csv")]);
    assert.equal(loaded.code, 0, loaded.stderr);
    const worked = await runCli(["work", "--state", state, "--campaign", "grants-work", "--base-url", sim.baseUrl]);
    assert.equal(worked.code, 0, worked.stderr);
    const exported = await runCli(["export", state, "--campaign", "grants-work", "--out", join(dir, "c.csv")]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(sim.stats().createRequests, 24);

    const supportUrl = as(support, schema);
    const masked = await queryAt<{ n: string }>(supportUrl, `SELECT count(*)::text AS n FROM ${schema}.issued_codes_masked`);
    assert.equal(masked[0]?.n, "24");
    for (const table of ["issued_codes", "rows", "campaigns"]) {
      await assert.rejects(queryAt(supportUrl, `SELECT 1 FROM ${schema}.${table} LIMIT 1`), /permission denied/, `support cannot read ${table}`);
    }
  });
});
