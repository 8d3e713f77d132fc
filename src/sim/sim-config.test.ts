import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../errors/validation-error.js';
import { compileSimConfig } from './sim-config.js';

test('a simulation config: hosts, rates and policies resolved; every bad field named', () => {
  const c = compileSimConfig({ hosts: { count: 3, cpus: 2 }, rates: { suspendMiBps: 50 }, policies: { migration: 'yes' } });
  assert.deepEqual(c.hosts, [{ cpus: 2, memoryMiB: 1024 }, { cpus: 2, memoryMiB: 1024 }, { cpus: 2, memoryMiB: 1024 }]);
  assert.equal(c.rates.suspendMiBps, 50);
  assert.equal(c.policies.migration, 'yes');
  const fields = (raw: unknown): string[] => {
    try {
      compileSimConfig(raw);
    } catch (e) {
      if (e instanceof ValidationError) return e.issues.map((i) => i.field);
      throw e;
    }
    return [];
  };
  assert.deepEqual(fields([]), ['(root)']);
  assert.deepEqual(fields({ hosts: { count: 0, memoryMiB: 'lots' }, extra: 1, policies: 5 }), ['extra', 'hosts.count', 'hosts.memoryMiB', 'policies']);
  assert.deepEqual(fields({ rates: { resumeMiBps: -1 } }), ['rates.resumeMiBps']);
  assert.deepEqual(fields({ policies: { backfilling: 'sometimes' } }), ['policies.backfilling']);
});
