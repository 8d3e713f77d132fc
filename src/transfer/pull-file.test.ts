import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { pullFile } from './pull-file.js';
import { TransferOffers } from './transfer-offers.js';
import { registerTransferRoutes } from './transfer-routes.js';

const MB = 1_000_000;

interface Rig { dir: string; app: FastifyInstance; proxy: Server; url: string; token: string; size: number; sha256: string; wire(): number; requests(): string; close(): Promise<void> }

/**
 * A source agent's transfer route behind a loopback TCP relay that counts the
 * bytes the source put on the wire: what an operator's cap is about, whatever
 * the receiver's buffers hold back from its disk.
 */
async function rig(size: number): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-pull-'));
  const src = join(dir, 'disk.qcow2');
  const bytes = randomBytes(size);
  await writeFile(src, bytes);
  const offers = new TransferOffers();
  const offer = offers.open('v1', 'm1', [{ name: 'disk.qcow2', path: src, sizeBytes: size }], 60_000);
  const app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerTransferRoutes(app, offers);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const upstream = (app.server.address() as AddressInfo).port;
  let wire = 0;
  let requests = '';
  const proxy = createServer((c) => {
    const u = connect(upstream, '127.0.0.1');
    c.on('data', (d: Buffer) => void (requests += d.toString('latin1')));
    u.on('data', (d: Buffer) => void (wire += d.length));
    c.pipe(u).pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as AddressInfo).port;
  return {
    dir, app, proxy, token: offer.token, size,
    url: `http://127.0.0.1:${port}/agent/v1/transfers/${offer.transferId}/files/disk.qcow2`,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    wire: () => wire,
    requests: () => requests,
    async close() {
      proxy.close();
      await app.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('copies the file whole, with its sha256 checked', async () => {
  const r = await rig(5 * MB + 123);
  try {
    const dest = join(r.dir, 'copy');
    const { sha256 } = await pullFile({ url: r.url, token: r.token, dest, sizeBytes: r.size });
    assert.equal(sha256, r.sha256);
    assert.equal(createHash('sha256').update(await readFile(dest)).digest('hex'), r.sha256);
  } finally {
    await r.close();
  }
});

test('without a cap the request asks for none (the source paces nothing)', async () => {
  const r = await rig(100_000);
  try {
    await pullFile({ url: r.url, token: r.token, dest: join(r.dir, 'copy'), sizeBytes: r.size });
    assert.doesNotMatch(r.requests(), /x-nubo-max-bytes-per-second/i);
    await pullFile({ url: r.url, token: r.token, dest: join(r.dir, 'copy2'), sizeBytes: r.size, maxBytesPerSecond: 10_000_000 });
    assert.match(r.requests(), /x-nubo-max-bytes-per-second: 10000000/i);
  } finally {
    await r.close();
  }
});

test('a copy whose size differs from the offer is refused, and its partial file left for the caller', async () => {
  const r = await rig(100_000);
  try {
    await assert.rejects(pullFile({ url: r.url, token: r.token, dest: join(r.dir, 'copy'), sizeBytes: r.size + 1 }), { code: 'TRANSFER_FAILED', message: /announces 100000 bytes, the offer said 100001/ });
  } finally {
    await r.close();
  }
});

test('a bandwidth cap holds on the wire from the first second (no burst of buffered megabytes)', async () => {
  const rate = 2 * MB;
  const r = await rig(32 * MB);
  const ac = new AbortController();
  try {
    const dest = join(r.dir, 'copy');
    const copy = pullFile({ url: r.url, token: r.token, dest, sizeBytes: r.size, maxBytesPerSecond: rate, signal: ac.signal });
    const t0 = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const onWire = r.wire();
    const elapsed = (Date.now() - t0) / 1000;
    ac.abort(new Error('enough'));
    await assert.rejects(copy);
    // The cap for the time elapsed, plus one 1 MiB read in flight and the limiter's 50 ms of slack.
    const allowed = rate * elapsed + 1024 * 1024 + rate * 0.05;
    assert.ok(onWire <= allowed, `${(onWire / MB).toFixed(1)} MB on the wire after ${elapsed.toFixed(2)} s at a cap of ${rate / MB} MB/s (allowed ${(allowed / MB).toFixed(1)} MB)`);
    assert.ok(onWire >= rate * 0.5, `the copy barely moved: ${onWire} bytes`);
  } finally {
    await r.close();
  }
});
