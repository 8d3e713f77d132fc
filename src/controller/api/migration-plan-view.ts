import type { MigrationView } from '../../contract/migration-schemas.js';
import { predictionError } from '../../core/migration/link-bandwidth.js';
import type { Store } from '../../store/open-store.js';
import type { MigrationRecord } from '../../store/repositories/migrations-repository.js';
import type { QueuedMigration } from '../../store/repositories/migration-queue-repository.js';
import { findOrUndefined } from '../../store/find-or-undefined.js';

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function err(predicted: unknown, actual: number | null): number | null {
  const p = num(predicted);
  if (p === null || actual === null) return null;
  const e = predictionError(p, actual);
  return e === null ? null : Math.round(e * 1000) / 1000;
}

/** A migration's view with its queue facts and, once it ended, its prediction next to what happened. */
export async function withPlan(store: Store, m: MigrationRecord, view: MigrationView): Promise<MigrationView> {
  const q = await findOrUndefined(store.migrationQueue.get(m.id));
  if (!q) return view;
  const base = { ...view, priority: q.priority, queuedAt: q.queuedAt, origin: q.origin, forced: q.forced, prediction: q.prediction };
  if (m.state !== 'succeeded') return base;
  const actual = { totalMs: num(m.stats.totalTimeMs), downtimeMs: num(m.stats.downtimeMs) };
  return { ...base, actual, predictionError: { totalMs: err(q.prediction?.totalMs, actual.totalMs), downtimeMs: err(q.prediction?.downtimeMs, actual.downtimeMs) } };
}

/** A queue entry that has not become a migration (waiting, cancelled or refused), in the migrations' shape. */
export async function queuedView(store: Store, q: QueuedMigration): Promise<MigrationView> {
  const vm = await findOrUndefined(store.vms.get(q.vmId));
  const name = async (id: string | null): Promise<string> => (id === null ? '' : (await findOrUndefined(store.hosts.get(id)))?.name ?? id);
  return {
    id: q.id, vm: vm?.name ?? q.vmId, vmId: q.vmId, kind: q.kind, source: await name(q.sourceHostId), destination: await name(q.destHostId ?? q.requestedTo),
    stage: 'queued', state: q.state === 'started' ? 'running' : q.state, reason: q.reason, startedAt: q.queuedAt, finishedAt: q.endedAt,
    stats: {}, policy: { ...q.policy }, journal: [{ stage: 'queued', at: q.queuedAt, data: { priority: q.priority } }],
    priority: q.priority, queuedAt: q.queuedAt, origin: q.origin, forced: q.forced, prediction: q.prediction,
  };
}
