import { yen } from "../yen.js";
import { isRecord } from "../paypay/envelope.js";
import { codeFieldCandidates, codeIn, describeAnswer, isNoRoute, maskCode, requestIdsOf, type Answer } from "./answers.js";
import { finding, notChecked, type Finding, type TestCode } from "./report.js";

/**
 * What the answers to the test code say: the create (path and code field), the same request again
 * (replay), and another body under the same requestId. Pure: each takes answers and budgets read.
 */

export interface Created {
  findings: Finding[];
  /** The field the code was found in (the configured one, or a candidate), undefined when none. */
  codeField?: string;
  code?: string;
  /** The first success's data, to compare a replay with when no code field was found. */
  data?: unknown;
  stopped?: string;
}

export function createFindings(answer: Answer, createPath: string, codeField: string, testCode: Pick<TestCode, "requestId" | "requestIdSource">): Created {
  const ids = requestIdsOf(answer);
  const seen = `POST ${createPath}: ${describeAnswer(answer)}`;
  const codeUnchecked = notChecked("code-field", "needs a code issued");
  if (answer.kind === "unreachable" || (answer.kind !== "success" && (answer.status === 429 || answer.status >= 500))) {
    return {
      findings: [notChecked("create-path", seen), codeUnchecked],
      stopped: `the test code's outcome is unknown (${describeAnswer(answer)}): run verify again with the same requestId ${testCode.requestId} to settle it`,
    };
  }
  if (isNoRoute(answer)) {
    return {
      findings: [
        finding("create-path", "differed", seen, {
          fix: "--create-path <path> (createPath in --config): ask PayPay for the create path",
          paypayRequestIds: ids,
        }),
        codeUnchecked,
      ],
    };
  }
  if (answer.kind !== "success") {
    const reused =
      answer.kind === "error" && answer.code === "INVALID_REQUEST_PARAMS" && testCode.requestIdSource !== "--request-id"
        ? `; if verify already ran today, PayPay may be refusing that run's requestId ${testCode.requestId}: pass --request-id with a new UUID`
        : "";
    return {
      findings: [finding("create-path", answer.kind === "error" ? "held" : "not checked", seen, { paypayRequestIds: ids }), codeUnchecked],
      stopped: `PayPay refused the test code (${describeAnswer(answer)})${reused}`,
    };
  }
  const pathHeld = finding("create-path", "held", seen, { paypayRequestIds: ids });
  const code = codeIn(answer.data, codeField);
  if (code !== undefined) {
    return {
      findings: [pathHeld, finding("code-field", "held", `data.${codeField} = ${maskCode(code)}`, { paypayRequestIds: ids })],
      codeField,
      code,
      data: answer.data,
    };
  }
  const fields = isRecord(answer.data) ? Object.keys(answer.data) : [];
  const candidate = codeFieldCandidates(answer.data)[0];
  const seenFields = `data has no ${codeField}; its fields: ${fields.join(", ") || "(none)"}`;
  if (candidate === undefined) {
    return {
      findings: [
        pathHeld,
        finding("code-field", "differed", seenFields, {
          fix: "--code-field <field> (codeField in --config): no field looks like the code",
          paypayRequestIds: ids,
        }),
      ],
      codeField: codeField,
      data: answer.data,
    };
  }
  const candidateCode = codeIn(answer.data, candidate)!;
  return {
    findings: [
      pathHeld,
      finding("code-field", "differed", `${seenFields}; data.${candidate} = ${maskCode(candidateCode)}`, {
        fix: `--code-field ${candidate} (codeField in --config)`,
        paypayRequestIds: ids,
      }),
    ],
    codeField: candidate,
    code: candidateCode,
    data: answer.data,
  };
}

/** The same answer as the first: the same code, or the same data when no code field was found. */
function sameAsFirst(answer: Answer & { kind: "success" }, created: Created): boolean {
  if (created.code !== undefined) return codeIn(answer.data, created.codeField!) === created.code;
  return JSON.stringify(answer.data) === JSON.stringify(created.data);
}

function budgetMove(before: number | undefined, after: number | undefined): string {
  if (before === undefined || after === undefined) return "budget not read";
  return before === after ? `budget unchanged at ${yen(after)}` : `budget ${yen(before)} → ${yen(after)}`;
}

export function replayFinding(
  answer: Answer,
  created: Created,
  budgetBefore: number | undefined,
  budgetAfter: number | undefined,
): { finding: Finding; replay?: "original" | "refused" } {
  const ids = requestIdsOf(answer);
  const charged = budgetBefore !== undefined && budgetAfter !== undefined && budgetAfter < budgetBefore;
  const seen = `${describeAnswer(answer)}; ${budgetMove(budgetBefore, budgetAfter)}`;
  if (answer.kind === "success") {
    if (sameAsFirst(answer, created) && !charged)
      return {
        finding: finding("replay", "held", `the same code again; ${budgetMove(budgetBefore, budgetAfter)}`, { paypayRequestIds: ids }),
        replay: "original",
      };
    const what = sameAsFirst(answer, created) ? "the same code, but the budget dropped" : "a different code";
    return {
      finding: finding("replay", "differed", `${what}; ${budgetMove(budgetBefore, budgetAfter)}`, {
        fix: "do not run issue: a retry after a timeout would issue (and charge) twice; ask PayPay how requestId idempotency works",
        paypayRequestIds: ids,
      }),
    };
  }
  if (answer.kind === "error" && answer.status >= 400 && answer.status < 500 && answer.status !== 429) {
    return {
      finding: finding("replay", "differed", `refused: ${seen}`, {
        fix: '--replay refused (replay: "refused" in --config): rows refused after an unknown outcome stay in doubt, never failed',
        paypayRequestIds: ids,
      }),
      replay: charged ? undefined : "refused",
    };
  }
  return { finding: finding("replay", "not checked", seen, { paypayRequestIds: ids }) };
}

export function changedBodyFinding(answer: Answer, created: Created, budgetBefore: number | undefined, budgetAfter: number | undefined): Finding {
  const ids = requestIdsOf(answer);
  const seen = `${describeAnswer(answer)}; ${budgetMove(budgetBefore, budgetAfter)}`;
  if (answer.kind === "error" && answer.status === 400 && answer.code === "INVALID_REQUEST_PARAMS")
    return finding("changed-body", "held", seen, { paypayRequestIds: ids });
  if (answer.kind === "success") {
    const same = sameAsFirst(answer, created);
    return finding("changed-body", "differed", `${same ? "answered with the first code" : "issued another code"}: ${seen}`, {
      fix: same
        ? "never rerun a changed row with --retry-failed: PayPay answers the first code, which would be recorded for the new row"
        : "never rerun a changed row with --retry-failed: PayPay issues (and charges) a second code",
      paypayRequestIds: ids,
    });
  }
  if (answer.kind === "error" && answer.status >= 400 && answer.status < 500) {
    return finding("changed-body", "differed", seen, {
      fix: `nothing to set: a changed row is resent only with --retry-failed, and is then recorded failed with ${answer.code}`,
      paypayRequestIds: ids,
    });
  }
  return finding("changed-body", "not checked", seen, { paypayRequestIds: ids });
}
