import type { Campaign } from "./campaign-store.js";
import type { Words_ } from "./i18n.js";
import type { User } from "./sessions.js";

/**
 * Four eyes: only an approver approves (or resumes), and a campaign that may charge more than the
 * limit needs an approver who did not prepare it. Undefined: this user may.
 */
export function approvalBlock(t: Words_, user: User | undefined, campaign: Campaign, worst: number, limit: number): string | undefined {
  if (!user?.roles.includes("approver")) return t.notApprover;
  if (worst > limit && user.name === campaign.preparedBy) return `${t.needsOther} (> ¥${limit.toLocaleString("en-US")})`;
  return undefined;
}
