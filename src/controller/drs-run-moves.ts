import type { Logger } from 'pino';
import type { DrsPlan } from '../core/drs/drs-plan.js';
import type { Store } from '../store/open-store.js';
import type { DrsPlanRecord, DrsRepository } from '../store/repositories/drs-repository.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { Failpoints } from '../util/failpoints.js';
import { pollUntil } from '../util/deadline.js';
import { findOrUndefined } from '../store/find-or-undefined.js';

/** Requests one live migration of `vmId` to `toHostId` and returns its id: the migration queue's entry, whose id its migration record takes when it starts. */
export type StartMigration = (vmId: string, toHostId: string) => Promise<{ readonly id: string }>;

export const DRS_DROPPED_ON_RESTART = 'controller restarted while the plan was applied: the moves not yet started were dropped (their metrics are stale); plan again';

export interface RunDrsMovesDeps {
  readonly repo: DrsRepository;
  readonly store: Store;
  readonly startMigration: StartMigration;
  readonly failpoints?: Failpoints | undefined;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly moveTimeoutMs: number;
}

/**
 * Runs a journaled plan's moves one at a time. Each move is marked `running`
 * before its migration starts and gets the migration's id once it has one; a
 * move whose VM has since left its source host or stopped running is dropped,
 * one the migration service refuses or that fails is recorded as failed and
 * the next one is tried. Then consolidation's emptied hosts go on standby —
 * each only if it really holds no VM now.
 */
export async function runDrsMoves(d: RunDrsMovesDeps, record: DrsPlanRecord, plan: DrsPlan): Promise<{ state: 'done' | 'interrupted'; message: string }> {
  let done = 0, failed = 0, dropped = 0;
  for (const move of record.moves) {
    if (d.signal.aborted) return { state: 'interrupted', message: 'the controller stopped while the plan was applied' };
    await d.failpoints?.hit('drs.before-move');
    const vm = await d.store.vms.get(move.vmId).catch(() => undefined);
    if (vm === undefined || vm.hostId !== move.fromHostId || vm.state !== 'running') {
      await d.repo.setMove(record.id, move.seq, { state: 'dropped', message: vm === undefined ? 'the VM is gone' : `the VM changed since the plan (${vm.state} on ${vm.hostId ?? 'no host'})` });
      dropped++;
      continue;
    }
    await d.repo.setMove(record.id, move.seq, { state: 'running' });
    await d.failpoints?.hit('drs.move-running');
    let migrationId: string;
    try {
      migrationId = (await d.startMigration(move.vmId, move.toHostId)).id;
    } catch (err) {
      await d.repo.setMove(record.id, move.seq, { state: 'failed', message: `not started: ${errorMessage(err)}` });
      failed++;
      continue;
    }
    await d.repo.setMove(record.id, move.seq, { state: 'running', migrationId });
    await d.failpoints?.hit('drs.migration-started');
    const end = await pollUntil(`DRS move of VM ${vm.name}`, () => migrationEnd(d.store, migrationId), { timeoutMs: d.moveTimeoutMs, intervalMs: 250, signal: d.signal }).catch((err: unknown) => err instanceof Error ? err : new Error(String(err)));
    if (end instanceof Error) {
      // The migration goes on under its own journal; the plan stops waiting for it.
      if (d.signal.aborted) return { state: 'interrupted', message: 'the controller stopped while the plan was applied' };
      await d.repo.setMove(record.id, move.seq, { state: 'failed', message: errorMessage(end) });
      failed++;
      continue;
    }
    const ok = end.state === 'succeeded';
    await d.repo.setMove(record.id, move.seq, { state: ok ? 'done' : 'failed', message: ok ? null : `migration ${end.state}: ${end.reason ?? ''}` });
    if (ok) done++;
    else failed++;
    d.logger.info({ planId: record.id, vmId: move.vmId, migrationId, state: end.state }, 'DRS move ended');
  }
  const standby: string[] = [];
  for (const s of plan.standby) {
    const left = (await d.store.vms.list({ hostId: s.hostId })).filter((v) => v.state !== 'terminated');
    if (left.length > 0) {
      d.logger.info({ planId: record.id, hostId: s.hostId, vms: left.length }, 'host not put on standby: it still holds VMs');
      continue;
    }
    await d.repo.setStandby(s.hostId, new Date().toISOString(), `DRS plan ${record.id}: ${s.reason}`);
    standby.push(s.hostName);
  }
  const parts = [`${done} of ${record.moves.length} move(s) done`];
  if (failed > 0) parts.push(`${failed} failed`);
  if (dropped > 0) parts.push(`${dropped} dropped`);
  if (plan.standby.length > 0) parts.push(standby.length > 0 ? `on standby: ${standby.join(', ')}` : 'no host put on standby');
  return { state: 'done', message: parts.join('; ') };
}

/**
 * How a requested move ended, or undefined while it waits in the queue or
 * runs. The record is looked at first: the queue makes it before marking its
 * entry started.
 */
export async function migrationEnd(store: Pick<Store, 'migrations' | 'migrationQueue'>, id: string): Promise<{ readonly state: string; readonly reason: string | null } | undefined> {
  const m = await findOrUndefined(store.migrations.get(id));
  if (m !== undefined) return m.state === 'running' ? undefined : m;
  const q = await findOrUndefined(store.migrationQueue.get(id));
  if (q === undefined) return { state: 'failed', reason: 'neither queued nor started: its queue entry is gone' };
  // Its turn came and a check said no, or someone took it out of the queue.
  return q.state === 'refused' || q.state === 'cancelled' ? { state: q.state, reason: q.reason } : undefined;
}
