import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emptyHome, runCli } from '../cli-test-kit.js';

const SCENARIOS = fileURLToPath(new URL('../../../../test/fixtures/haizea/scenarios/', import.meta.url));

test('nubo sim run: an LWF scenario with its own site, as JSON and as text', async () => {
  const json = await runCli(['sim', 'run', '--trace', `${SCENARIOS}preemption.lwf`, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const out = JSON.parse(json.stdout) as { metrics: { preemptions: number; arsAccepted: number; bestEffort: number } };
  assert.equal(out.metrics.preemptions, 1);
  assert.equal(out.metrics.arsAccepted, 1);
  const text = await runCli(['sim', 'run', '--trace', `${SCENARIOS}preemption.lwf`]);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /preemptions: +1/);
  assert.match(text.stdout, /all-best-effort: +\d+ s/);
});

test('nubo sim run: bad input exits 2 naming what is wrong, before simulating anything', async () => {
  const dir = emptyHome();
  const swf = join(dir, 'bad.swf');
  writeFileSync(swf, '1 0 0 10 1 -1 -1 1 60 -1 1 1 -1 -1 1 -1 -1 -1\n1 2 3\n');
  const bad = await runCli(['sim', 'run', '--trace', swf, '--hosts', '4']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /VALIDATION_FAILED.*line 2: expected 18 whitespace-separated fields, found 3/);
  const noSite = await runCli(['sim', 'run', '--trace', swf.replace('bad', 'none')]);
  assert.equal(noSite.code, 2);
  assert.match(noSite.stderr, /BAD_INPUT_FILE.*ENOENT/);
  const cfg = join(dir, 'c.json');
  writeFileSync(cfg, JSON.stringify({ policies: { backfilling: 'eager' } }));
  const badCfg = await runCli(['sim', 'run', '--trace', `${SCENARIOS}wait.lwf`, '--config', cfg]);
  assert.equal(badCfg.code, 2);
  assert.match(badCfg.stderr, /policies\.backfilling: unknown policy "eager"/);
  const hosts = await runCli(['sim', 'run', '--trace', `${SCENARIOS}wait.lwf`, '--hosts', '0']);
  assert.equal(hosts.code, 2);
  assert.match(hosts.stderr, /--hosts/);
});

test('nubo sim run with suspension none: the AR is admitted and the best-effort lease in its way is requeued to start over (or cancelled, by the unsuspendable policy)', async () => {
  const dir = emptyHome();
  const requeue = join(dir, 'requeue.json');
  writeFileSync(requeue, JSON.stringify({ policies: { suspension: 'none' } }));
  const r = await runCli(['sim', 'run', '--trace', `${SCENARIOS}preemption.lwf`, '--config', requeue]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1 ARs accepted, 0 rejected/);
  assert.match(r.stdout, /preemptions: +0/);
  assert.match(r.stdout, /requeued \(not suspendable\): +1/);
  assert.match(r.stdout, /cancelled \(not suspendable\): +0/);
  const cancel = join(dir, 'cancel.json');
  writeFileSync(cancel, JSON.stringify({ policies: { suspension: 'none', unsuspendable: 'cancel' } }));
  const c = await runCli(['sim', 'run', '--trace', `${SCENARIOS}preemption.lwf`, '--config', cancel, '--json']);
  assert.equal(c.code, 0, c.stderr);
  const m = (JSON.parse(c.stdout) as { metrics: { requeues: number; cancelled: number; arsAccepted: number; allBestEffortS: number | null } }).metrics;
  assert.deepEqual([m.arsAccepted, m.requeues, m.cancelled, m.allBestEffortS], [1, 0, 1, null]);
});

