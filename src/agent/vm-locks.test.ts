import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidVmIdError } from '../core/vm-id.js';
import { VmLocks } from './vm-locks.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('calls on one VM run one after the other, calls on two VMs side by side, and a failure does not block the next', async () => {
  const locks = new VmLocks();
  const log: string[] = [];
  let releaseA!: () => void;
  const a1 = locks.run('a', () => new Promise<void>((resolve) => { log.push('a1 start'); releaseA = resolve; }).then(() => { log.push('a1 end'); }));
  const a2 = locks.run('a', async () => { log.push('a2'); throw new Error('a2 failed'); });
  const a3 = locks.run('a', async () => { log.push('a3'); return 3; });
  const b1 = locks.run('b', async () => { log.push('b1'); });
  await b1;
  await tick();
  assert.deepEqual(log, ['a1 start', 'b1'], 'b does not wait for a; a2 waits for a1');
  releaseA();
  await a1;
  await assert.rejects(a2, /a2 failed/);
  assert.equal(await a3, 3);
  assert.deepEqual(log, ['a1 start', 'b1', 'a1 end', 'a2', 'a3']);
});

test('a caller that gave up while queued is not served, with its signal\'s reason', async () => {
  const locks = new VmLocks();
  let release!: () => void;
  const first = locks.run('v', () => new Promise<void>((resolve) => { release = resolve; }));
  const ctl = new AbortController();
  let ran = false;
  const second = locks.run('v', async () => { ran = true; }, ctl.signal);
  ctl.abort(new Error('the client closed the connection'));
  await tick();
  release();
  await first;
  await assert.rejects(second, /the client closed the connection/);
  assert.equal(ran, false);
  // The lock is free again for the next caller.
  assert.equal(await locks.run('v', async () => 'next'), 'next');
});

test('an id that is no VM id is refused before anything runs', async () => {
  const locks = new VmLocks();
  let ran = false;
  await assert.rejects(locks.run('../x', async () => { ran = true; }), InvalidVmIdError);
  assert.equal(ran, false);
});
