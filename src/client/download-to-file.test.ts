import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { downloadToFile } from './download-to-file.js';
import { LocalFileError } from '../errors/local-file-error.js';

const chunk = Buffer.alloc(64 * 1024, 7);
let server: Server;
let base: string;
const dir = mkdtempSync(join(tmpdir(), 'nubo-download-'));
before(async () => {
  server = createServer((req, res) => {
    const sized = req.url === '/sized';
    res.writeHead(200, { 'content-type': 'application/octet-stream', ...(sized ? { 'content-length': String(chunk.length * 4) } : {}) });
    let n = 0;
    const next = (): void => {
      if (n++ === 4) return void res.end();
      res.write(chunk, () => setTimeout(next, 5));
    };
    next();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

test('onProgress hears the bytes as they arrive, with the Content-Length when there is one', async () => {
  for (const [path, total] of [['/sized', chunk.length * 4], ['/chunked', undefined]] as const) {
    const seen: [number, number | undefined][] = [];
    const dest = join(dir, `${path.slice(1)}.bin`);
    const r = await downloadToFile({ url: `${base}${path}`, token: 't', dest, onProgress: (b, t) => seen.push([b, t]) });
    assert.equal(r.bytes, chunk.length * 4);
    assert.ok(seen.length >= 2, `${path}: ${seen.length} progress calls`);
    assert.deepEqual(seen.at(-1), [chunk.length * 4, total]);
    assert.ok(seen.every(([b], i) => i === 0 || b > seen[i - 1]![0]), 'growing');
    assert.equal(readFileSync(dest).length, chunk.length * 4);
  }
});

test('a missing directory is a LocalFileError naming the file asked for, before any request', async () => {
  const dest = join(dir, 'missing', 'x.ova');
  await assert.rejects(downloadToFile({ url: `${base}/sized`, token: 't', dest }), (err: unknown) => {
    assert.ok(err instanceof LocalFileError);
    assert.equal(err.path, dest);
    assert.doesNotMatch(err.message, /\.part/);
    return true;
  });
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.part')), []);
});

test('overwrite: false keeps an existing file: refused before the request, and when one appears during the download', async () => {
  const dest = join(dir, 'kept.ova');
  writeFileSync(dest, 'mine');
  const refused = (err: unknown): boolean => {
    assert.ok(err instanceof LocalFileError);
    assert.equal(err.path, dest);
    assert.match(err.message, /already exists/);
    return true;
  };
  await assert.rejects(downloadToFile({ url: `${base}/sized`, token: 't', dest, overwrite: false }), refused);
  assert.equal(readFileSync(dest, 'utf8'), 'mine');
  const late = join(dir, 'late.ova');
  let wrote = false;
  await assert.rejects(downloadToFile({ url: `${base}/sized`, token: 't', dest: late, overwrite: false, onProgress: () => {
    if (!wrote) writeFileSync(late, 'theirs');
    wrote = true;
  } }), (err: unknown) => err instanceof LocalFileError && err.path === late && /already exists/.test(err.message));
  assert.equal(readFileSync(late, 'utf8'), 'theirs', 'the file that appeared is kept');
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.part')), [], 'no partial file left');
  const r = await downloadToFile({ url: `${base}/sized`, token: 't', dest });
  assert.equal(r.bytes, chunk.length * 4, 'overwrite by default');
  assert.equal(readFileSync(dest).length, chunk.length * 4);
});
