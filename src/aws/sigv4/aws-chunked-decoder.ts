import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AwsPayloadError } from './aws-payload-error.js';
import { isChecksumAlgorithm, payloadChecksum, type PayloadChecksum } from './payload-checksum.js';
import { EMPTY_SHA256, hmac, sameSignature, sha256Hex } from './sigv4-crypto.js';
import type { ChunkChain } from './verify-sigv4.js';

export interface AwsChunkedOptions {
  /** Signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD…): each chunk's signature is checked against this chain. */
  readonly chain?: ChunkChain | undefined;
  /** Trailers follow the last chunk. */
  readonly trailer: boolean;
  /** The `x-amz-trailer` header: the checksum trailer the client announced (e.g. `x-amz-checksum-crc32`). */
  readonly announcedTrailer?: string | undefined;
  /** `x-amz-decoded-content-length`, when sent: the body must decode to exactly this many bytes. */
  readonly decodedLength?: number | undefined;
  /** The checksum on a hash pool thread (a large body). */
  readonly onThread?: boolean | undefined;
}

/** Longest chunk-size or trailer line accepted (a signature line is ~100 bytes). */
const MAX_LINE = 4096;

type State = 'size' | 'data' | 'data-end' | 'final-end' | 'trailers' | 'done';

/**
 * Decodes an `aws-chunked` body as it streams — `SIZE;chunk-signature=SIG\r\n
 * DATA\r\n … 0;…\r\n [trailers] \r\n` — passing on only the data. Verifies each
 * chunk's signature (chained from the request's own), the trailer signature,
 * the announced checksum trailer against the data, and the decoded length;
 * the first mismatch fails the stream with AwsPayloadError, so the reader
 * never commits a body that was not what was signed. The data is passed on
 * as views of the chunks that came in (no copy); the checksum may run on a
 * thread, its verdict then at the body's end.
 */
export class AwsChunkedDecoder extends Transform {
  #state: State = 'size';
  #line: Buffer[] = [];
  #lineLength = 0;
  #remaining = 0;
  #chunkSignature: string | undefined;
  #chunkHash: Hash | undefined;
  #previous: string | undefined;
  #decoded = 0;
  readonly #trailers = new Map<string, string>();
  readonly #checksum: PayloadChecksum | undefined;
  readonly #checksumName: string | undefined;
  /** The checksum trailer as sent, compared with the data's at the end. */
  #sentChecksum: string | undefined;
  /** A thread's backlog: the next chunk is taken once it has room. */
  #room: Promise<void> | undefined;

  constructor(private readonly o: AwsChunkedOptions) {
    super();
    this.#previous = o.chain?.seedSignature;
    const name = o.announcedTrailer?.trim().toLowerCase();
    if (name !== undefined && name !== '') {
      const algorithm = name.replace(/^x-amz-checksum-/, '');
      if (!name.startsWith('x-amz-checksum-') || !isChecksumAlgorithm(algorithm)) {
        throw new AwsPayloadError('InvalidRequest', `x-amz-trailer ${name} is not a checksum nubo verifies (crc32, crc32c, sha1, sha256)`, { field: 'x-amz-trailer' });
      }
      this.#checksum = payloadChecksum(algorithm, { onThread: o.onThread ?? false });
      this.#checksumName = name;
    }
  }

  /** The trailers received (checksums by name), once the stream has ended. */
  get trailers(): ReadonlyMap<string, string> {
    return this.#trailers;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      let at = 0;
      while (at < chunk.length) at = this.#step(chunk, at);
    } catch (err) {
      return done(err as Error);
    }
    const room = this.#room;
    if (room === undefined) return done();
    this.#room = undefined;
    room.then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    if (this.#state !== 'done') return done(new AwsPayloadError('IncompleteBody', 'the aws-chunked body ended before its final chunk'));
    if (this.o.decodedLength !== undefined && this.#decoded !== this.o.decodedLength) {
      return done(new AwsPayloadError('IncompleteBody', `the body decoded to ${this.#decoded} bytes; x-amz-decoded-content-length says ${this.o.decodedLength}`));
    }
    this.#checkChecksum().then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    this.#checksum?.drop();
    done(err);
  }

  /** Consumes what it can of `chunk` from `at`; returns where it stopped. */
  #step(chunk: Buffer, at: number): number {
    if (this.#state === 'data') {
      const n = Math.min(this.#remaining, chunk.length - at);
      const data = chunk.subarray(at, at + n);
      this.#chunkHash?.update(data);
      const room = this.#checksum?.update(data);
      // Every one awaited (a thread that ended rejects them all): joined when one read held several chunks' data.
      if (room !== undefined) this.#room = this.#room === undefined ? room : Promise.all([this.#room, room]).then(() => undefined);
      this.#decoded += n;
      this.#remaining -= n;
      this.push(data);
      if (this.#remaining === 0) this.#state = 'data-end';
      return at + n;
    }
    if (this.#state === 'done') {
      // Some clients end with one more CRLF; nothing else may follow.
      const rest = chunk.subarray(at);
      if (rest.some((b) => b !== 0x0d && b !== 0x0a)) throw new AwsPayloadError('IncompleteBody', 'data after the final aws-chunked chunk');
      return chunk.length;
    }
    // Lines end in CRLF; the LF ends them (a CRLF split across two reads is then no special case).
    const eol = chunk.indexOf(0x0a, at);
    if (eol < 0) {
      this.#collect(chunk.subarray(at));
      return chunk.length;
    }
    this.#collect(chunk.subarray(at, eol));
    const raw = Buffer.concat(this.#line);
    this.#line = [];
    this.#lineLength = 0;
    this.#onLine(raw.toString('latin1').replace(/\r$/, ''));
    return eol + 1;
  }

  #collect(part: Buffer): void {
    this.#lineLength += part.length;
    if (this.#lineLength > MAX_LINE) throw new AwsPayloadError('IncompleteBody', 'an aws-chunked size or trailer line is too long');
    this.#line.push(part);
  }

  #onLine(line: string): void {
    switch (this.#state) {
      case 'size': return this.#onSizeLine(line);
      case 'data-end':
        if (line !== '') throw new AwsPayloadError('IncompleteBody', 'an aws-chunked chunk is longer than its declared size');
        this.#endChunk();
        this.#state = 'size';
        return;
      case 'final-end':
        if (line !== '') throw new AwsPayloadError('IncompleteBody', 'data after the final aws-chunked chunk');
        this.#state = 'done';
        return;
      case 'trailers': return this.#onTrailerLine(line);
      default: return;
    }
  }

  #onSizeLine(line: string): void {
    const [size, ...exts] = line.split(';');
    if (size === undefined || !/^[0-9a-fA-F]{1,16}$/.test(size)) throw new AwsPayloadError('IncompleteBody', `'${line.slice(0, 40)}' is not an aws-chunked size line`);
    this.#remaining = parseInt(size, 16);
    this.#chunkSignature = exts.find((e) => e.startsWith('chunk-signature='))?.slice('chunk-signature='.length);
    if (this.o.chain && this.#chunkSignature === undefined) throw new AwsPayloadError('SignatureDoesNotMatch', 'a chunk of a signed aws-chunked body has no chunk-signature');
    this.#chunkHash = this.o.chain ? createHash('sha256') : undefined;
    if (this.#remaining > 0) {
      this.#state = 'data';
      return;
    }
    this.#endChunk();
    this.#state = this.o.trailer ? 'trailers' : 'final-end';
  }

  /** Checks the signature of the chunk just read against the chain. */
  #endChunk(): void {
    const chain = this.o.chain;
    if (!chain || !this.#chunkHash || this.#chunkSignature === undefined) return;
    const toSign = `AWS4-HMAC-SHA256-PAYLOAD\n${chain.amzDate}\n${chain.scope}\n${this.#previous}\n${EMPTY_SHA256}\n${this.#chunkHash.digest('hex')}`;
    const expected = hmac(chain.signingKey, toSign).toString('hex');
    if (!sameSignature(expected, this.#chunkSignature)) throw new AwsPayloadError('SignatureDoesNotMatch', 'a chunk signature of the aws-chunked body does not match', { chunkSignature: this.#chunkSignature });
    this.#previous = expected;
    this.#chunkHash = undefined;
  }

  #onTrailerLine(line: string): void {
    if (line !== '') {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new AwsPayloadError('IncompleteBody', `'${line.slice(0, 40)}' is not a trailer`);
      this.#trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      return;
    }
    this.#checkTrailers();
    this.#state = 'done';
  }

  #checkTrailers(): void {
    const chain = this.o.chain;
    if (chain) {
      const signature = this.#trailers.get('x-amz-trailer-signature');
      if (signature === undefined) throw new AwsPayloadError('SignatureDoesNotMatch', 'the signed aws-chunked body has no x-amz-trailer-signature');
      const canonical = [...this.#trailers].filter(([k]) => k !== 'x-amz-trailer-signature').map(([k, v]) => `${k}:${v}\n`).join('');
      const toSign = `AWS4-HMAC-SHA256-TRAILER\n${chain.amzDate}\n${chain.scope}\n${this.#previous}\n${sha256Hex(canonical)}`;
      if (!sameSignature(hmac(chain.signingKey, toSign).toString('hex'), signature)) throw new AwsPayloadError('SignatureDoesNotMatch', 'the trailer signature of the aws-chunked body does not match');
    }
    if (this.#checksumName !== undefined) {
      this.#sentChecksum = this.#trailers.get(this.#checksumName);
      if (this.#sentChecksum === undefined) throw new AwsPayloadError('IncompleteBody', `the announced trailer ${this.#checksumName} did not come`);
    }
  }

  /** The announced checksum trailer against the data's (at the end: the data's may still be worked out on a thread). */
  async #checkChecksum(): Promise<void> {
    const sent = this.#sentChecksum;
    if (this.#checksum === undefined || sent === undefined) return;
    const actual = (await this.#checksum.digest()).toString('base64');
    if (sent !== actual) throw new AwsPayloadError('BadDigest', `the ${this.#checksumName ?? 'checksum'} you specified did not match the calculated checksum`, { sent, actual });
  }
}
