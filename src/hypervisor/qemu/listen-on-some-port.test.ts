import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listenOnSomePort, PICK_PORT_MAX, PICK_PORT_MIN } from './listen-on-some-port.js';
import { QmpError } from './qmp-error.js';

const inUse = (): QmpError => new QmpError('nbd-server-start', 'GenericError', 'Failed to find an available port: Address already in use');

test('a given port is used as it is, and a clash with it is the caller\'s error', async () => {
  const tried: number[] = [];
  assert.equal(await listenOnSomePort(5000, async (p) => void tried.push(p)), 5000);
  assert.deepEqual(tried, [5000]);
  await assert.rejects(listenOnSomePort(5000, () => Promise.reject(inUse())), /Address already in use/);
});

test('without a port: random high ports until one is free', async () => {
  const tried: number[] = [];
  const port = await listenOnSomePort(undefined, async (p) => {
    tried.push(p);
    if (tried.length < 3) throw inUse();
  });
  assert.equal(tried.length, 3);
  assert.equal(port, tried[2]);
  for (const p of tried) assert.ok(p >= PICK_PORT_MIN && p < PICK_PORT_MAX);
});

test('other errors end the search at once; a full range gives up after a bounded number of tries', async () => {
  let calls = 0;
  await assert.rejects(listenOnSomePort(undefined, () => {
    calls++;
    return Promise.reject(new QmpError('nbd-server-start', 'GenericError', 'NBD server already running'));
  }), /already running/);
  assert.equal(calls, 1);
  calls = 0;
  await assert.rejects(listenOnSomePort(undefined, () => {
    calls++;
    return Promise.reject(inUse());
  }), /Address already in use/);
  assert.equal(calls, 20);
});
