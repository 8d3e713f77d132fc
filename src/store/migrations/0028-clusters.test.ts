import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrationProvider } from './migration-provider.js';
import { openStore } from '../open-store.js';

test('0028 puts every host that exists already into the cluster `default`, which it makes; networks and templates stay unbound', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nubo-0028-'));
  const path = join(dir, 'nubo.db');
  try {
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(path) }) });
    const migrator = new Migrator({ db, provider: migrationProvider('sqlite'), migrationTableName: 'schema_migration', migrationLockTableName: 'schema_migration_lock' });
    assert.equal((await migrator.migrateTo('0022-migration-queue-forced')).error, undefined);
    const raw = new BetterSqlite3(path);
    for (const name of ['old-1', 'old-2']) {
      raw.prepare(`insert into hosts (id, name, agent_url, agent_token, state, cpu_model, cpu_flags, total_cpus, total_memory_mib, total_disk_mib, labels, created_at)
                   values (?, ?, 'http://198.18.1.1:7481', 't', 'enabled', 'qemu64', '[]', 4, 4096, 10000, '{}', '2026-11-01T00:00:00.000Z')`).run(`id-${name}`, name);
    }
    raw.prepare(`insert into networks (id, name, cidr, gateway, dns, vlan, created_at, bridge) values ('n1', 'lab', '198.18.120.0/24', null, '[]', null, '2026-11-01T00:00:00.000Z', 'br0')`).run();
    raw.close();
    await db.destroy();
    const store = await openStore({ kind: 'sqlite', path });
    try {
      assert.deepEqual((await store.clusters.list()).map((c) => c.name), ['default']);
      assert.deepEqual((await store.hosts.list()).map((h) => [h.name, h.cluster]), [['old-1', 'default'], ['old-2', 'default']]);
      assert.equal((await store.networks.get('n1')).cluster, null);
      assert.deepEqual((await store.clusters.detail('default')).hosts, ['old-1', 'old-2']);
      // A host registered after the upgrade lands in default too.
      const h = await store.hosts.register({ name: 'new-1', agentUrl: 'http://198.18.1.3:7481', agentToken: 't', totalCpus: 1, totalMemoryMib: 1, totalDiskMib: 1 });
      assert.equal(h.cluster, 'default');
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
