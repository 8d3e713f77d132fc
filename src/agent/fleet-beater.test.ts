import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { FleetBeater } from './fleet-beater.js';

const hostsOf = (n: number): { name: string; silent: boolean }[] => Array.from({ length: n }, (_, i) => ({ name: `h${i}`, silent: false }));

test('every host has exactly one turn in each interval', () => {
  const hosts = hostsOf(45);
  const b = new FleetBeater({ hosts, intervalMs: 1000, tickMs: 100, beat: async () => true });
  const turns = new Map<string, number>();
  for (let t = 0; t < 20; t++) for (const h of b.dueAt(t)) turns.set(h.name, (turns.get(h.name) ?? 0) + 1);
  assert.equal(turns.size, 45);
  for (const [name, n] of turns) assert.equal(n, 2, `${name}: one turn per interval over two intervals`);
  assert.ok(b.dueAt(0).length <= 5, 'spread over the interval, not all at once');
});

test('beats from one timer: silent hosts send none, a host whose beat is still under way beats on its turn all the same (as a real agent)', async () => {
  const hosts = hostsOf(6);
  hosts[5]!.silent = true;
  const beats = new Map<string, number>();
  let running = 0;
  let slowOverlap = false;
  const b = new FleetBeater({
    hosts, intervalMs: 40, tickMs: 10,
    beat: async (h) => {
      beats.set(h.name, (beats.get(h.name) ?? 0) + 1);
      if (h.name !== 'h0') return true;
      // h0's beat takes three intervals: its next turns come meanwhile, and are taken.
      if (running++ > 0) slowOverlap = true;
      await sleep(120);
      running--;
      return false;
    },
  });
  b.start();
  // Counted, not timed: a loaded machine delays the timer, so the test waits for beats rather than for a time.
  const others = ['h1', 'h2', 'h3', 'h4'];
  for (const until = Date.now() + 30_000; others.some((n) => (beats.get(n) ?? 0) < 6) && Date.now() < until;) await sleep(20);
  await b.stopAndSettle();
  assert.equal(beats.get('h5'), undefined, 'a silent host does not beat');
  for (const n of others) assert.ok((beats.get(n) ?? 0) >= 6, `${n} beats on every turn (${beats.get(n)})`);
  assert.equal(slowOverlap, true, 'h0 beat again while its slow beat waited');
  const fewest = Math.min(...others.map((n) => beats.get(n) ?? 0));
  // Its turns are the others': a slow answer does not make a host beat less often (one turn of slack for the timer).
  assert.ok((beats.get('h0') ?? 0) >= fewest - 1, `h0 beat on its turns (${beats.get('h0')}, the others at least ${fewest})`);
  const { sent, taken } = b.counts;
  assert.equal(sent, [...beats.values()].reduce((a, x) => a + x, 0));
  assert.equal(sent - taken, beats.get('h0'), 'only h0\'s beats were not taken');
});

test('beatAll: each host that is not silent once, with bounded concurrency, counting what was taken', async () => {
  const hosts = hostsOf(10);
  hosts[3]!.silent = true;
  let now = 0;
  let most = 0;
  const b = new FleetBeater({
    hosts, intervalMs: 1000,
    beat: async (h) => {
      most = Math.max(most, ++now);
      await sleep(5);
      now--;
      return h.name !== 'h7';
    },
  });
  assert.equal(await b.beatAll(3), 8, 'nine beat, h7 not taken');
  assert.equal(b.counts.sent, 9);
  assert.ok(most <= 3, `at most 3 at once (${most})`);
});
