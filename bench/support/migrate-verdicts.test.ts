import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CASES, type CaseName, type PathName, type Sample } from './migrate-sample.js';
import { migrateVerdicts, type MigrateRow } from './migrate-verdicts.js';

const PATHS: readonly PathName[] = ['raw', 'raw-rc', 'nubo'];

/** A migration of `path` whose guest paused `pauseMs`, QEMU's own downtime `downtimeMs` of it. */
function sample(cs: CaseName, path: PathName, run: number, pauseMs: number, downtimeMs: number): Sample {
  return {
    case: cs, path, run, from: 'h1', to: 'h2', totalMs: 700, qemuDowntimeMs: downtimeMs, pauseMs, transferredBytes: 90 << 20, passes: 3, dirtyRateBytes: 0,
    phases: { prepare: 100, copy: 500, switch: 10 }, steps: {},
    icmp: { downtimeMs: pauseMs + 30, lastReplyBefore: 0, firstReplyAfter: 0, lost: 5, replies: 100, medianIntervalMs: 5 },
    ...(cs === 'web' ? { client: { gapMs: pauseMs + 100, ok: 50, failed: 0, errors: [], lastAnswerBeforeGap: 0, firstAnswerAfterGap: 0, beforeRps: 40, duringRps: 20, afterRps: 40 } } : {}),
  };
}

function row(cs: CaseName, path: PathName): MigrateRow {
  return {
    case: cs, path, runs: 7, totalP50: 700, recordTotalP50: 700, qemuDowntimeP50: 60, clientGapP50: 200, icmpDowntimeP50: 100, mibSentP50: 90, passesP50: 3,
    dirtyMiBpsP50: 0, guestDirtyMiBpsP50: 0, maxThrottle: 0, failed: 0, beforeP50: 40, duringP50: 20, afterP50: 40, prepareP50: 100, copyP50: 500, switchP50: 10,
  };
}

/** Seven runs of every case: QEMU's downtime swings from run to run alike on both paths; nubo's destination waits `nuboWaitMs` beyond it. */
function samples(nuboWaitMs: number): Sample[] {
  const out: Sample[] = [];
  for (const cs of CASES) {
    for (let run = 0; run < 7; run++) {
      const downtime = 50 + ((run * 37) % 90);
      out.push(sample(cs, 'raw', run, downtime + 1, downtime), sample(cs, 'raw-rc', run, downtime - 2, downtime), sample(cs, 'nubo', run, downtime + nuboWaitMs, downtime));
    }
  }
  return out;
}

const input = (s: Sample[]) => ({
  samples: s, failedMigrations: [], rows: CASES.flatMap((cs) => PATHS.map((p) => row(cs, p))), runs: 7, compareSwitch: false, compareRawResume: true, icmpIntervalMs: 5,
});

const beyond = (cs: string) => (c: { name: string }) => c.name.startsWith("guest pause beyond QEMU's own downtime (") && c.name.includes(cs);

test("the destination's wait beyond QEMU's own downtime is judged per pair against raw-rc, whatever QEMU's downtime does", () => {
  const quick = migrateVerdicts(input(samples(0)));
  for (const cs of ['(a) idle', '(b) dirtying memory', '(c) serving']) {
    const c = quick.comparisons.find(beyond(cs));
    assert.ok(c, `a verdict on the wait beyond QEMU's downtime for ${cs}`);
    assert.equal(c.verdict, 'PASS', `${cs}: nubo's wait 0 ms vs raw-rc's −2 ms passes the 5 ms target`);
    assert.equal(c.pairs.length, 7, 'every run paired');
    assert.deepEqual(quick.sides.get(c), { path: 'nubo', base: 'raw-rc' });
  }
  const slow = migrateVerdicts(input(samples(30)));
  assert.equal(slow.comparisons.find(beyond('(a) idle'))?.verdict, 'FAIL', 'a destination waiting 30 ms beyond QEMU fails');
});

test('a migration that did not complete fails the completion verdict and names the run; the HTTP gap has a line of its own', () => {
  const v = migrateVerdicts({ ...input(samples(0)), failedMigrations: [{ case: 'dirty', path: 'nubo', run: 2, error: 'timed out', fabricHolders: [] }] });
  const done = v.verdicts.find((x) => x.target === 'every migration completed');
  assert.equal(done?.pass, false);
  assert.match(done?.detail ?? '', /dirty nubo run 3: timed out/);
  const ok = migrateVerdicts(input(samples(0))).verdicts.find((x) => x.target === 'every migration completed');
  assert.equal(ok?.pass, true);
  const gap = v.comparisons.find((c) => c.name.startsWith('client-measured downtime (HTTP gap)'));
  assert.ok(gap && v.lines.get(gap)?.includes('p50s of all runs nubo 200 ms'), 'the gap line carries the p50s of the rows');
});

test('without raw-rc the pause is judged against plain raw only, and no split of the pause is made', () => {
  const v = migrateVerdicts({ ...input(samples(0).filter((s) => s.path !== 'raw-rc')), compareRawResume: false });
  assert.equal(v.comparisons.filter(beyond('')).length, 0);
  const pause = v.comparisons.find((c) => c.name === 'guest pause (QMP STOP → RESUME), (a) idle');
  assert.equal(pause?.verdict, 'PASS', 'nubo pause − raw pause = −1 ms per pair');
  assert.ok(v.comparisons.some((c) => c.name.includes('network-level downtime') && c.name.endsWith('nubo against raw')));
});
