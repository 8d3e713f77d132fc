import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { startBusyProgress, startByteProgress } from './transfer-progress.js';

/** A stream that claims to be a terminal and keeps what is written to it. */
function fakeTerminal(): { stream: NodeJS.WriteStream; text(): string } {
  const s = new PassThrough();
  let out = '';
  s.on('data', (c: Buffer) => (out += c.toString()));
  Object.assign(s, { isTTY: true, columns: 160 });
  // eslint-disable-next-line no-control-regex
  return { stream: s as unknown as NodeJS.WriteStream, text: () => out.replace(/\u001b\[[0-9;?]*[A-Za-z]|\u001b[78]/g, '') };
}

const MiB = 1024 * 1024;

test('byte progress on a terminal: a bar with the percent when the size is known', async () => {
  const t = fakeTerminal();
  const p = startByteProgress('exporting web-1', { stream: t.stream });
  try {
    p.update(16 * MiB, 64 * MiB);
    await delay(150); // the bar redraws on its own clock
    assert.match(t.text(), /exporting web-1 \[[█░]{20}\] 25% 16 MiB of 64 MiB/);
    p.update(64 * MiB, 64 * MiB);
  } finally {
    p.stop();
  }
  assert.match(t.text(), /100% 64 MiB of 64 MiB/);
});

test('byte progress on a terminal: bytes so far when the size is not known', async () => {
  const t = fakeTerminal();
  const p = startByteProgress('exporting web-1', { stream: t.stream });
  try {
    p.update(3 * MiB, undefined);
    await delay(150);
    assert.match(t.text(), /exporting web-1 3 MiB/);
  } finally {
    p.stop();
  }
});

test('not a terminal: nothing drawn (the command prints its result)', () => {
  const s = new PassThrough();
  let out = '';
  s.on('data', (c: Buffer) => (out += c.toString()));
  const p = startByteProgress('exporting web-1', { stream: s as unknown as NodeJS.WriteStream, tty: false });
  p.update(MiB, 2 * MiB);
  p.stop();
  const b = startBusyProgress('copying the disk of web-1', { stream: s as unknown as NodeJS.WriteStream, tty: false });
  b.stop();
  assert.equal(out, 'copying the disk of web-1 …\n');
});

test('busy progress on a terminal: what is under way and for how long, cleared at the end', async () => {
  const t = fakeTerminal();
  const b = startBusyProgress('copying the disk of web-1', { stream: t.stream });
  try {
    await delay(250);
    assert.match(t.text(), /copying the disk of web-1 \d+\.\d s/);
  } finally {
    b.stop();
  }
});

test('busy progress waits afterMs before it shows anything: a request refused sooner shows nothing', async () => {
  const t = fakeTerminal();
  const early = startBusyProgress('copying the disk of nosuch', { stream: t.stream, afterMs: 200 });
  await delay(50);
  early.stop();
  await delay(250);
  assert.equal(t.text(), '', 'stopped before afterMs: never drawn');
  const late = startBusyProgress('copying the disk of web-1', { stream: t.stream, afterMs: 100 });
  try {
    await delay(350);
    assert.match(t.text(), /copying the disk of web-1 \d+\.\d s/);
  } finally {
    late.stop();
  }
});

test('byte progress draws nothing before the first bytes (a refused download shows only its error)', async () => {
  const t = fakeTerminal();
  const p = startByteProgress('exporting VM nosuch', { stream: t.stream });
  await delay(150);
  p.stop();
  assert.equal(t.text(), '');
});
