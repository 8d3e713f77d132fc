import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vmActionSchema } from '../../contract/vm-schemas.js';
import { runCli } from '../cli-test-kit.js';
import { actionCommands, VM_ACTION_COMMANDS } from './vm-action-commands.js';

test('the API\'s actions as the user types them: -hard is --hard, both ways as [--hard]', () => {
  assert.deepEqual(actionCommands(['poweroff', 'poweroff-hard', 'reboot', 'reboot-hard', 'suspend', 'stop', 'terminate', 'terminate-hard']), ['poweroff [--hard]', 'reboot [--hard]', 'suspend', 'stop', 'terminate [--hard]']);
  assert.deepEqual(actionCommands(['recover', 'terminate-hard']), ['recover', 'terminate --hard']);
  assert.deepEqual(actionCommands(['start', 'terminate']), ['start', 'terminate']);
  assert.deepEqual(actionCommands([]), []);
  assert.deepEqual(actionCommands(['frobnicate']), ['frobnicate'], 'one the CLI has no verb for stays as the API says it');
});

test('every API action has a CLI verb, and `nubo vm --help` lists each verb', async () => {
  for (const a of vmActionSchema.options) assert.ok(VM_ACTION_COMMANDS.some((c) => c.verb === a || c.hard?.action === a), `no verb for ${a}`);
  const help = await runCli(['vm', '--help']);
  for (const c of VM_ACTION_COMMANDS) assert.match(help.stdout, new RegExp(`^\\s+${c.verb} \\[options\\] <id>`, 'm'), c.verb);
});
