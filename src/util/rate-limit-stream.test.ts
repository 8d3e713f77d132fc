import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { rateLimitStream } from './rate-limit-stream.js';

test('holds the bytes back to the rate', async () => {
  const chunks = Array.from({ length: 10 }, () => Buffer.alloc(10_000));
  let got = 0;
  const t0 = Date.now();
  await pipeline(Readable.from(chunks), rateLimitStream(200_000), new Writable({ write(c: Buffer, _e, cb) { got += c.length; cb(); } }));
  const ms = Date.now() - t0;
  assert.equal(got, 100_000);
  // 100 kB at 200 kB/s: 0.5 s (the first chunk's share is waited for too), less the 50 ms burst allowed.
  assert.ok(ms >= 400 && ms < 1_500, `took ${ms} ms`);
});

test('an aborted pipeline stops waiting', async () => {
  const ac = new AbortController();
  const t0 = Date.now();
  setTimeout(() => ac.abort(new Error('stop')), 100);
  await assert.rejects(
    pipeline(Readable.from([Buffer.alloc(1_000_000)]), rateLimitStream(1_000), new Writable({ write(_c, _e, cb) { cb(); } }), { signal: ac.signal }),
    { name: 'AbortError' },
  );
  assert.ok(Date.now() - t0 < 1_000);
});

test('refuses a rate that is not positive', () => {
  assert.throws(() => rateLimitStream(0), RangeError);
});

test('a chunk larger than a second\'s worth trickles out at the rate instead of waiting whole', async () => {
  // 1 MiB at 64 KiB/s: held back as one piece, its first byte would come out after 16 s.
  const limiter = rateLimitStream(64 * 1024);
  const t0 = Date.now();
  const firstAt = new Promise<number>((resolve) => limiter.once('data', () => resolve(Date.now() - t0)));
  let got = 0;
  limiter.on('data', (c: Buffer) => { got += c.length; });
  limiter.write(Buffer.alloc(1024 * 1024));
  const first = await firstAt;
  await new Promise((r) => setTimeout(r, 1_000));
  limiter.destroy();
  assert.ok(first < 500, `first bytes after ${first} ms`);
  // About a second's worth (64 KiB) plus the slice let through ahead of the schedule, not 1 MiB.
  assert.ok(got > 32 * 1024 && got <= 128 * 1024, `${got} bytes in the first second`);
});
