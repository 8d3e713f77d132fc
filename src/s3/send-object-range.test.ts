import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { S3BlobStore } from './s3-blob-store.js';
import { sendObjectRange, type BlobOpener } from './send-object-range.js';

/** The blob store's files, each read counted (and the buffers read into), the nth read failing when asked, every close seen. */
function watched(blobs: S3BlobStore, o: { failAtRead?: number } = {}): BlobOpener & { reads: number; buffers: Set<ArrayBufferLike>; open: number } {
  const w = {
    reads: 0,
    buffers: new Set<ArrayBufferLike>(),
    open: 0,
    async openBlob(id: string): Promise<FileHandle> {
      const fh = await blobs.openBlob(id);
      w.open += 1;
      return {
        read: async (buf: Buffer, off: number, len: number, pos: number) => {
          w.reads += 1;
          w.buffers.add(buf.buffer);
          if (w.reads === o.failAtRead) throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
          return fh.read(buf, off, len, pos);
        },
        close: async () => {
          w.open -= 1;
          await fh.close();
        },
      } as unknown as FileHandle;
    },
  };
  return w;
}

describe('sendObjectRange: a GET\'s body from the blob files to a real HTTP response', () => {
  let dir: string;
  let blobs: S3BlobStore;
  // Parts of 5 MiB + 1 byte (more than one read of 4 MiB), 3 bytes, nothing and 24 MiB (more than the socket's buffers hold).
  const parts = [randomBytes((5 << 20) + 1), randomBytes(3), Buffer.alloc(0), randomBytes(24 << 20)];
  const whole = Buffer.concat(parts);
  let spans: { blobId: string; size: number }[];
  const never = new AbortController().signal;
  let server: Server;
  let url: string;
  /** What the next request sends: its opener and range, and how sendObjectRange ended. */
  let next: { opener: BlobOpener; start: number; end: number; begun: boolean; outcome?: Promise<unknown> };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nubo-send-range-'));
    blobs = new S3BlobStore(dir);
    await blobs.init();
    spans = [];
    for (const p of parts) {
      const w = await blobs.write(Readable.from([p]), undefined, { signal: never, maxBytes: 1 << 30, onTooLarge: () => new RangeError('too large') });
      spans.push({ blobId: w.blobId, size: w.size });
    }
    server = createServer((_req, res) => {
      const n = next;
      const sent = sendObjectRange(n.opener, spans, n.start, n.end, res, () => {
        n.begun = true;
        res.writeHead(200, { 'content-length': n.end - n.start + 1 });
      });
      n.outcome = sent.then(() => 'sent', (err: unknown) => {
        // As the S3 server does with a failure after the head: the connection is cut, the body short of its length.
        if (res.headersSent) res.destroy();
        else res.writeHead(500).end();
        return err;
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  /** GETs the URL: the body's bytes, the status, and whether the response ended cleanly or was cut. */
  const fetchBody = (o: { stopAfter?: number } = {}): Promise<{ status: number; body: Buffer; complete: boolean }> => new Promise((resolve, reject) => {
    const req = get(url, (res) => {
      const got: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => {
        got.push(c);
        n += c.length;
        if (o.stopAfter !== undefined && n >= o.stopAfter) {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(got), complete: false });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(got), complete: res.complete }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(got), complete: false }));
      res.on('close', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(got), complete: res.complete }));
    });
    req.on('error', (err) => (o.stopAfter === undefined ? resolve({ status: 0, body: Buffer.alloc(0), complete: false }) : reject(err)));
  });

  it('sends the whole object and ranges across parts, reading into two buffers only — the same two GET after GET —, every file closed', async () => {
    const used = new Set<ArrayBufferLike>();
    for (const [s, e] of [[0, whole.length - 1], [10, 4 << 20], [parts[0]!.length - 2, parts[0]!.length + 1], [1, whole.length - 2]] as const) {
      const opener = watched(blobs);
      next = { opener, start: s, end: e, begun: false };
      const r = await fetchBody();
      assert.equal(await next.outcome, 'sent');
      assert.equal(r.status, 200);
      assert.ok(r.complete);
      assert.ok(r.body.equals(whole.subarray(s, e + 1)), `bytes ${s}-${e}`);
      assert.ok(opener.buffers.size <= 2, `${opener.buffers.size} buffers read into for ${opener.reads} reads`);
      assert.equal(opener.open, 0);
      for (const b of opener.buffers) used.add(b);
    }
    assert.ok(used.size <= 2, `${used.size} buffers over four GETs one after the other: each GET takes the last one's back`);
  });

  it('a read failing mid-body cuts the response short of its length (never a clean end) and closes every file', async () => {
    const opener = watched(blobs, { failAtRead: 3 });
    next = { opener, start: 0, end: whole.length - 1, begun: false };
    const r = await fetchBody();
    const err = await next.outcome;
    assert.equal((err as NodeJS.ErrnoException).code, 'EIO');
    assert.equal(r.complete, false);
    assert.ok(r.body.length < whole.length, `${r.body.length} bytes of ${whole.length}`);
    assert.ok(r.body.equals(whole.subarray(0, r.body.length)), 'what came is the object\'s start');
    assert.equal(opener.reads, 3, 'no read after the failed one');
    assert.equal(opener.open, 0);
  });

  it('a client gone mid-body stops the reads and closes every file', async () => {
    const opener = watched(blobs);
    next = { opener, start: 0, end: whole.length - 1, begun: false };
    const r = await fetchBody({ stopAfter: 1 });
    assert.equal(r.complete, false);
    const err = await next.outcome;
    assert.ok(err instanceof Error, `sendObjectRange failed: ${String(err)}`);
    const reads = opener.reads;
    assert.ok(reads < Math.ceil(whole.length / (4 << 20)), `${reads} reads for an object read whole in ${Math.ceil(whole.length / (4 << 20))}`);
    assert.equal(opener.open, 0);
  });

  it('a blob missing fails before the head is sent, with nothing read', async () => {
    const gone = await blobs.write(Readable.from([randomBytes(10)]), undefined, { signal: never, maxBytes: 1 << 30, onTooLarge: () => new RangeError('too large') });
    await blobs.remove([gone.blobId]);
    const opener = watched(blobs);
    let begun = false;
    await assert.rejects(sendObjectRange(opener, [{ blobId: gone.blobId, size: 10 }], 0, 9, process.stdout, () => { begun = true; }), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    assert.equal(begun, false);
    assert.equal(opener.reads, 0);
  });
});
