import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { planDrs } from '../core/drs/plan-drs.js';
import type { DrsPlan } from '../core/drs/drs-plan.js';
import { compileDrsPolicy, type DrsPolicy } from '../core/drs/drs-policy.js';
import type { Store } from '../store/open-store.js';
import { DrsRepository, type DrsConfig, type DrsPlanRecord } from '../store/repositories/drs-repository.js';
import type { JsonObject, StoreContext } from '../store/store-context.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { Failpoints } from '../util/failpoints.js';
import { PeriodicRounds } from '../util/periodic-rounds.js';
import { drsClusterView } from './drs-cluster-view.js';
import { DrsBusyError } from './drs-busy-error.js';
import type { MetricsHistory } from './metrics-history.js';
import { DRS_DROPPED_ON_RESTART, migrationEnd, runDrsMoves, type StartMigration } from './drs-run-moves.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { pollUntil } from '../util/deadline.js';

export interface DrsServiceOptions {
  readonly store: Store;
  readonly history: MetricsHistory;
  /** Requests one live migration (through the migration queue: `drsMigrationStarter`). */
  readonly startMigration: StartMigration;
  readonly cpuOvercommit: number;
  readonly logger: Logger;
  readonly failpoints?: Failpoints | undefined;
  /** How often the periodic rebalancer checks whether a round is due (default 5 s; the round's own interval is in the config). */
  readonly tickMs?: number | undefined;
  /** The longest one move's migration may take before the plan gives up on it (default 15 min). */
  readonly moveTimeoutMs?: number | undefined;
}

/** A plan as the API shows it: the planner's output with host names. */
export interface NamedDrsPlan extends DrsPlan {
  readonly hostNames: Readonly<Record<string, string>>;
  readonly policy: DrsPolicy;
}

/** The store's clock-free context for the 0013 repositories (the wall clock). */
export function storeContextOf(store: Store): StoreContext {
  return { db: store.db, dialect: store.dialect, now: () => new Date().toISOString() };
}

/**
 * The rebalancer in the controller: plans from the store and the metrics
 * (core/drs), applies a plan by journaling it and then running its moves as
 * live migrations one at a time, and, when enabled, does so periodically.
 * A controller that restarts with a plan still applying lets the migration
 * in flight finish (the migration journal resumes it) and records the move
 * once it ended — a queue entry the crash left unrecorded is found by its VM
 * and origin —, and drops the moves not yet started: they were computed from
 * metrics that are stale now. No move is done twice or left `running`.
 */
export class DrsService {
  readonly repo: DrsRepository;
  readonly #o: DrsServiceOptions;
  readonly #stopping = new AbortController();
  readonly #rounds: PeriodicRounds;
  #applying: Promise<unknown> | undefined;
  readonly #following = new Set<Promise<void>>();
  readonly #followedMoves = new Set<string>();
  #lastPeriodicAt = 0;

  constructor(o: DrsServiceOptions) {
    this.#o = o;
    this.repo = new DrsRepository(storeContextOf(o.store));
    this.#rounds = new PeriodicRounds(() => this.#periodic(), o.tickMs ?? 5_000, (err) => o.logger.error({ err: errorMessage(err) }, 'DRS periodic round failed'));
  }

  async config(): Promise<DrsConfig> {
    return this.repo.config();
  }

  /**
   * Changes the periodic rebalancer's switch, interval or policy (merged over what is set).
   * @throws ValidationError naming a bad policy field (nothing is written)
   */
  async configure(patch: { enabled?: boolean | undefined; intervalS?: number | undefined; policy?: JsonObject | undefined }): Promise<DrsConfig> {
    const now = await this.repo.config();
    const policy = { ...now.policy, ...(patch.policy ?? {}) };
    compileDrsPolicy(policy);
    return this.repo.setConfig({ enabled: patch.enabled ?? now.enabled, intervalS: patch.intervalS ?? now.intervalS, policy });
  }

  /** The plan for the cluster as it is now; `overrides` change the configured policy for this plan only. */
  async plan(overrides: JsonObject = {}): Promise<NamedDrsPlan> {
    const { store } = this.#o;
    const policy = compileDrsPolicy({ ...(await this.repo.config()).policy, ...overrides });
    const [hosts, vms, lastMigrations] = await Promise.all([store.hosts.list(), store.vms.list({}), this.repo.lastMigrations()]);
    const cluster = drsClusterView({ hosts, vms, history: this.#o.history, lastMigrations, cpuOvercommit: this.#o.cpuOvercommit, now: Date.now() });
    return { ...planDrs(cluster, policy), hostNames: Object.fromEntries(hosts.map((h) => [h.id, h.name])), policy };
  }

  /**
   * Plans, journals the plan, and runs its moves in the background; answers
   * with the journaled plan (state `applying`, or `done` at once when it has
   * nothing to do).
   * @throws DrsBusyError when a plan is being applied already
   */
  async apply(trigger: 'manual' | 'periodic', overrides: JsonObject = {}): Promise<DrsPlanRecord> {
    const busy = await this.repo.plans(1, 'applying');
    if (busy[0] !== undefined) throw new DrsBusyError(busy[0].id);
    const plan = await this.plan(overrides);
    const id = randomUUID();
    const record = await this.repo.createPlan(id, trigger, plan.mode, plan as unknown as JsonObject, plan.moves);
    this.#o.logger.info({ planId: id, trigger, mode: plan.mode, moves: plan.moves.length, standby: plan.standby.length }, 'DRS plan journaled');
    await this.#o.failpoints?.hit('drs.after-journal');
    if (plan.moves.length === 0 && plan.standby.length === 0) return this.repo.finishPlan(id, 'done', plan.summary);
    this.#applying = this.#run(record, plan).catch((err: unknown) => this.#o.logger.error({ planId: id, err: errorMessage(err) }, 'DRS plan failed'));
    return record;
  }

  /** Waits for the plan being applied in this process, if any (tests, shutdown). */
  async idle(): Promise<void> {
    await this.#applying;
  }

  /** After a restart: plans left `applying` end as `interrupted` (see the class comment). Then the periodic rounds start. */
  async start(): Promise<void> {
    for (const p of await this.repo.plans(100, 'applying')) {
      const running = p.moves.filter((m) => m.state === 'running');
      for (const m of running) {
        // Killed between the queue's answer and the move's record of it: the entry is found by its VM and origin, queued after the plan.
        const migrationId = m.migrationId ?? (await this.#o.store.migrationQueue.list({ vmId: m.vmId, origin: 'drs' })).find((q) => q.queuedAt >= p.createdAt)?.id ?? null;
        // Still waiting in the migration queue: taken out, as a move not yet started (ConflictError: it started meanwhile).
        if (migrationId !== null) await this.#o.store.migrationQueue.cancel(migrationId, DRS_DROPPED_ON_RESTART).catch(() => undefined);
        const outcome = migrationId === null ? undefined : await findOrUndefined(this.#o.store.migrations.get(migrationId));
        if (migrationId !== null && outcome?.state === 'running') {
          // Started before the restart: it runs on under its own journal (resumed or rolled back), and the move is recorded once it ends.
          await this.repo.setMove(p.id, m.seq, { state: 'running', migrationId, message: 'migration running at the restart: followed to its end' });
          this.#following.add(this.#follow(p.id, m.seq, migrationId));
          this.#followedMoves.add(`${p.id}/${m.seq}`);
          continue;
        }
        // A migration that had started runs on by itself (its own journal); it is recorded as it stands.
        const state = outcome === undefined ? 'dropped' : outcome.state === 'succeeded' ? 'done' : 'failed';
        await this.repo.setMove(p.id, m.seq, { state, migrationId, message: outcome === undefined ? 'not started before the restart' : `migration ${outcome.state} at the restart` });
      }
      await this.repo.finishPlan(p.id, 'interrupted', DRS_DROPPED_ON_RESTART);
      this.#o.logger.warn({ planId: p.id }, DRS_DROPPED_ON_RESTART);
    }
    // Moves an earlier restart was following when this controller died too.
    for (const p of await this.repo.plans(100)) {
      if (p.state === 'applying') continue;
      for (const m of p.moves) if (m.state === 'running' && m.migrationId !== null && !this.#followed(p.id, m.seq)) this.#following.add(this.#follow(p.id, m.seq, m.migrationId));
    }
    this.#rounds.start();
  }

  #followed(planId: string, seq: number): boolean {
    return this.#followedMoves.has(`${planId}/${seq}`);
  }

  /** Records how a move's migration that outlived a restart ended: no move is left `running` for ever. */
  async #follow(planId: string, seq: number, migrationId: string): Promise<void> {
    try {
      const end = await pollUntil(`DRS move ${planId}/${seq}`, () => migrationEnd(this.#o.store, migrationId), { timeoutMs: this.#o.moveTimeoutMs ?? 15 * 60_000, intervalMs: 500, signal: this.#stopping.signal });
      const ok = end.state === 'succeeded';
      await this.repo.setMove(planId, seq, { state: ok ? 'done' : 'failed', message: ok ? 'migration succeeded after the restart' : `migration ${end.state}: ${end.reason ?? ''}` });
    } catch (err) {
      // Stopping: the next start follows it again. A timeout: recorded, the migration goes on under its own journal.
      if (!this.#stopping.signal.aborted) await this.repo.setMove(planId, seq, { state: 'failed', message: errorMessage(err) }).catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#rounds.stop();
    await this.#applying;
    await Promise.all(this.#following);
  }

  async #run(record: DrsPlanRecord, plan: DrsPlan): Promise<void> {
    const outcome = await runDrsMoves({
      repo: this.repo, store: this.#o.store, startMigration: this.#o.startMigration, failpoints: this.#o.failpoints, logger: this.#o.logger,
      signal: this.#stopping.signal, moveTimeoutMs: this.#o.moveTimeoutMs ?? 15 * 60_000,
    }, record, plan);
    await this.repo.finishPlan(record.id, outcome.state, outcome.message);
  }

  async #periodic(): Promise<void> {
    const c = await this.repo.config();
    if (!c.enabled || Date.now() - this.#lastPeriodicAt < c.intervalS * 1000) return;
    this.#lastPeriodicAt = Date.now();
    if ((await this.repo.plans(1, 'applying')).length > 0) return;
    const p = await this.apply('periodic');
    if (p.state === 'applying') await this.#applying;
  }
}
