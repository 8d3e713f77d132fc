import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evacuationOrder } from './evacuation-order.js';

test('evacuation order: converging live migrations shortest first, then non-converging, then cold; ties keep their order', () => {
  const order = evacuationOrder([
    { id: 'cold-1', kind: 'cold' },
    { id: 'slow', kind: 'live', predictedTotalMs: 9000, converges: true },
    { id: 'stuck', kind: 'live', predictedTotalMs: 100, converges: false },
    { id: 'fast', kind: 'live', predictedTotalMs: 500, converges: true },
    { id: 'fast-too', kind: 'live', predictedTotalMs: 500, converges: true },
    { id: 'unknown', kind: 'live' },
    { id: 'cold-2', kind: 'cold' },
  ]);
  assert.deepEqual(order.map((i) => i.id), ['fast', 'fast-too', 'slow', 'unknown', 'stuck', 'cold-1', 'cold-2']);
});
