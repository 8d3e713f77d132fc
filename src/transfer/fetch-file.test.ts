import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { installErrorHandler } from '../http/install-error-handler.js';
import { fetchFile } from './fetch-file.js';
import { TransferOffers } from './transfer-offers.js';
import { registerTransferRoutes } from './transfer-routes.js';

interface Source { dir: string; app: FastifyInstance; url: string; token: string; bytes: Buffer; close(): Promise<void> }

/** A source's transfer routes on loopback, offering one file: on this machine, as an agent beside another would be. */
async function source(size: number): Promise<Source> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-fetch-'));
  const bytes = randomBytes(size);
  await writeFile(join(dir, 'disk.qcow2'), bytes);
  const offers = new TransferOffers();
  const offer = offers.open('v1', 'm1', [{ name: 'disk.qcow2', path: join(dir, 'disk.qcow2'), sizeBytes: size }], 60_000);
  const app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  registerTransferRoutes(app, offers);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    dir, app, bytes, token: offer.token,
    url: `${base}/agent/v1/transfers/${offer.transferId}/files/disk.qcow2`,
    async close() {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('a source on this machine: the kernel copies the file; with local copies off, the network does; same digest', async () => {
  const s = await source(3_000_000);
  try {
    const local = await fetchFile({ url: s.url, token: s.token, dest: join(s.dir, 'a'), sizeBytes: s.bytes.length });
    assert.equal(local.via, 'local');
    assert.equal(local.sha256, sha(s.bytes));
    assert.equal(sha(await readFile(join(s.dir, 'a'))), sha(s.bytes));
    const net = await fetchFile({ url: s.url, token: s.token, dest: join(s.dir, 'b'), sizeBytes: s.bytes.length, localCopies: false });
    assert.equal(net.via, 'network');
    assert.equal(net.sha256, sha(s.bytes));
  } finally {
    await s.close();
  }
});

test('the local route needs the offer\'s token; a wrong token fails the copy as the network path says it', async () => {
  const s = await source(100_000);
  try {
    assert.equal((await fetch(`${s.url}/local`)).status, 401);
    assert.equal((await fetch(`${s.url}/local`, { headers: { authorization: `Bearer ${'f'.repeat(64)}` } })).status, 401);
    const ok = await fetch(`${s.url}/local`, { headers: { authorization: `Bearer ${s.token}` } });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { path: string }).path, join(s.dir, 'disk.qcow2'));
    await assert.rejects(fetchFile({ url: s.url, token: 'f'.repeat(64), dest: join(s.dir, 'c'), sizeBytes: s.bytes.length }), { status: 401 });
  } finally {
    await s.close();
  }
});

test('a file that changed size since the offer is not copied locally; the network copy refuses it', async () => {
  const s = await source(100_000);
  try {
    await writeFile(join(s.dir, 'disk.qcow2'), randomBytes(100_001));
    await assert.rejects(fetchFile({ url: s.url, token: s.token, dest: join(s.dir, 'd'), sizeBytes: 100_000 }), { code: 'TRANSFER_FAILED' });
  } finally {
    await s.close();
  }
});
