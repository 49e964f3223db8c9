import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { migrate, quoteIdent } from "../checkpoint/pg/migrations.js";
import { pgLocation } from "../checkpoint/pg/pg-store.js";
import { parsePgState } from "../checkpoint/pg/pg-url.js";
import { PgConnections } from "../checkpoint/pg/pool.js";
import { refuseOtherTarget } from "../checkpoint/target-binding.js";
import { CheckpointError } from "../errors.js";
import { applyPlan, type Applied, type ApplySettings, type IssueEvents } from "../job/apply-plan.js";
import { decideRow } from "../job/decide.js";
import type { RequestGate } from "../job/pacer.js";
import type { PreparedRow } from "../job/prepared-row.js";
import type { RateController } from "../job/rate-controller.js";
import type { Sender } from "../job/send-with-retries.js";
import { parseTarget, type Target } from "../paypay/target.js";
import { ClaimStore, type SettledCounts } from "./claim-store.js";
import { claimRows, dropClaims, heartbeat, registerWorker, releaseClaims, rowsLeftToOthers, type Beat, type ClaimScope } from "./claims.js";
import { preparedRowOf } from "./claimed-row.js";
import { HaltWatch } from "./halts.js";
import { SharedRateGate, type Bucket } from "./shared-rate.js";
import { acquireWorkerLock } from "./worker-lock.js";

/**
 * `work`: one of any number of processes, on any hosts, sending a campaign `load` recorded. It
 * claims planned rows in small batches with a lease (claims.ts), sends them through the same applier
 * as `issue` (same retries, same bodies, the recorded ones), records each outcome fenced by its
 * claim (claim-store.ts), renews its leases and reads the shared halts with a heartbeat, and exits
 * once no row is left to send: none free, none held by a live worker.
 */

export const DEFAULT_LEASE_MS = 30_000;
/** How often a worker with nothing to claim looks again while others still hold rows. */
const IDLE_POLL_MS = 250;
/** A paced worker holds about this many seconds of its rate, and never fewer rows than PACED_MIN_AHEAD. */
const PACED_AHEAD_SECONDS = 1;
const PACED_MIN_AHEAD = 4;
const PACED_POLL_MS = 20;
const PACED_MAX_WAIT_MS = 2_000;

export interface WorkOptions extends ApplySettings {
  state: string;
  campaign: string;
  leaseMs: number;
  /** --rate N: the campaign's total over its live workers (a shared bucket). */
  sharedRate?: number;
  /** --merchant-rate N: the total over every worker of every campaign of the merchant in this database. */
  merchantRate?: number;
  /**
   * --rate auto: this worker's controller, told with each heartbeat whether it is the one that
   * probes past the limit; its rate sizes the worker's claims (see claimSource).
   */
  adaptive?: Pick<RateController, "setProbing" | "rate">;
}

export interface WorkDeps {
  api: Sender;
  target: Target;
  logger: Logger;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  random?: () => number;
  events?: IssueEvents;
}

export interface CampaignCounts {
  rows: number;
  issued: number;
  failed: number;
  /** Never sent, sent with no outcome yet, or left pending. */
  pending: number;
  /** Still marked for workers (including rows of halted groups). */
  todo: number;
}

export interface WorkReport extends Applied {
  worker: { token: string; host: string; pid: number };
  location: string;
  settled: SettledCounts;
  claimed: number;
  /** Claim round trips and the time they took, for the claim cost per row. */
  claims: { trips: number; ms: number; rateTakes: number };
  campaign: CampaignCounts;
  /** The campaign's halt (a fatal answer here or in another worker). */
  campaignHalt?: string;
  haltedGroups: string[];
  elapsedMs: number;
}

export async function runWorker(options: WorkOptions, deps: WorkDeps): Promise<WorkReport> {
  const started = performance.now();
  const connections = new PgConnections(parsePgState(options.state, deps.env));
  // A worker frozen inside a transaction (SIGSTOP, a long GC pause) would hold its rows' locks, and
  // FOR UPDATE SKIP LOCKED would skip them forever: the server ends such a session after the lease.
  connections.pool.on("connect", (client) => {
    client.query(`SET idle_in_transaction_session_timeout = ${Math.round(options.leaseMs)}`).catch(() => undefined);
  });
  const location = pgLocation(connections.state.display, options.campaign);
  try {
    await migrate(connections).catch((error: unknown) => {
      throw connections.wrap(error, "STATE_UNREACHABLE", "cannot open the state schema");
    });
    const lock = await acquireWorkerLock(connections, options.campaign);
    try {
      const recorded = await recordedTarget(connections, options.campaign, location);
      refuseOtherTarget(location, recorded, deps.target);
      const scope: ClaimScope = { connections, campaign: options.campaign, token: lock.token, leaseMs: options.leaseMs };
      await registerWorker(scope, lock.host, lock.pid);
      const store = new ClaimStore(scope, location, recorded);
      const halts = new HaltWatch(scope, deps.logger);
      const signal = AbortSignal.any([deps.signal, lock.lost, halts.stopped]);
      const gate = await sharedGate(options, deps, connections);
      // Halts recorded before this worker started apply from its first row.
      const onBeat = (beat: Beat): void => {
        halts.update(beat);
        options.adaptive?.setProbing(beat.prober);
      };
      onBeat(await heartbeat(scope, 0, 0));
      const beat = startHeartbeat(scope, store, onBeat, deps.logger);
      const claims = { trips: 0, ms: 0, claimed: 0 };
      let applied: Applied;
      try {
        const rows = claimSource(scope, store, halts, signal, Math.max(1, Math.min(64, options.concurrency)), claims, location, options.adaptive);
        // The recorded plan decided which rows go, --retry-failed included; a row claimed is one it sends.
        applied = await applyPlan(
          { cutoffs: {}, rows },
          { ...options, retryFailed: true, gate: gate ?? options.gate },
          { api: deps.api, logger: deps.logger, signal, random: deps.random, events: deps.events, halts },
          store,
        );
      } finally {
        beat.stop();
        await halts.flush();
        await store.close();
        // A clean exit gives back what it still holds: nobody waits out the lease.
        await releaseClaims(scope).catch((error: unknown) =>
          deps.logger.warn({ error: (error as Error).message }, "could not give back claims; their lease frees them"),
        );
      }
      // Halts recorded by others while this worker was finishing, for its summary.
      await heartbeat(scope, 0, store.settled.issued + store.settled.failed + store.settled.pending)
        .then((beat) => halts.update(beat))
        .catch(() => undefined);
      const campaign = await campaignCounts(connections, options.campaign);
      return {
        ...applied,
        worker: { token: lock.token, host: lock.host, pid: lock.pid },
        location,
        settled: store.settled,
        claimed: claims.claimed,
        claims: { trips: claims.trips, ms: claims.ms, rateTakes: gate?.stats.takes ?? 0 },
        campaign,
        ...(halts.halt === undefined ? {} : { campaignHalt: halts.halt }),
        haltedGroups: halts.haltedGroups(),
        elapsedMs: performance.now() - started,
      };
    } finally {
      await lock.release();
    }
  } finally {
    await connections.close();
  }
}

async function recordedTarget(connections: PgConnections, campaign: string, location: string): Promise<Target> {
  const s = quoteIdent(connections.state.schema);
  const found = await connections.withClient(async (client) => {
    const { rows } = await client.query<{ target: unknown; planned: boolean }>(
      `SELECT target, latest_plan IS NOT NULL AS planned FROM ${s}.campaigns WHERE campaign = $1`,
      [campaign],
    );
    return rows[0];
  });
  const target = found?.planned && found.target !== null && found.target !== undefined ? parseTarget(found.target) : undefined;
  if (target === undefined) {
    throw new CheckpointError("CHECKPOINT_NO_RUN", `${location}: no plan recorded for campaign ${campaign}: run \`load\` (or \`issue\`) first`);
  }
  return target;
}

async function sharedGate(options: WorkOptions, deps: WorkDeps, connections: PgConnections): Promise<SharedRateGate | undefined> {
  const buckets: Bucket[] = [];
  if (options.sharedRate !== undefined) buckets.push({ key: `campaign:${options.campaign}`, rate: options.sharedRate });
  if (options.merchantRate !== undefined) buckets.push({ key: `merchant:${deps.target.origin}:${deps.target.merchantId}`, rate: options.merchantRate });
  if (buckets.length === 0) return undefined;
  const local: RequestGate | undefined = options.sharedRate === undefined ? options.gate : undefined;
  return SharedRateGate.open({ connections, buckets, local, logger: deps.logger });
}

async function* claimSource(
  scope: ClaimScope,
  store: ClaimStore,
  halts: HaltWatch,
  signal: AbortSignal,
  batch: number,
  stats: { trips: number; ms: number; claimed: number },
  location: string,
  paced?: Pick<RateController, "rate">,
): AsyncGenerator<PreparedRow> {
  // A worker paced slower than its concurrency would fill its slots with rows that then wait at its
  // gate, recorded sent, while at the campaign's end the other workers sit idle with nothing left
  // to claim: at --rate auto the workers' shares differ, and the slowest one's queue was the
  // campaign's tail. Such a worker claims, and hands the applier, about a second of its rate.
  const ahead = (): number => (paced === undefined ? batch : Math.max(PACED_MIN_AHEAD, Math.min(batch, Math.ceil(paced.rate * PACED_AHEAD_SECONDS))));
  const claim = async (): Promise<PreparedRow[]> => {
    const t0 = performance.now();
    const claimed = await claimRows(scope, ahead());
    stats.trips++;
    stats.ms += performance.now() - t0;
    stats.claimed += claimed.length;
    const dropped: string[] = [];
    const rows: PreparedRow[] = [];
    for (const c of claimed) {
      const row = preparedRowOf(c, location);
      store.hold(c.rid, c.state);
      // Settled since the plan was recorded (an `issue` finished it, say): nothing to send.
      if (decideRow(row.fingerprint, c.state, true) !== "send") {
        dropped.push(c.rid);
        store.forget(c.rid);
      } else rows.push(row);
    }
    await dropClaims(scope, dropped);
    return rows;
  };
  let buffer: PreparedRow[] = [];
  /** Rows handed to the applier and not settled yet (in flight, at the gate, backing off); a halted group's are skipped by it. */
  let handed: PreparedRow[] = [];
  const unsettled = (): number => {
    handed = handed.filter((row) => store.holds(row.request.requestId) && !halts.groupHalted(row.request.groupId));
    return handed.length;
  };
  // The next batch is claimed while the last half of this one is being sent, so the applier never
  // waits on a claim while rows remain.
  let next: Promise<PreparedRow[]> | undefined;
  try {
    while (!signal.aborted) {
      if (buffer.length === 0) {
        const claimed = await (next ?? claim());
        next = undefined;
        if (claimed.length === 0) {
          if ((await rowsLeftToOthers(scope)) === 0) return;
          // Rows held by live workers: wait, and take over any whose lease runs out.
          const waited = await sleep(IDLE_POLL_MS, true, { signal }).catch(() => false);
          if (!waited) return;
          continue;
        }
        buffer = claimed;
      }
      if (paced !== undefined) {
        // Bounded: rows that can no longer settle (the store failed, say) must not hold up the
        // applier's own way out, which runs through this generator.
        const until = performance.now() + PACED_MAX_WAIT_MS;
        while (unsettled() >= ahead() && !signal.aborted && performance.now() < until) await sleep(PACED_POLL_MS, true, { signal }).catch(() => false);
        if (signal.aborted) return;
      }
      const row = buffer.shift();
      if (buffer.length <= ahead() / 2 && next === undefined) next = claim();
      if (row === undefined || halts.groupHalted(row.request.groupId)) continue;
      if (paced !== undefined) handed.push(row);
      yield row;
    }
  } finally {
    // Claimed but never handed over: given back with the rest when the worker stops.
    await next?.catch(() => undefined);
  }
}

function startHeartbeat(scope: ClaimScope, store: ClaimStore, onBeat: (beat: Beat) => void, logger: Logger): { stop(): void } {
  let busy = false;
  let failing = false;
  const timer = setInterval(
    () => {
      if (busy) return;
      busy = true;
      const s = store.settled;
      heartbeat(scope, store.heldCount(), s.issued + s.failed + s.pending)
        .then((beat) => {
          if (failing) logger.info("heartbeat restored");
          failing = false;
          onBeat(beat);
        })
        .catch((error: unknown) => {
          // Its leases may run out meanwhile; the claim fences every write, so losing rows is safe.
          if (!failing) logger.warn({ error: (error as Error).message }, "heartbeat failed: leases are not being renewed");
          failing = true;
        })
        .finally(() => {
          busy = false;
        });
    },
    Math.max(50, Math.min(1000, scope.leaseMs / 3)),
  );
  return { stop: () => clearInterval(timer) };
}

async function campaignCounts(connections: PgConnections, campaign: string): Promise<CampaignCounts> {
  const s = quoteIdent(connections.state.schema);
  const { rows } = await connections.withClient((client) =>
    client.query<Record<keyof CampaignCounts, string>>(
      `SELECT count(*)::text AS rows, count(*) FILTER (WHERE status = 'issued')::text AS issued, count(*) FILTER (WHERE status = 'failed')::text AS failed,
              count(*) FILTER (WHERE status IN ('planned', 'sent', 'pending'))::text AS pending, count(*) FILTER (WHERE todo)::text AS todo
         FROM ${s}.rows WHERE campaign = $1`,
      [campaign],
    ),
  );
  const r = rows[0];
  return {
    rows: Number(r?.rows ?? 0),
    issued: Number(r?.issued ?? 0),
    failed: Number(r?.failed ?? 0),
    pending: Number(r?.pending ?? 0),
    todo: Number(r?.todo ?? 0),
  };
}
