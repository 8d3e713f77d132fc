import { Transform, type TransformCallback } from 'node:stream';
import { AwsPayloadError } from './aws-payload-error.js';
import { payloadChecksum, type PayloadChecksum } from './payload-checksum.js';

export interface DigestCheckOptions {
  /** The signed sha256 of the body (x-amz-content-sha256), hex. */
  readonly sha256?: string | undefined;
  /** An x-amz-checksum-* header sent with a plain body: its name, value and running checksum. */
  readonly checksum?: { readonly name: string; readonly value: string; readonly running: PayloadChecksum } | undefined;
  /** The SHA-256 on a hash pool thread (a large body). */
  readonly onThread?: boolean | undefined;
}

/**
 * Passes a plain body through while hashing it; at its end the hash must be
 * the signed one (and the checksum the declared one), else the stream fails.
 * A chunk goes on once it is handed to the hashes (a thread's are copied at
 * once and run beside whatever writes the chunk); the verdict comes at the end.
 */
export class PayloadDigestCheck extends Transform {
  readonly #sha: PayloadChecksum | undefined;

  constructor(private readonly o: DigestCheckOptions) {
    super();
    this.#sha = o.sha256 !== undefined ? payloadChecksum('sha256', { onThread: o.onThread ?? false }) : undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const a = this.#sha?.update(chunk);
    const b = this.o.checksum?.running.update(chunk);
    if (a === undefined && b === undefined) return done(null, chunk);
    // A thread's backlog holds the body back (its memory is bounded), not the chunk: it has been copied already.
    Promise.all([a, b]).then(() => done(null, chunk), done);
  }

  override _flush(done: TransformCallback): void {
    this.#verdict().then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    this.#sha?.drop();
    this.o.checksum?.running.drop();
    done(err);
  }

  async #verdict(): Promise<void> {
    if (this.#sha && this.o.sha256 !== undefined) {
      const actual = (await this.#sha.digest()).toString('hex');
      if (actual !== this.o.sha256) throw new AwsPayloadError('XAmzContentSHA256Mismatch', 'The provided \'x-amz-content-sha256\' header does not match what was computed.', { sent: this.o.sha256, actual });
    }
    const c = this.o.checksum;
    if (c) {
      const actual = (await c.running.digest()).toString('base64');
      if (actual !== c.value) throw new AwsPayloadError('BadDigest', `the ${c.name} you specified did not match the calculated checksum`, { sent: c.value, actual });
    }
  }
}
