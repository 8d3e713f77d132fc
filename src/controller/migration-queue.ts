import type { Logger } from 'pino';
import { bandwidthShare, planQueueStarts, type MigrationLoad, type MigrationQueueLimits, type QueueCandidate } from '../core/migration/migration-queue-plan.js';
import { parseMigrationPolicy } from '../core/migration/migration-policy.js';
import type { Store } from '../store/open-store.js';
import type { QueuedMigration } from '../store/repositories/migration-queue-repository.js';
import type { JsonObject } from '../store/store-context.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { PeriodicRounds } from '../util/periodic-rounds.js';
import type { Failpoints } from '../util/failpoints.js';
import { MigrationRefusedError } from './migration-errors.js';
import type { MigrationPlanner } from './migration-planner.js';
import type { MigrationService } from './migration-service.js';

export interface MigrationQueueOptions {
  readonly store: Store;
  readonly service: MigrationService;
  readonly planner: MigrationPlanner;
  readonly limits: MigrationQueueLimits;
  readonly logger: Logger;
  readonly failpoints?: Failpoints | undefined;
  /** How often waiting entries are looked at again (a migration's end is seen at the next round). */
  readonly intervalMs?: number | undefined;
}

export interface EnqueueRequest {
  readonly to?: string | undefined;
  readonly policy?: unknown;
  readonly priority?: number | undefined;
  /** `api` (default) or `maintenance:<host id>`. */
  readonly origin?: string | undefined;
  /** A prediction made just before (the evacuation orders by it): not measured twice. */
  readonly prediction?: JsonObject | undefined;
  /** With `to`: an admin's override of the VM's placement requirements (kept with the entry; see MigrationRequest.force). */
  readonly force?: boolean | undefined;
}

/**
 * The migration queue's dispatcher: every migration is requested through
 * `enqueue` (pre-checks now, so a bad request is refused at once and
 * nothing is queued), and started by
 * a round — right after the request, then every `intervalMs` — when the
 * per-host limits allow (`planQueueStarts`). The prediction is measured
 * beside that first round, not before it, and stored with the entry when
 * it comes.
 * Starting reuses the entry's id for the migration record, which is the
 * journal: a controller killed between the record and marking the entry
 * started finds the record and marks it at its next round.
 */
export class MigrationQueue {
  readonly #rounds: PeriodicRounds;
  #round: Promise<void> = Promise.resolve();
  /** Predictions being measured for entries already queued (see enqueue). */
  readonly #predicting = new Set<Promise<void>>();
  readonly #stopping = new AbortController();

  constructor(private readonly o: MigrationQueueOptions) {
    this.#rounds = new PeriodicRounds(() => this.dispatchNow(), o.intervalMs ?? 1_000, (err) => o.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'migration queue: round failed'));
  }

  get limits(): MigrationQueueLimits {
    return this.o.limits;
  }

  get planner(): MigrationPlanner {
    return this.o.planner;
  }

  start(): void {
    this.#rounds.start();
  }

  async stop(): Promise<void> {
    await this.#rounds.stop();
    await this.#round;
    // A prediction still being measured is given up: its entry keeps none.
    this.#stopping.abort(new Error('the controller is stopping'));
    await this.predictionsSettled();
  }

  /**
   * Checks and queues a migration, then gives the queue a round, so one that may start has started when this
   * returns. The planner's prediction is measured meanwhile — its dirty-rate sample takes QEMU a whole second, which
   * neither the migration nor the caller waits for — and stored with the entry when it comes (`predictionsSettled`).
   */
  async enqueue(vmId: string, req: EnqueueRequest, signal?: AbortSignal): Promise<QueuedMigration> {
    const forced = req.to !== undefined && req.force === true;
    const plan = await this.o.service.plan(vmId, { to: req.to, policy: req.policy ?? {}, force: forced });
    signal?.throwIfAborted(); // a caller that gave up during the checks queues nothing
    // Asked first, so that the guest is sampled from the request on, while the destination prepares and the copy runs.
    // Not under the caller's signal: it outlives this call (only the controller's stop gives it up).
    const predicting = req.prediction === undefined ? this.o.planner.predict(plan, this.#stopping.signal) : undefined;
    predicting?.catch(() => {}); // handled below; a refusal in between must not leave it unhandled
    const q = await this.o.store.migrationQueue.enqueue({
      vmId: plan.vm.id, kind: plan.kind, sourceHostId: plan.source.id, requestedTo: req.to === undefined ? null : plan.dest.id,
      priority: req.priority, policy: (req.policy ?? {}) as JsonObject, prediction: req.prediction ?? null, origin: req.origin ?? 'api', forced,
    });
    this.o.logger.info({ migrationId: q.id, vmId: q.vmId, priority: q.priority, origin: q.origin }, 'migration queued');
    if (predicting !== undefined) this.#keepPrediction(q.id, predicting);
    await this.o.failpoints?.hit('migration-queue.queued');
    await this.dispatchNow();
    return this.o.store.migrationQueue.get(q.id);
  }

  /** Resolves once every prediction asked for so far is stored (or given up). */
  async predictionsSettled(): Promise<void> {
    await Promise.all([...this.#predicting]);
  }

  /** Stores the prediction with the entry when it comes; one that fails costs the entry its prediction, never the migration. */
  #keepPrediction(id: string, predicting: Promise<JsonObject>): void {
    const kept = predicting
      .then((p) => this.o.store.migrationQueue.setPrediction(id, p))
      .then(() => undefined, (err: unknown) => {
        this.o.logger.warn({ migrationId: id, err: err instanceof Error ? err.message : String(err) }, 'migration without a prediction');
      })
      .finally(() => this.#predicting.delete(kept));
    this.#predicting.add(kept);
  }

  /** Takes a waiting migration out of the queue (ConflictError once it started). */
  async cancel(id: string): Promise<QueuedMigration> {
    return this.o.store.migrationQueue.cancel(id, 'cancelled while queued');
  }

  /** One round: starts what the limits allow now. Rounds never overlap. */
  dispatchNow(): Promise<void> {
    const next = this.#round.then(() => this.#dispatch());
    this.#round = next.catch(() => undefined);
    return next;
  }

  async #dispatch(): Promise<void> {
    const { store, limits } = this.o;
    const queued = await store.migrationQueue.list({ state: 'queued' });
    if (queued.length === 0) return;
    const running = await store.migrations.list({ state: 'running' });
    const inFlight: MigrationLoad[] = running.map((m) => ({
      id: m.id, sourceHostId: m.sourceHostId, destHostId: m.destHostId,
      bandwidthMiBps: bandwidthShare(parseMigrationPolicy(m.policy).maxBandwidthMiBps, limits),
    }));
    const candidates: (QueueCandidate & { readonly entry: QueuedMigration })[] = [];
    for (const q of queued) {
      // Started before a crash, not marked yet: the record with its id is the proof.
      const made = await findOrUndefined(store.migrations.get(q.id));
      if (made) {
        await store.migrationQueue.markStarted(q.id, made.destHostId, null);
        continue;
      }
      try {
        const plan = await this.o.service.plan(q.vmId, { to: q.requestedTo ?? undefined, policy: q.policy, force: q.forced });
        const bw = bandwidthShare(plan.policy.maxBandwidthMiBps, limits);
        candidates.push({ id: q.id, sourceHostId: plan.source.id, destHostId: plan.dest.id, bandwidthMiBps: bw, priority: q.priority, queuedAt: q.queuedAt, entry: q });
      } catch (err) {
        if (!(err instanceof MigrationRefusedError)) throw err;
        // Its turn came and a check says no (no room anywhere, the VM changed): out of the queue, with the reason.
        await store.migrationQueue.refuse(q.id, err.message);
        this.o.logger.info({ migrationId: q.id, vmId: q.vmId, reason: err.message }, 'queued migration refused');
      }
    }
    const plan = planQueueStarts(candidates, inFlight, limits);
    for (const id of plan.start) {
      const c = candidates.find((x) => x.id === id)!;
      await this.o.failpoints?.hit('migration-queue.before-start');
      try {
        // The budget is enforced by QEMU itself: the migration gets at most its share as max-bandwidth.
        // A destination placement chose meets the requirements: only an entry the admin forced skips them.
        const m = await this.o.service.start(c.entry.vmId, { to: c.destHostId, policy: { ...c.entry.policy, maxBandwidthMiBps: c.bandwidthMiBps }, force: c.entry.forced }, { id });
        await this.o.failpoints?.hit('migration-queue.started');
        await store.migrationQueue.markStarted(id, m.destHostId, null);
      } catch (err) {
        if (!(err instanceof MigrationRefusedError)) throw err;
        await store.migrationQueue.refuse(id, err.message);
      }
    }
  }
}

/**
 * Queue priorities of the controller's own planners, around a user's request
 * (0 by default): a host's evacuation goes first — an operator is waiting to
 * service it —, a rebalancing move last, as it only improves what already runs.
 */
export const MIGRATION_PRIORITY = Object.freeze({ maintenance: 50, drs: -50 });

/** How DRS starts a move: through the queue at its low priority, so the per-host limits and budget hold for it too. */
export function drsMigrationStarter(queue: Pick<MigrationQueue, 'enqueue'>): (vmId: string, toHostId: string) => Promise<{ readonly id: string }> {
  return (vmId, toHostId) => queue.enqueue(vmId, { to: toHostId, priority: MIGRATION_PRIORITY.drs, origin: 'drs' });
}

/** The queue's entry point for other planners (maintenance, DRS): queue one migration. */
export function enqueueMigration(queue: MigrationQueue, vmId: string, req: EnqueueRequest, signal?: AbortSignal): Promise<QueuedMigration> {
  return queue.enqueue(vmId, req, signal);
}
