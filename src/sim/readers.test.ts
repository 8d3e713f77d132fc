import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../errors/validation-error.js';
import { readInjections } from './read-injections.js';
import { parseLwfTime, readLwf } from './read-lwf.js';
import { readSwf } from './read-swf.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/haizea/', import.meta.url));
const fieldOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return `${e.field}: ${e.issues[0]!.message}`;
    throw e;
  }
  throw new Error('no error');
};

test('SWF: the 30-day Blue Horizon trace reads as Haizea read it (cancelled jobs skipped, real duration = min(run, requested))', () => {
  const leases = readSwf(readFileSync(`${FIXTURES}blue-30days.swf`, 'utf8'));
  // 5,545 jobs, of which 437 have a run time < 0 (cancelled): counted with awk on the file.
  assert.equal(leases.length, 5545 - 437);
  const first = leases[0]!;
  // "13 0 22 43 32 0.03 -1 4 64800 …": submit 0, run 43, 4 requested procs, 64800 s requested.
  assert.deepEqual(first, { id: 'swf-13', kind: 'be', submit: 0, duration: 64800, realDuration: 43, vms: 4, shape: { cpus: 1, memoryMiB: 1024 }, preemptible: true, owner: 'user-96' });
  assert.ok(leases.every((l) => l.realDuration! <= l.duration));
});

test('SWF: a malformed line is an error naming the line', () => {
  const good = '1 0 0 10 1 -1 -1 1 60 -1 1 1 -1 -1 1 -1 -1 -1';
  assert.equal(fieldOf(() => readSwf(`; header\n${good}\n1 2 3\n`)), 'line 3: expected 18 whitespace-separated fields, found 3');
  assert.equal(fieldOf(() => readSwf(`${good}\n${good.replace(/^1 0/, '1 x')}`)), 'line 2: field 2 (submit time) is not a number: "x"');
  assert.equal(fieldOf(() => readSwf(good.replace(' 1 60 ', ' 0 60 '))), 'line 1: field 8 (requested processors) must be a whole number ≥ 1, got 0');
});

test('injections: the paper\'s one-line ARs read with their image, and a malformed line is an error naming the line', () => {
  const ars = readInjections(readFileSync(`${FIXTURES}injected-30days/work_10-dur_3h-size_2medium.lwf`, 'utf8'));
  assert.equal(ars.length, 94);
  assert.deepEqual(ars[1], { id: 'ar-2', kind: 'ar', submit: 0, start: 30571, duration: 9470, realDuration: 9470, vms: 48, shape: { cpus: 1, memoryMiB: 1024 }, image: { id: 'NONE.img', sizeMiB: 600 }, preemptible: false });
  assert.equal(fieldOf(() => readInjections("0 10 5 5 1 1 1024 0 'a.img' 600\n0 10 5 5 1 1 1024 0 a.img 600")), 'line 2: expected "submit start duration realduration numnodes cpu memory disk \'image\' imagesize", got "0 10 5 5 1 1 1024 0 a.img 600"');
  assert.equal(fieldOf(() => readInjections("20 10 5 5 1 1 1024 0 'a.img' 600")), 'line 1: start 10 is before submit 20');
  assert.equal(fieldOf(() => readInjections("0 10 5 9 1 1 1024 0 'a.img' 600")), 'line 1: realduration 9 exceeds duration 5');
  assert.equal(fieldOf(() => readInjections("0 10 5 5 1 1 -3 0 'a.img' 600")), 'line 1: memory must be a number ≥ 0, got "-3"');
});

test('LWF: the site, the three kinds of start, real durations and images', () => {
  const w = readLwf(readFileSync(`${FIXTURES}scenarios/preemption_prematureend.lwf`, 'utf8'));
  assert.equal(w.hosts?.length, 4);
  assert.deepEqual(w.hosts?.[0], { cpus: 1, memoryMiB: 1024 });
  assert.deepEqual(w.leases[0], { id: '1', kind: 'be', submit: 0, duration: 3600, realDuration: 2700, vms: 1, shape: { cpus: 1, memoryMiB: 1024 }, image: { id: 'foobar1.img', sizeMiB: 1024 }, preemptible: true });
  assert.equal(w.leases[1]!.kind, 'ar');
  assert.equal(w.leases[1]!.start, 1800);
  const now = readLwf(`<lease-workload><site><nodes><node-set numnodes="1"><res type="CPU" amount="200"/><res type="Memory" amount="512"/></node-set></nodes></site>
    <lease-requests><lease-request arrival="25:00:01.50"><lease id="x" preemptible="false"><nodes><node-set numnodes="1"><res type="CPU" amount="100"/><res type="Memory" amount="256"/></node-set></nodes><start><now/></start><duration time="00:10:00"/><software><none/></software></lease></lease-request></lease-requests></lease-workload>`);
  assert.deepEqual(now.hosts, [{ cpus: 2, memoryMiB: 512 }]);
  assert.deepEqual(now.leases[0], { id: 'x', kind: 'immediate', submit: 90001.5, duration: 600, vms: 1, shape: { cpus: 1, memoryMiB: 256 }, preemptible: false });
  assert.equal(parseLwfTime('01:02:03.25'), 3723.25);
  assert.equal(parseLwfTime('1:99:00'), undefined);
});

test('LWF: bad input is an error naming the element and its line', () => {
  assert.match(fieldOf(() => readLwf('<lease-workload><unclosed></lease-workload>')), /^document: not well-formed XML/);
  assert.equal(fieldOf(() => readLwf('<workload/>')), 'line 1 <workload>: the root element must be <lease-workload>');
  const lease = (start: string, dur = '00:10:00'): string =>
    `<lease-workload>\n<lease-requests>\n<lease-request arrival="00:00:00">\n<lease id="1" preemptible="true"><nodes><node-set numnodes="1"><res type="CPU" amount="100"/><res type="Memory" amount="1024"/></node-set></nodes>${start}\n<duration time="${dur}"/></lease></lease-request></lease-requests></lease-workload>`;
  assert.equal(fieldOf(() => readLwf(lease('<start/>', '10 min'))), 'line 5 <duration>: time must be HH:MM:SS[.ss], got "10 min"');
  assert.equal(fieldOf(() => readLwf(lease(''))), 'line 4 <lease>: a lease needs a <start> (empty for best effort)');
  assert.equal(fieldOf(() => readLwf(lease('<start><exact time="soon"/></start>'))), 'line 4 <exact>: time must be HH:MM:SS[.ss], got "soon"');
});
