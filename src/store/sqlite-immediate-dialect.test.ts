import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from './open-store.js';
import { inBackground } from './store-priority.js';

test('SQLite: a request\'s query goes before background queries that queued earlier; every query still runs, a transaction whole', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-sqlite-queue-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  try {
    const { user } = await store.users.create({ name: 'u', role: 'admin' });
    let open!: () => void;
    const gate = new Promise<void>((r) => { open = r; });
    const order: string[] = [];
    // A transaction holds the one connection until the gate opens: everything else queues meanwhile.
    const held = store.db.transaction().execute(async (trx) => {
      await trx.selectFrom('users').select('id').execute();
      await gate;
      await trx.updateTable('users').set({ name: 'u2' }).where('id', '=', user.id).execute();
      order.push('transaction');
    });
    await new Promise((r) => setImmediate(r));
    const background = [1, 2, 3].map((i) => inBackground(async () => {
      await store.users.get(user.id);
      order.push(`background ${i}`);
    }));
    await new Promise((r) => setImmediate(r));
    const request = store.users.get(user.id).then((u) => {
      order.push('request');
      return u;
    });
    open();
    await Promise.all([held, ...background, request]);
    assert.deepEqual(order, ['transaction', 'request', 'background 1', 'background 2', 'background 3']);
    assert.equal((await request).name, 'u2', 'the request waited for the transaction\'s commit');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
