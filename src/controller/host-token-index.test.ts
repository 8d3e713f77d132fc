import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Host } from '../store/repositories/hosts-repository.js';
import { NotFoundError } from '../store/store-errors.js';
import { HostTokenIndex } from './host-token-index.js';

const host = (id: string, agentToken: string): Host => ({ id, name: id, agentToken } as unknown as Host);

test('hosts sharing a token are all found; one registered after the token was indexed only on a reload', async () => {
  const hosts: Host[] = [host('h1', 'shared'), host('h3', 'own')];
  let lists = 0;
  const index = new HostTokenIndex({
    list: async () => { lists++; return [...hosts]; },
    get: async (id) => hosts.find((h) => h.id === id) ?? Promise.reject(new NotFoundError('host', id)),
  });
  assert.deepEqual((await index.find('shared')).map((h) => h.id), ['h1']);
  assert.equal(lists, 1);
  hosts.push(host('h2', 'shared'));
  assert.deepEqual((await index.find('shared')).map((h) => h.id), ['h1'], 'a hit is served from the index');
  assert.equal(lists, 1);
  assert.deepEqual((await index.find('shared', true)).map((h) => h.id), ['h1', 'h2']);
  assert.deepEqual((await index.find('shared')).map((h) => h.id), ['h1', 'h2'], 'the reload refreshed the entry');
  assert.deepEqual(await index.find('unknown'), []);
});
