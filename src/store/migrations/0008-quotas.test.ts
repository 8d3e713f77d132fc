import { test } from 'node:test';
import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, sql } from 'kysely';
import { SqliteImmediateDialect } from '../sqlite-immediate-dialect.js';
import { migrationProvider } from './migration-provider.js';

// 0008 on a store that already has VMs: each one not terminated is charged
// what its placement demand says; a terminated one, and a spec without a
// demand, are charged nothing.
test('0008 charges the VMs there are from their spec\'s demand', async () => {
  const db = new Kysely<unknown>({ dialect: new SqliteImmediateDialect({ database: new BetterSqlite3(':memory:') }) });
  try {
    const migrator = new Migrator({ db, provider: migrationProvider('sqlite'), migrationTableName: 'schema_migration', migrationLockTableName: 'schema_migration_lock' });
    assert.equal((await migrator.migrateTo('0007-controller-leadership')).error, undefined);
    const at = '2026-12-05T00:00:00.000Z';
    await sql`insert into users (id, name, role, token_hash, ssh_keys, created_at) values ('u', 'u', 'user', 'h', '[]', ${at})`.execute(db);
    const vm = async (id: string, state: string, spec: unknown): Promise<void> => {
      await sql`insert into vms (id, name, owner_id, template_id, state, state_reason, host_id, spec, operation, reserved_cpus, reserved_memory_mib, reserved_disk_mib, version, created_at, updated_at)
        values (${id}, ${id}, 'u', null, ${state}, null, null, ${JSON.stringify(spec)}, null, 0, 0, 0, 0, ${at}, ${at})`.execute(db);
    };
    await vm('live', 'running', { demand: { vcpus: 2, memoryMiB: 256, diskMiB: 1024, cpuModel: 'qemu64' } });
    await vm('gone', 'terminated', { demand: { vcpus: 4, memoryMiB: 512, diskMiB: 10, cpuModel: 'qemu64' } });
    await vm('bare', 'pending', {});
    assert.equal((await migrator.migrateToLatest()).error, undefined);
    const rows = await sql<{ id: string; c: number; m: number; d: number }>`select id, charged_vcpus as c, charged_memory_mib as m, charged_disk_mib as d from vms order by id`.execute(db);
    assert.deepEqual(rows.rows.map((r) => [r.id, Number(r.c), Number(r.m), Number(r.d)]), [['bare', 0, 0, 0], ['gone', 0, 0, 0], ['live', 2, 256, 1024]]);
    const empty = await sql<{ n: number }>`select count(*) as n from user_quotas`.execute(db);
    assert.equal(Number(empty.rows[0]?.n), 0, 'no limits: everyone unlimited');
  } finally {
    await db.destroy();
  }
});
