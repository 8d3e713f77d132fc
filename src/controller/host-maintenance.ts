import type { Logger } from 'pino';
import { evacuationOrder } from '../core/migration/evacuation-order.js';
import { COLD_MIGRATION_STATES } from '../core/migration/migration-prechecks.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { MaintenanceVm } from '../store/repositories/host-maintenance.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import type { QueuedMigration } from '../store/repositories/migration-queue-repository.js';
import type { JsonObject } from '../store/store-context.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { PeriodicRounds } from '../util/periodic-rounds.js';
import type { Failpoints } from '../util/failpoints.js';
import { MigrationRefusedError } from './migration-errors.js';
import type { MigrationPlanner } from './migration-planner.js';
import { MIGRATION_PRIORITY, type MigrationQueue } from './migration-queue.js';
import type { MigrationService } from './migration-service.js';

export interface HostMaintenanceOptions {
  readonly store: Store;
  readonly queue: MigrationQueue;
  readonly service: MigrationService;
  readonly planner: MigrationPlanner;
  /** Lets VMs waiting for a host try again when one returns to service. */
  readonly schedulePending: () => Promise<void>;
  readonly logger: Logger;
  readonly failpoints?: Failpoints | undefined;
  readonly intervalMs?: number | undefined;
}

/** Migrations an evacuation starts for one VM before it reports the VM `failed`. */
const EVACUATION_ATTEMPTS = 2;
/** VM states that are on their way somewhere: the evacuation looks again at its next round. */
const SETTLING = new Set(['prolog', 'boot', 'shutdown', 'saving', 'epilog', 'prolog-resume', 'restore', 'reboot', 'migrating']);
/** Done for good: the host may end its evacuation once every VM is one of these. */
const SETTLED = new Set<MaintenanceVm['status']>(['moved', 'left']);
/** Reported and still on the host: the host stays `evacuating` (shown `blocked`); blocked ones are checked again every round. */
const STUCK = new Set<MaintenanceVm['status']>(['blocked', 'failed']);

/**
 * Host maintenance (issue 16 item 3): `begin` journals the decision and each
 * VM's planned fate in the store before anything moves (the host takes no
 * new VMs from then on), then the evacuation queues the VMs' migrations
 * through the migration queue in the planner's order; each round (and a
 * restarted controller's first) reads where every VM is and records it,
 * and once every VM has moved (or was left, per the flag) the host is
 * `maintenance`. A VM that cannot move is reported with the pre-check's
 * reason and keeps the host `evacuating` — never `maintenance` with a VM
 * silently left on it: it is checked again every round (room may appear, an
 * operator may move, power off or terminate it), and `host enable` gives up.
 */
export class HostMaintenance {
  readonly #rounds: PeriodicRounds;
  /** Steps never overlap: a round and a request's step would queue a VM twice. */
  #chain: Promise<void> = Promise.resolve();

  constructor(private readonly o: HostMaintenanceOptions) {
    this.#rounds = new PeriodicRounds(() => this.advanceAll(), o.intervalMs ?? 1_000, (err) => o.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'maintenance: round failed'));
  }

  start(): void {
    this.#rounds.start();
  }

  stop(): Promise<void> {
    return this.#rounds.stop();
  }

  async begin(host: Host, opts: { poweredOff: 'move' | 'leave'; by: string }): Promise<Host> {
    const vms = await this.#vmsOn(host.id);
    const plan: Record<string, MaintenanceVm> = {};
    for (const vm of vms) plan[vm.id] = firstEntry(vm, opts.poweredOff);
    await this.o.store.maintenance.begin(host.id, opts, plan);
    this.o.logger.info({ hostId: host.id, host: host.name, vms: vms.length, poweredOff: opts.poweredOff }, 'host maintenance begun');
    await this.o.failpoints?.hit('maintenance.begun');
    await this.advance(host.id);
    return this.o.store.hosts.get(host.id);
  }

  /** Back in service: migrations still queued for the evacuation are cancelled, and pending VMs may land here again. */
  async end(host: Host): Promise<Host> {
    for (const q of await this.o.store.migrationQueue.list({ state: 'queued', origin: originOf(host.id) })) await this.o.queue.cancel(q.id).catch(() => undefined);
    const h = await this.o.store.maintenance.end(host.id);
    await this.o.schedulePending();
    return h;
  }

  async advanceAll(): Promise<void> {
    for (const h of await this.o.store.maintenance.listEvacuating()) await this.advance(h.id);
  }

  /** One step of a host's evacuation: queue what is due (planner-ordered), record what happened, finish when nothing moves. */
  advance(hostId: string): Promise<void> {
    const next = this.#chain.then(() => this.#advance(hostId));
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #advance(hostId: string): Promise<void> {
    const { store } = this.o;
    const host = await store.hosts.get(hostId);
    const m = host.maintenance;
    if (m?.state !== 'evacuating') return;
    // Each live prediction measures the guest's dirty rate for about a second: they run side by side, so
    // evacuating N VMs waits one measurement before the first move, not N.
    const due: { vm: Vm; entry: MaintenanceVm; kind: 'live' | 'cold'; prediction: Promise<JsonObject> }[] = [];
    for (const [vmId, entry] of Object.entries(m.vms)) {
      if (SETTLED.has(entry.status)) continue;
      const vm = await findOrUndefined(store.vms.get(vmId));
      if (!vm || vm.state === 'terminated') {
        await store.maintenance.recordVm(hostId, vmId, { ...entry, status: 'left', reason: 'terminated' });
        continue;
      }
      if (entry.status === 'moving' && entry.migrationId !== undefined) {
        await this.#follow(host, vm, entry);
        continue;
      }
      // Adopt the queue entry a crash left unrecorded (queued, not yet written here) — of this maintenance, not of an earlier one of the host.
      const orphan = entry.status === 'failed' ? undefined : await this.#orphan(hostId, vmId, m.since);
      if (orphan) {
        await store.maintenance.recordVm(hostId, vmId, { ...entry, status: 'moving', migrationId: orphan.id });
        continue;
      }
      if (vm.hostId !== hostId) {
        await store.maintenance.recordVm(hostId, vmId, { ...entry, status: 'moved', reason: 'left the host by other means' });
        continue;
      }
      if (SETTLING.has(vm.state)) continue;
      // A migration that failed twice is not tried again (it would likely fail the same way): reported until the VM moves by other means.
      if (entry.status === 'failed') continue;
      const kind = vm.state === 'running' ? 'live' : COLD_MIGRATION_STATES.includes(vm.state) ? 'cold' : undefined;
      if (kind === undefined) {
        await this.#block(hostId, vmId, entry, `VM is ${vm.state}: nothing can move it`);
        continue;
      }
      if (kind === 'cold' && m.poweredOff === 'leave') {
        await store.maintenance.recordVm(hostId, vmId, { ...entry, action: 'leave', status: 'left', reason: `${vm.state}, left on the host (--powered-off leave)` });
        continue;
      }
      try {
        const plan = await this.o.service.plan(vm.id, {});
        const prediction = this.o.planner.predict(plan);
        // Observed here so that a throw later in this loop leaves no unhandled rejection; awaited below.
        prediction.catch(() => undefined);
        due.push({ vm, entry, kind, prediction });
      } catch (err) {
        if (!(err instanceof MigrationRefusedError)) throw err;
        await this.#block(hostId, vmId, { ...entry, action: kind }, err.message);
      }
    }
    const predicted = await Promise.all(due.map(async (d) => ({ ...d, prediction: await d.prediction })));
    const ordered = evacuationOrder(predicted.map((d) => ({ ...d, id: d.vm.id, predictedTotalMs: num(d.prediction.totalMs), converges: d.prediction.converges !== false })));
    for (const d of ordered) {
      try {
        const q = await this.o.queue.enqueue(d.vm.id, { origin: originOf(hostId), priority: MIGRATION_PRIORITY.maintenance, prediction: d.prediction });
        await store.maintenance.recordVm(hostId, d.vm.id, { ...d.entry, action: d.kind, status: 'moving', migrationId: q.id, attempts: (d.entry.attempts ?? 0) + 1 });
        await this.o.failpoints?.hit('maintenance.queued');
      } catch (err) {
        if (!(err instanceof MigrationRefusedError)) throw err;
        await this.#block(hostId, d.vm.id, { ...d.entry, action: d.kind }, err.message);
      }
    }
    const now = (await store.hosts.get(hostId)).maintenance;
    if (now?.state === 'evacuating' && Object.values(now.vms).every((e) => SETTLED.has(e.status))) {
      await store.maintenance.finish(hostId);
      this.o.logger.info({ hostId, host: host.name }, 'host in maintenance: evacuation finished');
    }
  }

  /** Records a VM that cannot move; one that stays blocked for the same reason is not written (and announced) again every round. */
  async #block(hostId: string, vmId: string, entry: MaintenanceVm, reason: string): Promise<void> {
    if (entry.status === 'blocked' && entry.reason === reason) return;
    await this.o.store.maintenance.recordVm(hostId, vmId, { ...entry, status: 'blocked', reason });
    this.o.logger.info({ hostId, vmId, reason }, 'maintenance: VM cannot move');
  }

  /** Where the VM's evacuation migration is: recorded when it ended. */
  async #follow(host: Host, vm: Vm, entry: MaintenanceVm): Promise<void> {
    const { store } = this.o;
    const id = entry.migrationId!;
    const q = await findOrUndefined(store.migrationQueue.get(id));
    if (q?.state === 'refused' || q?.state === 'cancelled') {
      await store.maintenance.recordVm(host.id, vm.id, { ...entry, status: 'blocked', reason: q.reason ?? q.state });
      return;
    }
    const mig = await findOrUndefined(store.migrations.get(id));
    if (!mig || mig.state === 'running') return;
    if (mig.state === 'succeeded') {
      const to = await findOrUndefined(store.hosts.get(mig.destHostId));
      await store.maintenance.recordVm(host.id, vm.id, { ...entry, status: 'moved', to: to?.name ?? mig.destHostId });
    } else if ((entry.attempts ?? 1) < EVACUATION_ATTEMPTS && vm.hostId === host.id) {
      // Rolled back, the VM still on the host: a controller restart or a passing fault ends a migration this way; the next round queues it again.
      const { migrationId: _, ...rest } = entry;
      await store.maintenance.recordVm(host.id, vm.id, { ...rest, status: 'queued', reason: `attempt ${entry.attempts ?? 1} failed (${mig.reason ?? mig.state}): trying again` });
      this.o.logger.info({ hostId: host.id, vmId: vm.id, migrationId: id, reason: mig.reason }, 'maintenance: migration failed, trying once more');
    } else {
      await store.maintenance.recordVm(host.id, vm.id, { ...entry, status: 'failed', reason: mig.reason ?? mig.state });
    }
  }

  /** The queue entry of this maintenance a crash left unrecorded: waiting, or started and not ended by a failure (which the entry's attempts count). */
  async #orphan(hostId: string, vmId: string, since: string): Promise<QueuedMigration | undefined> {
    const { store } = this.o;
    for (const q of await store.migrationQueue.list({ vmId, origin: originOf(hostId) })) {
      if (q.queuedAt < since || (q.state !== 'queued' && q.state !== 'started')) continue;
      const mig = q.state === 'started' ? await findOrUndefined(store.migrations.get(q.id)) : undefined;
      if (mig === undefined || mig.state === 'running' || mig.state === 'succeeded') return q;
    }
    return undefined;
  }

  async #vmsOn(hostId: string): Promise<Vm[]> {
    return (await this.o.store.vms.list({ hostId })).filter((v) => v.state !== 'terminated');
  }
}

/** Whether a host's evacuation has nothing on its way but VMs that cannot move: it is stuck until they can, or the host is enabled. */
export function evacuationBlocked(vms: Readonly<Record<string, MaintenanceVm>>): boolean {
  const all = Object.values(vms);
  return all.some((e) => STUCK.has(e.status)) && all.every((e) => STUCK.has(e.status) || SETTLED.has(e.status));
}

export function originOf(hostId: string): string {
  return `maintenance:${hostId}`;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/** The fate journaled for a VM when the maintenance begins. */
function firstEntry(vm: Vm, poweredOff: 'move' | 'leave'): MaintenanceVm {
  const atRest = COLD_MIGRATION_STATES.includes(vm.state);
  return { name: vm.name, action: vm.state === 'running' ? 'live' : atRest ? (poweredOff === 'move' ? 'cold' : 'leave') : 'live', status: 'queued' };
}
