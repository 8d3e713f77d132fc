import { open } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import { RemoteError, UnreachableError } from '../client/remote-error.js';
import { NuboError, errorMessage } from '../errors/nubo-error.js';
import { deadline } from '../util/deadline.js';
import { FileReceiveStream } from './file-receive-stream.js';
import { RATE_HEADER, SHA256_TRAILER, SIZE_HEADER } from './transfer-routes.js';

/** A copy that arrived but is not what the source sent: short, long, or another sha256. */
export class FileTransferError extends NuboError {
  readonly code = 'TRANSFER_FAILED';
  constructor(readonly url: string, reason: string) {
    super(`copy of ${url} failed: ${reason}`, { url, reason });
  }
}

export interface PullFileRequest {
  readonly url: string;
  /** The offer's transfer token. */
  readonly token: string;
  /** Where the bytes go; created or truncated. The caller renames it into place once everything is verified. */
  readonly dest: string;
  /** What the offer said; the stream and the source's header must agree. */
  readonly sizeBytes: number;
  readonly maxBytesPerSecond?: number | undefined;
  /** Called with each chunk's length as it is written. */
  readonly onBytes?: ((n: number) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
  /** For the whole file; default scales with its size. */
  readonly timeoutMs?: number | undefined;
}

function get(url: string, token: string, signal: AbortSignal, maxBytesPerSecond: number | undefined): Promise<IncomingMessage> {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (maxBytesPerSecond !== undefined) headers[RATE_HEADER] = String(Math.max(1, Math.floor(maxBytesPerSecond)));
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers, signal }, resolve);
    req.on('error', reject);
    req.end();
  });
}

async function errorOf(url: string, res: IncomingMessage): Promise<RemoteError> {
  let text = '';
  for await (const c of res as AsyncIterable<Buffer>) text += c.toString();
  let body: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // Not one of ours: keep the status.
  }
  const status = res.statusCode ?? 0;
  return new RemoteError(status, body.error?.code ?? `HTTP_${status}`, body.error?.message ?? `GET ${url}: HTTP ${status}`, body.error?.details ?? {});
}

/**
 * Fetches one file of a transfer offer from the source agent into `dest`,
 * computing its sha256 as the bytes arrive, and checks it against the digest
 * the source computed as it sent them (its trailer) and the size against the
 * offer's — then fsyncs it, since the source's copy is deleted once the
 * controller committed. Returns the digest. On any failure `dest` is left for
 * the caller to remove (it removes the whole partial VM directory).
 * @throws FileTransferError, RemoteError (the source refused), UnreachableError, TimeoutError
 */
export interface PulledFile {
  readonly sha256: string;
  /** Request to the last byte written (a local copy: and its source's digest), and the fsync after it: where a slow copy spends its time. */
  readonly streamMs: number;
  readonly syncMs: number;
  /** A local copy: how long the source's digest took, beside the kernel's copy (within streamMs). */
  readonly hashMs?: number | undefined;
  /** Mean size of the pieces the bytes arrived in. */
  readonly meanReadBytes: number;
  /** Over the network from the source agent, or copied on this machine (copyLocalFile). */
  readonly via: 'network' | 'local';
}

export async function pullFile(r: PullFileRequest): Promise<PulledFile> {
  // At least 10 MB/s, or the cap when it is slower, plus a minute of slack.
  const rate = Math.min(10_000_000, r.maxBytesPerSecond ?? Infinity);
  const d = deadline(`copy of ${r.url}`, r.timeoutMs ?? 60_000 + Math.ceil((r.sizeBytes / rate) * 1000), r.signal);
  const t0 = performance.now();
  try {
    let res: IncomingMessage;
    try {
      res = await get(r.url, r.token, d.signal, r.maxBytesPerSecond);
    } catch (err) {
      if (d.signal.aborted) throw d.signal.reason instanceof Error ? d.signal.reason : err;
      throw new UnreachableError(r.url, errorMessage(err), { cause: err });
    }
    if (res.statusCode !== 200) throw await errorOf(r.url, res);
    const announced = Number(res.headers[SIZE_HEADER]);
    if (announced !== r.sizeBytes) {
      res.destroy();
      throw new FileTransferError(r.url, `the source announces ${String(res.headers[SIZE_HEADER])} bytes, the offer said ${r.sizeBytes}`);
    }
    const fh = await open(r.dest, 'w');
    try {
      const sink = new FileReceiveStream(fh, { maxBytesPerSecond: r.maxBytesPerSecond, onBytes: r.onBytes });
      try {
        await pipeline(res, sink, { signal: d.signal });
      } catch (err) {
        if (d.signal.aborted) throw d.signal.reason instanceof Error ? d.signal.reason : err;
        throw new FileTransferError(r.url, `the stream broke off after ${sink.writtenBytes} of ${r.sizeBytes} bytes: ${errorMessage(err)}`);
      } finally {
        // A flush beside the stream still running is waited for: the handle closes after it (its error is told below).
        await sink.flushed().catch(() => {});
      }
      await sink.flushed();
      const size = sink.writtenBytes;
      const digest = await sink.digest();
      const theirs = res.trailers[SHA256_TRAILER];
      if (size !== r.sizeBytes) throw new FileTransferError(r.url, `got ${size} bytes, expected ${r.sizeBytes}`);
      if (theirs === undefined) throw new FileTransferError(r.url, 'the source sent no sha256 (it could not send the whole file)');
      if (theirs !== digest) throw new FileTransferError(r.url, `sha256 mismatch: received ${digest}, the source sent ${theirs}`);
      const t1 = performance.now();
      // The source's copy is deleted once the controller committed: ours must be on the disk first.
      await fh.sync();
      return { sha256: digest, streamMs: Math.round(t1 - t0), syncMs: Math.round(performance.now() - t1), meanReadBytes: Math.round(size / Math.max(1, sink.chunkCount)), via: 'network' };
    } finally {
      await fh.close();
    }
  } finally {
    d.dispose();
  }
}
