import { UsageError } from "../errors.js";

export interface Credentials {
  apiKey: string;
  apiSecret: string;
  merchantId: string;
}

export const CREDENTIAL_VARIABLES = ["PAYPAY_API_KEY", "PAYPAY_API_SECRET", "PAYPAY_MERCHANT_ID"] as const;

/**
 * Credentials come from the environment only: flags would land in shell history and `ps` output.
 * Returns undefined when none of the three is set, so the caller can fall back to the simulator's
 * local credentials; a partial set is an error, since it is always a mistake.
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv): Credentials | undefined {
  const [apiKey, apiSecret, merchantId] = CREDENTIAL_VARIABLES.map((name) => env[name]?.trim() || undefined);
  if (apiKey === undefined && apiSecret === undefined && merchantId === undefined) return undefined;
  const missing = CREDENTIAL_VARIABLES.filter((name) => !env[name]?.trim());
  if (apiKey === undefined || apiSecret === undefined || merchantId === undefined) {
    throw new UsageError(`Missing ${missing.join(", ")}: set all of ${CREDENTIAL_VARIABLES.join(", ")} or none`, "MISSING_CREDENTIALS");
  }
  return { apiKey, apiSecret, merchantId };
}
