import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../store/open-store.js';
import { NotFoundError } from '../store/store-errors.js';
import { Catalog } from './catalog.js';

// A store whose lookup by id fails for a reason other than "no such row" (a locked or lost database).
const outage = new Error('SQLITE_BUSY: database is locked');
const failingStore = {
  networks: { get: () => Promise.reject(outage), list: () => Promise.resolve([]) },
} as unknown as Store;

test('a store error while looking a network up is that error, not "no such network"', async () => {
  const catalog = new Catalog(failingStore, () => '');
  await assert.rejects(catalog.findNetwork('n1'), (err) => {
    assert.ok(!(err instanceof NotFoundError), `an outage must not read as not-found: ${String(err)}`);
    assert.equal(err, outage);
    return true;
  });
});
