import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interleaved } from './interleaved.js';

test('alternates which side goes first and pairs each round', async () => {
  const order: string[] = [];
  const pairs = await interleaved(3, async (r) => (order.push(`raw${r}`), r), async (r) => (order.push(`nubo${r}`), 10 + r));
  assert.deepEqual(order, ['raw0', 'nubo0', 'nubo1', 'raw1', 'raw2', 'nubo2']);
  assert.deepEqual(pairs, [{ raw: 0, nubo: 10 }, { raw: 1, nubo: 11 }, { raw: 2, nubo: 12 }]);
});
