import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FENCING_STEPS, haStep, hostReturn, type HaHostFacts } from './ha-step.js';

const T = { suspectGraceMs: 1_000, fenceRetryMs: 5_000 };
const base: HaHostFacts = { hostState: 'error', method: 'lab', fencing: 'ok', suspectedAt: undefined, fencingAt: undefined, fenceInFlight: false, openRestarts: 0 };

test('a silent host with a fence method is suspected; with `none`, or heartbeating, it is not', () => {
  assert.equal(haStep(base, 0, T).kind, 'suspect');
  assert.equal(haStep({ ...base, method: 'none' }, 0, T).kind, 'none');
  assert.equal(haStep({ ...base, hostState: 'enabled' }, 0, T).kind, 'none');
});

test('a suspected host is fenced only after the grace, and cleared when it heartbeats before that', () => {
  const s = { ...base, fencing: 'suspected' as const, suspectedAt: 10_000 };
  assert.equal(haStep(s, 10_500, T).kind, 'none');
  assert.equal(haStep(s, 11_000, T).kind, 'fence');
  assert.equal(haStep({ ...s, hostState: 'enabled' }, 11_000, T).kind, 'clear');
  assert.equal(haStep({ ...s, method: 'none' }, 99_000, T).kind, 'none');
});

test('fencing is retried after a failure or a restart, never while an attempt runs, and never cleared by a heartbeat', () => {
  const f = { ...base, fencing: 'fencing' as const, fencingAt: 20_000 };
  assert.equal(haStep({ ...f, fenceInFlight: true }, 99_000, T).kind, 'none');
  assert.equal(haStep(f, 21_000, T).kind, 'none');
  assert.equal(haStep(f, 25_000, T).kind, 'fence');
  assert.equal(haStep({ ...f, fencingAt: undefined }, 0, T).kind, 'fence');
  assert.equal(haStep({ ...f, hostState: 'enabled' }, 25_000, T).kind, 'fence');
});

test('fenced → plan; recovering → restart while some are open, then finish; recovered rests', () => {
  assert.equal(haStep({ ...base, fencing: 'fenced' }, 0, T).kind, 'plan');
  assert.equal(haStep({ ...base, fencing: 'recovering', openRestarts: 2 }, 0, T).kind, 'restart');
  assert.equal(haStep({ ...base, fencing: 'recovering', openRestarts: 0 }, 0, T).kind, 'finish');
  assert.equal(haStep({ ...base, fencing: 'recovered' }, 0, T).kind, 'none');
  assert.equal(haStep({ ...base, fencing: 'recovered', hostState: 'enabled' }, 0, T).kind, 'none');
});

test('a returning host: enabled when never fenced, cleaned first when recovered, held while fencing or recovering', () => {
  const got = Object.fromEntries(FENCING_STEPS.map((s) => [s, hostReturn(s)]));
  assert.deepEqual(got, { ok: 'enable', suspected: 'enable', fencing: 'hold', fenced: 'hold', recovering: 'hold', recovered: 'clean-then-enable' });
});
