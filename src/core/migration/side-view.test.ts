import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentVmStateSchema, type AgentVmState } from '../../contract/agent-api.js';
import { SIDE_STATES, describeSide, isSideState, type SideState } from './side-view.js';

// Compile-time: the agent's states plus absent are exactly the side states.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _same: Same<AgentVmState | 'absent', SideState> = true;

test('the side states are the agent API states plus absent', () => {
  assert.deepEqual([...SIDE_STATES].sort(), [...agentVmStateSchema.options, 'absent'].sort());
});

test('isSideState and describeSide', () => {
  assert.ok(isSideState('postmigrate'));
  assert.equal(isSideState('shutoff'), false);
  assert.equal(describeSide({ reachable: false }), 'unreachable');
  assert.equal(describeSide({ reachable: true, state: 'inmigrate' }), 'inmigrate');
});
