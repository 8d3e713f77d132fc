import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { NotFoundError } from '../store/store-errors.js';
import type { Store } from '../store/open-store.js';
import type { DrsPlanRecord, DrsRepository } from '../store/repositories/drs-repository.js';
import type { DrsPlan } from '../core/drs/drs-plan.js';
import { runDrsMoves } from './drs-run-moves.js';
import { drsMigrationStarter, MIGRATION_PRIORITY, type EnqueueRequest, type MigrationQueue } from './migration-queue.js';

/**
 * DRS moves go through the migration queue: each is requested at DRS's low
 * priority, and the plan waits while the entry waits its turn, follows the
 * migration the queue starts under the same id, and records a refusal or a
 * cancellation in the queue as the move's failure.
 */
function world(queueStates: ({ state: string; reason?: string } | { migration: string; reason?: string })[]) {
  const requests: { vmId: string; req: EnqueueRequest }[] = [];
  const moves: { seq: number; state: string; migrationId?: string | null; message?: string | null }[] = [];
  let polls = 0;
  const step = (): (typeof queueStates)[number] => queueStates[Math.min(polls++, queueStates.length - 1)]!;
  let current: (typeof queueStates)[number] | undefined;
  const store = {
    vms: { get: async (id: string) => ({ id, name: `vm-${id}`, hostId: 'h1', state: 'running' }), list: async () => [] },
    migrations: {
      get: async (id: string) => {
        current = step();
        if ('migration' in current) return { id, state: current.migration, reason: current.reason ?? null };
        throw new NotFoundError('migration', id);
      },
    },
    migrationQueue: { get: async (id: string) => ({ id, state: (current as { state: string }).state, reason: (current as { reason?: string }).reason ?? null }) },
  } as unknown as Store;
  const repo = {
    setMove: async (_plan: string, seq: number, patch: { state: string; migrationId?: string | null; message?: string | null }) => void moves.push({ seq, ...patch }),
    setStandby: async () => undefined,
  } as unknown as DrsRepository;
  const queue = { enqueue: async (vmId: string, req: EnqueueRequest) => (requests.push({ vmId, req }), { id: 'mig-1' }) } as unknown as Pick<MigrationQueue, 'enqueue'>;
  const record = { id: 'plan-1', moves: [{ seq: 0, vmId: 'v1', fromHostId: 'h1', toHostId: 'h2', state: 'planned', migrationId: null, message: null }] } as unknown as DrsPlanRecord;
  const run = () => runDrsMoves({ repo, store, startMigration: drsMigrationStarter(queue), logger: pino({ level: 'silent' }), signal: AbortSignal.timeout(30_000), moveTimeoutMs: 20_000 }, record, { standby: [] } as unknown as DrsPlan);
  return { run, requests, moves };
}

test('a DRS move is queued at a priority below maintenance and a user\'s request, then followed until its migration ends', async () => {
  const w = world([{ state: 'queued' }, { state: 'queued' }, { migration: 'running' }, { migration: 'succeeded' }]);
  const out = await w.run();
  assert.deepEqual(w.requests, [{ vmId: 'v1', req: { to: 'h2', priority: MIGRATION_PRIORITY.drs, origin: 'drs' } }]);
  assert.ok(MIGRATION_PRIORITY.drs < 0 && MIGRATION_PRIORITY.drs < MIGRATION_PRIORITY.maintenance, 'below a request (0) and an evacuation');
  assert.deepEqual(w.moves.map((m) => m.state), ['running', 'running', 'done']);
  assert.equal(w.moves[1]?.migrationId, 'mig-1', 'the queue entry\'s id is the move\'s migration');
  assert.match(out.message, /^1 of 1 move\(s\) done/);
});

test('a DRS move the queue refuses when its turn comes fails with the queue\'s reason (no migration ever ran)', async () => {
  const w = world([{ state: 'queued' }, { state: 'refused', reason: 'no host can take the VM: host h2 has 0 MiB memory free' }]);
  const out = await w.run();
  assert.deepEqual(w.moves.map((m) => m.state), ['running', 'running', 'failed']);
  assert.match(w.moves[2]?.message ?? '', /migration refused: no host can take the VM/);
  assert.match(out.message, /0 of 1 move\(s\) done; 1 failed/);
});

test('a DRS move taken out of the queue (cancelled) fails, naming it', async () => {
  const w = world([{ state: 'cancelled', reason: 'cancelled while queued' }]);
  await w.run();
  assert.match(w.moves.at(-1)?.message ?? '', /migration cancelled: cancelled while queued/);
  assert.equal(w.moves.at(-1)?.state, 'failed');
});
