import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { Crc32c } from '@aws-crypto/crc32c';
import { HashPool } from './hash-pool.js';

describe('HashPool', () => {
  const pool = new HashPool();
  after(() => pool.close());

  it('counts the threads it may hash on: as asked, at least one', async () => {
    const three = new HashPool({ threads: 3 });
    const none = new HashPool({ threads: 0 });
    try {
      assert.equal(three.threadCount, 3);
      assert.equal(none.threadCount, 1);
    } finally {
      await Promise.all([three.close(), none.close()]);
    }
  });

  it('gives the same digests as hashing on this thread, for several hashes at once', async () => {
    const parts = Array.from({ length: 40 }, (_, i) => randomBytes(1000 + i * 9000));
    const md5 = pool.open('md5');
    const sha = pool.open('sha256');
    for (const p of parts) await Promise.all([md5.update(p), sha.update(p)]);
    const [m, s] = await Promise.all([md5.digest(), sha.digest()]);
    assert.equal(m, createHash('md5').update(Buffer.concat(parts)).digest('hex'));
    assert.equal(s, createHash('sha256').update(Buffer.concat(parts)).digest('hex'));
  });

  it('small updates gathered into batches and large ones between them give the same digest, on two threads at once', async () => {
    const two = new HashPool({ threads: 2 });
    try {
      const sizes = [1, 7, 65_536, 1_048_575, 2, 1_048_576, 3_000_000, 100, 0, 65_536, 999_999];
      const parts = sizes.map((n) => randomBytes(n));
      const a = two.open('md5');
      const b = two.open('md5');
      for (const p of parts) await Promise.all([a.update(p), b.update(p)]);
      const whole = createHash('md5').update(Buffer.concat(parts)).digest('hex');
      assert.deepEqual(await Promise.all([a.digest(), b.digest()]), [whole, whole]);
    } finally {
      await two.close();
    }
  });

  it('CRC32 and CRC32C on a thread equal the ones worked out here, for pieces with odd boundaries', async () => {
    const sizes = [1, 3, 65_537, 1_048_575, 0, 2_000_001, 17];
    const parts = sizes.map((n) => randomBytes(n));
    const a = pool.open('crc32');
    const c = pool.open('crc32c');
    // Views into one buffer at odd offsets, as a socket's reads are cut by a framing parser.
    const joined = Buffer.concat(parts);
    let at = 0;
    for (const n of sizes) {
      const view = joined.subarray(at, at + n);
      at += n;
      await Promise.all([a.update(view), c.update(view)]);
    }
    const hex = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');
    const here = new Crc32c();
    here.update(joined);
    assert.deepEqual(await Promise.all([a.digest(), c.digest()]), [hex(crc32(joined)), hex(here.digest())]);
  });

  it('hashes only the bytes of a view, not the rest of its buffer', async () => {
    const whole = randomBytes(4096);
    const view = whole.subarray(100, 300);
    const h = pool.open('md5');
    await h.update(view);
    assert.equal(await h.digest(), createHash('md5').update(view).digest('hex'));
  });

  it('holds the caller back while more than its limit is in flight, and still finishes', async () => {
    const h = pool.open('sha256');
    const big = randomBytes(8 * 1024 * 1024);
    const first = h.update(big);
    const second = h.update(big);
    const third = h.update(big);
    let thirdDone = false;
    void third.then(() => { thirdDone = true; });
    await Promise.resolve();
    assert.equal(thirdDone, false, '24 MiB in flight is over the 16 MiB limit: the third update waits for acknowledgements');
    await Promise.all([first, second, third]);
    assert.equal(await h.digest(), createHash('sha256').update(big).update(big).update(big).digest('hex'));
  });

  it('an empty hash has the empty digest; a dropped one is forgotten', async () => {
    const e = pool.open('md5');
    assert.equal(await e.digest(), createHash('md5').digest('hex'));
    const d = pool.open('md5');
    await d.update(Buffer.from('abc'));
    d.drop();
    const again = pool.open('md5');
    await again.update(Buffer.from('abc'));
    assert.equal(await again.digest(), createHash('md5').update('abc').digest('hex'));
  });

  it('counts its threads\' busy time: the hashing of a body, not the time they wait', async () => {
    const p = new HashPool({ threads: 1 });
    try {
      assert.equal(p.busyMs(), 0, 'no thread before the first hash');
      const h = p.open('md5');
      const block = randomBytes(1 << 20);
      const t0 = performance.now();
      const before = p.busyMs();
      for (let i = 0; i < 64; i++) await h.update(block);
      await h.digest();
      const hashed = p.busyMs() - before;
      const wall = performance.now() - t0;
      // No MD5 runs at 5 GB/s on one core: 64 MiB takes at least 13 ms of the thread's time, and no more than the wall time.
      assert.ok(hashed >= (64 * 2 ** 20) / 5e9 * 1000, `busy ${hashed} ms for 64 MiB`);
      assert.ok(hashed <= wall + 1, `busy ${hashed} ms within ${wall} ms`);
      const idle0 = p.busyMs();
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(p.busyMs() - idle0 < 100, `an idle thread stays idle (${p.busyMs() - idle0} ms)`);
    } finally {
      await p.close();
    }
  });

  it('a closed pool fails what is waiting and starts a new thread for the next hash', async () => {
    const p = new HashPool();
    const h = p.open('md5');
    const pending = h.digest();
    await p.close();
    // The digest may have been answered before the thread ended; if not, it fails with the thread's end.
    await pending.then((hex) => assert.match(hex, /^[0-9a-f]{32}$/), (err: Error) => assert.match(err.message, /exited/));
    const next = p.open('md5');
    await next.update(Buffer.from('x'));
    assert.equal(await next.digest(), createHash('md5').update('x').digest('hex'));
    await p.close();
  });
});
