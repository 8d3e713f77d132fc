import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ConflictError, NotFoundError } from '../store/store-errors.js';
import type { Store } from '../store/open-store.js';
import type { DrsMoveRecord, DrsPlanRecord } from '../store/repositories/drs-repository.js';
import { DrsService } from './drs-service.js';
import { pollUntil } from '../util/deadline.js';

/**
 * A controller restarted while a DRS plan was applied: no move is done twice
 * or left `running`. A move whose migration the crash left unrecorded in the
 * plan is found by its queue entry (VM, origin `drs`, queued after the plan);
 * one whose migration still runs is followed to its end; one never started
 * is dropped; one still queued is taken out of the queue and dropped.
 */
const PLAN_AT = '2026-12-05T10:00:00.000Z';

function world(move: Partial<DrsMoveRecord>, queue: { id: string; vmId: string; origin: string; queuedAt: string; state: string }[], migrations: Record<string, string[]>) {
  const moves: DrsMoveRecord[] = [{ seq: 0, vmId: 'v1', fromHostId: 'h1', toHostId: 'h2', state: 'running', migrationId: null, message: null, ...move }];
  const plan: DrsPlanRecord = { id: 'plan-1', trigger: 'manual', mode: 'balance', state: 'applying', plan: {}, message: null, createdAt: PLAN_AT, finishedAt: null, moves };
  const moveLog: { state: string; migrationId?: string | null | undefined; message?: string | null | undefined }[] = [];
  const cancelled: string[] = [];
  const polls = new Map<string, number>();
  let finished: string | undefined;
  const store = {
    // Enough for the service to build its repository, which the test then replaces.
    db: { withTables: () => ({}) }, dialect: 'sqlite',
    migrationQueue: {
      list: async (f: { vmId?: string; origin?: string }) => queue.filter((q) => q.vmId === f.vmId && q.origin === f.origin),
      cancel: async (id: string) => {
        const q = queue.find((x) => x.id === id);
        if (q?.state !== 'queued') throw new ConflictError('migration', 'state', q?.state ?? 'gone', 'started already');
        cancelled.push(id);
        q.state = 'cancelled';
        return q;
      },
      get: async (id: string) => queue.find((x) => x.id === id) ?? Promise.reject(new NotFoundError('migration', id)),
    },
    migrations: {
      // Each read of a migration takes its next state (the last one stays).
      get: async (id: string) => {
        const states = migrations[id];
        if (states === undefined) throw new NotFoundError('migration', id);
        const n = polls.get(id) ?? 0;
        polls.set(id, n + 1);
        return { id, state: states[Math.min(n, states.length - 1)], reason: null };
      },
    },
  } as unknown as Store;
  const svc = new DrsService({ store, history: {} as never, startMigration: async () => ({ id: 'x' }), cpuOvercommit: 1, logger: pino({ level: 'silent' }), tickMs: 3_600_000 });
  (svc as { repo: unknown }).repo = {
    plans: async (_limit: number, state?: string) => (state === undefined || state === plan.state ? [plan] : []),
    setMove: async (_p: string, _seq: number, patch: { state: string; migrationId?: string | null; message?: string | null }) => {
      moveLog.push(patch);
      moves[0] = { ...moves[0]!, state: patch.state as DrsMoveRecord['state'], ...(patch.migrationId !== undefined ? { migrationId: patch.migrationId } : {}) };
    },
    finishPlan: async (_id: string, state: string) => {
      finished = state;
      (plan as { state: string }).state = state;
      if (moves[0]?.state === 'pending') moves[0] = { ...moves[0], state: 'dropped' };
      return plan;
    },
  };
  return { svc, plan, moveLog, cancelled, finished: () => finished };
}

test('killed between the queue\'s answer and the move\'s record: the entry is found by VM and origin, and its running migration is followed to done', async () => {
  const w = world({}, [
    { id: 'old', vmId: 'v1', origin: 'drs', queuedAt: '2026-12-05T09:00:00.000Z', state: 'started' },
    { id: 'user', vmId: 'v1', origin: 'api', queuedAt: '2026-12-05T10:00:01.000Z', state: 'started' },
    { id: 'm1', vmId: 'v1', origin: 'drs', queuedAt: '2026-12-05T10:00:01.000Z', state: 'started' },
  ], { m1: ['running', 'running', 'running', 'succeeded'] });
  await w.svc.start();
  assert.equal(w.finished(), 'interrupted');
  await pollUntil('the move recorded done', async () => (w.plan.moves[0]?.state === 'done' ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
  await w.svc.stop();
  assert.deepEqual(w.moveLog.map((m) => [m.state, m.migrationId]), [['running', 'm1'], ['done', undefined]]);
  assert.equal(w.plan.moves[0]?.migrationId, 'm1', 'this plan\'s entry, not an older DRS one nor a user\'s');
  assert.deepEqual(w.cancelled, [], 'a started migration is not taken out of the queue');
});

test('a move whose migration was still queued at the restart is taken out of the queue and dropped; one never requested is dropped', async () => {
  const queued = world({ migrationId: 'm2' }, [{ id: 'm2', vmId: 'v1', origin: 'drs', queuedAt: '2026-12-05T10:00:01.000Z', state: 'queued' }], {});
  await queued.svc.start();
  await queued.svc.stop();
  assert.deepEqual(queued.cancelled, ['m2']);
  assert.deepEqual(queued.moveLog.map((m) => [m.state, m.message]), [['dropped', 'not started before the restart']]);

  const never = world({}, [], {});
  await never.svc.start();
  await never.svc.stop();
  assert.deepEqual(never.moveLog.map((m) => [m.state, m.migrationId]), [['dropped', null]]);
});

test('a move whose migration ended before the restart is recorded as it ended', async () => {
  const ok = world({ migrationId: 'm3' }, [{ id: 'm3', vmId: 'v1', origin: 'drs', queuedAt: '2026-12-05T10:00:01.000Z', state: 'started' }], { m3: ['succeeded'] });
  await ok.svc.start();
  await ok.svc.stop();
  assert.deepEqual(ok.moveLog.map((m) => m.state), ['done']);
  const bad = world({ migrationId: 'm4' }, [{ id: 'm4', vmId: 'v1', origin: 'drs', queuedAt: '2026-12-05T10:00:01.000Z', state: 'started' }], { m4: ['aborted'] });
  await bad.svc.start();
  await bad.svc.stop();
  assert.deepEqual(bad.moveLog.map((m) => [m.state, m.message]), [['failed', 'migration aborted at the restart']]);
});

test('a move an earlier restart was following when the controller died again is followed once more (plan already interrupted)', async () => {
  const w = world({ migrationId: 'm5' }, [{ id: 'm5', vmId: 'v1', origin: 'drs', queuedAt: '2026-12-05T10:00:01.000Z', state: 'started' }], { m5: ['running', 'failed'] });
  (w.plan as { state: string }).state = 'interrupted';
  await w.svc.start();
  await pollUntil('the move recorded failed', async () => (w.plan.moves[0]?.state === 'failed' ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
  await w.svc.stop();
  assert.deepEqual(w.moveLog.map((m) => m.state), ['failed']);
});
