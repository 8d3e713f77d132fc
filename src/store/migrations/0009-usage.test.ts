import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrationProvider } from './migration-provider.js';
import { openStore } from '../open-store.js';

test('0009 gives the VMs that exist already their records from their state history', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nubo-0009-'));
  const path = join(dir, 'nubo.db');
  try {
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(path) }) });
    const migrator = new Migrator({ db, provider: migrationProvider('sqlite'), migrationTableName: 'schema_migration', migrationLockTableName: 'schema_migration_lock' });
    const to7 = await migrator.migrateTo('0007-controller-leadership');
    assert.equal(to7.error, undefined);
    const raw = new BetterSqlite3(path);
    const exec = (q: string, ...args: unknown[]) => raw.prepare(q).run(...args);
    exec(`insert into users (id, name, role, token_hash, ssh_keys, created_at) values ('u1', 'ann', 'user', 'h', '[]', '2026-11-01T00:00:00.000Z')`);
    exec(`insert into groups (id, name, created_at) values ('g1', 'dev', '2026-11-01T00:00:00.000Z')`);
    exec(`insert into group_members (group_id, user_id, admin, created_at) values ('g1', 'u1', 0, '2026-11-01T00:00:00.000Z')`);
    const spec = JSON.stringify({ demand: { vcpus: 2, memoryMiB: 256, diskMiB: 40 } });
    for (const [id, state] of [['vm-a', 'running'], ['vm-b', 'terminated']] as const) {
      exec(`insert into vms (id, name, owner_id, template_id, state, state_reason, host_id, spec, operation, reserved_cpus, reserved_memory_mib, reserved_disk_mib, version, created_at, updated_at)
            values (?, ?, 'u1', null, ?, null, null, ?, null, 0, 0, 0, 3, '2026-11-30T00:00:00.000Z', '2026-12-02T00:00:00.000Z')`, id, id, state, spec);
      exec(`insert into vm_history (vm_id, from_state, to_state, action, reason, at) values (?, null, 'pending', 'create', null, '2026-11-30T00:00:00.000Z')`, id);
      exec(`insert into vm_history (vm_id, from_state, to_state, action, reason, at) values (?, 'pending', 'running', 'x', null, '2026-11-30T01:00:00.000Z')`, id);
      if (state === 'terminated') exec(`insert into vm_history (vm_id, from_state, to_state, action, reason, at) values (?, 'running', 'terminated', 'x', null, '2026-12-02T00:00:00.000Z')`, id);
    }
    raw.close();
    await db.destroy();
    const store = await openStore({ kind: 'sqlite', path });
    try {
      const shape = async (vmId: string) => (await store.usage.ofVm(vmId)).map((r) => [r.state, r.startedAt, r.endedAt, r.groupId, r.vcpus, r.memoryMib, r.diskMib]);
      assert.deepEqual(await shape('vm-a'), [
        ['pending', '2026-11-30T00:00:00.000Z', '2026-11-30T01:00:00.000Z', 'g1', 2, 256, 40],
        ['running', '2026-11-30T01:00:00.000Z', null, 'g1', 2, 256, 40],
      ]);
      assert.deepEqual(await shape('vm-b'), [
        ['pending', '2026-11-30T00:00:00.000Z', '2026-11-30T01:00:00.000Z', 'g1', 2, 256, 40],
        ['running', '2026-11-30T01:00:00.000Z', '2026-12-02T00:00:00.000Z', 'g1', 2, 256, 40],
      ]);
      // The running VM's open record goes on from there.
      await store.vms.transition('vm-a', { from: ['running'], to: 'poweroff', action: 'poweroff' });
      assert.deepEqual((await store.usage.ofVm('vm-a')).map((r) => [r.state, r.endedAt === null]), [['pending', false], ['running', false], ['poweroff', true]]);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
