import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { AgentClient } from '../client/agent-client.js';
import { CONSOLE_LOG_MAX_BYTES } from '../core/console-log.js';
import { Failpoints } from '../util/failpoints.js';
import { FailpointError } from '../util/failpoint-error.js';
import { carryConsoleLog } from './carry-console-log.js';

const logger = pino({ level: 'silent' });

/** The two agents of a migration as the carry uses them: what the source serves, what the destination was handed. */
function ends(source: () => Promise<string>): { e: { src: AgentClient; dst: AgentClient; id: string }; asked: unknown[]; put: [string, string][] } {
  const asked: unknown[] = [];
  const put: [string, string][] = [];
  const src = { consoleLog: async (_id: string, o: unknown) => { asked.push(o); return source(); } } as unknown as AgentClient;
  const dst = { putEarlierConsole: async (id: string, log: string) => void put.push([id, log]) } as unknown as AgentClient;
  return { e: { src, dst, id: 'vm-1' }, asked, put };
}

test('carryConsoleLog: the source\'s whole log, up to its cap, is handed to the destination; an empty one is not', async () => {
  const full = ends(async () => 'NUBO-READY vm-1\r\n');
  await carryConsoleLog(full.e, logger, 'm-1');
  assert.deepEqual(full.put, [['vm-1', 'NUBO-READY vm-1\r\n']]);
  assert.equal((full.asked[0] as { bytes: number }).bytes, CONSOLE_LOG_MAX_BYTES);
  const empty = ends(async () => '');
  await carryConsoleLog(empty.e, logger, 'm-1');
  assert.deepEqual(empty.put, []);
});

test('carryConsoleLog: best effort: a source that fails, or the failpoint, never fails the caller and hands nothing over', async () => {
  const failing = ends(async () => { throw new Error('source away'); });
  await carryConsoleLog(failing.e, logger, 'm-1');
  assert.deepEqual(failing.put, []);
  const fp = new Failpoints();
  fp.arm('migration.console-carry', () => { throw new FailpointError('migration.console-carry'); });
  const skipped = ends(async () => 'lines\r\n');
  await carryConsoleLog(skipped.e, logger, 'm-1', fp);
  assert.deepEqual(skipped.asked, [], 'the failpoint comes before the source is asked');
  assert.deepEqual(skipped.put, []);
});
