import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpStatusOf } from '../http/http-status-of.js';
import { AgentConflictError } from './agent-conflict-error.js';

test('one conflict error for the agent: its own code (a 409), the reason in its details, the message users saw before', () => {
  const vm = new AgentConflictError({ vmId: 'web-1' }, 'being-copied', 'its files are being copied to another host (cold migration)');
  assert.equal(vm.code, 'AGENT_VM_CONFLICT');
  assert.equal(httpStatusOf(vm.code), 409);
  assert.equal(vm.message, 'VM web-1: its files are being copied to another host (cold migration)');
  assert.deepEqual(vm.toJSON(), { code: 'AGENT_VM_CONFLICT', message: vm.message, details: { vmId: 'web-1', reason: 'being-copied' } });

  const volume = new AgentConflictError({ volumeId: 'scratch' }, 'in-use', 'it is attached to VM web-1');
  assert.equal(volume.message, 'volume scratch: it is attached to VM web-1');
  assert.deepEqual(volume.details, { volumeId: 'scratch', reason: 'in-use' });
});
