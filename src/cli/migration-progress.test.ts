import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { barPercent, startMigrationProgress } from './migration-progress.js';
import { journal, migration, precopyStats, succeeded } from './migration-fixtures.js';

/** A stream that claims to be a terminal and keeps what is written to it. */
function fakeTerminal(): { stream: NodeJS.WriteStream; text(): string } {
  const s = new PassThrough();
  let out = '';
  s.on('data', (c: Buffer) => (out += c.toString()));
  Object.assign(s, { isTTY: true, columns: 160 });
  return {
    stream: s as unknown as NodeJS.WriteStream,
    // Terminal control sequences out, so that the test reads what a person sees.
    // eslint-disable-next-line no-control-regex
    text: () => out.replace(/\u001b\[[0-9;?]*[A-Za-z]|\u001b[78]/g, ''),
  };
}

const MiB = 1024 * 1024;
const FORWARD = ['reservation', 'prepared', 'precopy', 'stop-and-copy', 'transferred', 'committed', 'activated', 'cleaned'];

test('barPercent: the disk copy while mirroring, else the share of RAM sent', () => {
  assert.equal(barPercent(migration()), 0);
  assert.equal(barPercent(migration({ stage: 'mirroring', stats: { diskCopiedBytes: 48 * MiB, diskTotalBytes: 64 * MiB } })), 75);
  assert.equal(barPercent(migration({ stage: 'precopy', stats: precopyStats(30, 70, 1) })), 30);
  assert.equal(barPercent(succeeded(FORWARD)), 100);
});

test('on a terminal: stage lines above a live bar with stage, percent and numbers', async () => {
  const t = fakeTerminal();
  const p = startMigrationProgress(migration(), { stream: t.stream });
  // The bar's timer keeps the process alive until it is stopped, also when an assertion fails.
  try {
    p.update(migration());
    p.update(migration({ stage: 'precopy', journal: journal(['reservation', 'prepared', 'precopy']), stats: precopyStats(45, 55, 2) }));
    await delay(250); // the bar redraws on its own clock
    const live = t.text();
    assert.match(live, /migration 3f2a9c1e of web-1: h1 → h2\n/);
    assert.match(live, / {2}\+0\.4 s\s+prepared\n/);
    assert.match(live, / precopy\s+\[[█░]{20}\] 45% RAM 45% sent · dirty 2 MiB\/s · pass 2 · 100\.0 MB\/s /);
    p.update(succeeded(FORWARD));
  } finally {
    p.stop();
  }
  p.stop();
  const end = t.text();
  assert.match(end, / {2}\+2\.8 s\s+cleaned\n/);
  // The command's summary says it succeeded; the timeline does not say it again.
  assert.doesNotMatch(end, /succeeded/);
});

test('not a terminal: one line per stage, no bar', () => {
  const s = new PassThrough();
  let out = '';
  s.on('data', (c: Buffer) => (out += c.toString()));
  const p = startMigrationProgress(migration(), { stream: s as unknown as NodeJS.WriteStream, tty: false });
  const m = migration({ stage: 'precopy', journal: journal(['reservation', 'prepared', 'precopy']), stats: precopyStats(45, 55, 2) });
  p.update(migration());
  p.update(m);
  p.update(m);
  p.stop();
  assert.equal(out, [
    'migration 3f2a9c1e of web-1: h1 → h2',
    '  +0.0 s    reservation',
    '  +0.4 s    prepared',
    '  +0.8 s    precopy  RAM 45% sent · dirty 2 MiB/s · pass 2 · 100.0 MB/s',
    '',
  ].join('\n'));
});
