import type { EnvironmentName } from "./environments.js";

/**
 * Which PayPay a run talks to. A checkpoint is bound to one target: a code recorded against one
 * PayPay proves nothing about another, so a run, a plan or an export against a different target is
 * refused. A real target is its environment, its base-URL origin and its merchant id. The embedded
 * simulator is one target whatever port it gets; its ledger is new on every run.
 */
export interface Target {
  kind: "embedded-simulator" | "loopback-simulator" | "paypay";
  env: EnvironmentName;
  /** The base URL's origin; "" for the embedded simulator, whose port changes every run. */
  origin: string;
  merchantId: string;
}

export const EMBEDDED_SIMULATOR_ORIGIN = "";

/** Codes from a simulator are not money: every output of a simulated run says so. */
export function isSimulated(target: Target): boolean {
  return target.kind !== "paypay";
}

/** Two targets are the same PayPay when these agree. */
export function sameTarget(a: Target, b: Target): boolean {
  return a.kind === b.kind && a.env === b.env && a.origin === b.origin && a.merchantId === b.merchantId;
}

export function describeTarget(target: Target): string {
  switch (target.kind) {
    case "embedded-simulator":
      return `the embedded simulator (merchant ${target.merchantId})`;
    case "loopback-simulator":
      return `the simulator at ${target.origin} (merchant ${target.merchantId})`;
    case "paypay":
      return `PayPay ${target.env} at ${target.origin} (merchant ${target.merchantId})`;
  }
}

/** The flags that select this target again, for messages that tell the user the way out. */
export function targetFlags(target: Target): string {
  switch (target.kind) {
    case "embedded-simulator":
      return "--env local";
    case "loopback-simulator":
      return `--base-url ${target.origin}`;
    case "paypay":
      return `--env ${target.env}${target.origin ? ` (base URL ${target.origin})` : ""} with PAYPAY_MERCHANT_ID=${target.merchantId}`;
  }
}

/** The value of the result file's `target` column: a simulated code can never pass for a real one. */
export function targetLabel(target: Target): string {
  switch (target.kind) {
    case "embedded-simulator":
      return "SIMULATED (embedded simulator)";
    case "loopback-simulator":
      return `SIMULATED (${target.origin})`;
    case "paypay":
      return target.env === "production" ? "production" : `${target.env} ${target.origin}`;
  }
}

/** Reads a target back from a checkpoint record; undefined when the shape is not one. */
export function parseTarget(value: unknown): Target | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const t = value as Record<string, unknown>;
  const kinds = ["embedded-simulator", "loopback-simulator", "paypay"];
  if (typeof t.kind !== "string" || !kinds.includes(t.kind)) return undefined;
  if (typeof t.env !== "string" || typeof t.origin !== "string" || typeof t.merchantId !== "string") return undefined;
  return { kind: t.kind as Target["kind"], env: t.env as EnvironmentName, origin: t.origin, merchantId: t.merchantId };
}
