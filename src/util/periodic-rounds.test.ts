import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeriodicRounds } from './periodic-rounds.js';

test('a round runs at start and then each interval; one due while the last runs is skipped, not queued', async () => {
  let started = 0;
  let release!: () => void;
  const rounds = new PeriodicRounds(async () => {
    started++;
    await new Promise<void>((resolve) => { release = resolve; });
  }, 10, () => assert.fail('no round fails'));
  rounds.start();
  assert.equal(started, 1, 'the first round runs at once');
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(started, 1, 'five intervals passed while the round ran: none queued');
  release();
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.ok(started >= 2, 'rounds go on once it ended');
  const stopping = rounds.stop();
  release();
  await stopping;
  const after = started;
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.equal(started, after, 'no round after stop');
});

test('a failed round is reported and the next one runs', async () => {
  const errors: unknown[] = [];
  let n = 0;
  const rounds = new PeriodicRounds(async () => {
    n++;
    if (n === 1) throw new Error('boom');
  }, 10, (err) => errors.push(err));
  rounds.start();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await rounds.stop();
  assert.equal((errors[0] as Error | undefined)?.message, 'boom');
  assert.equal(errors.length, 1);
  assert.ok(n >= 2, 'the loop went on after the failure');
});
