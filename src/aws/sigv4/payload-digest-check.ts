import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AwsPayloadError } from './aws-payload-error.js';
import type { PayloadChecksum } from './payload-checksum.js';

export interface DigestCheckOptions {
  /** The signed sha256 of the body (x-amz-content-sha256), hex. */
  readonly sha256?: string | undefined;
  /** An x-amz-checksum-* header sent with a plain body: its name, value and running checksum. */
  readonly checksum?: { readonly name: string; readonly value: string; readonly running: PayloadChecksum } | undefined;
}

/** Passes a plain body through while hashing it; at its end the hash must be the signed one (and the checksum the declared one), else the stream fails. */
export class PayloadDigestCheck extends Transform {
  readonly #sha: Hash | undefined;

  constructor(private readonly o: DigestCheckOptions) {
    super();
    this.#sha = o.sha256 !== undefined ? createHash('sha256') : undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#sha?.update(chunk);
    this.o.checksum?.running.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.#sha && this.o.sha256 !== undefined) {
      const actual = this.#sha.digest('hex');
      if (actual !== this.o.sha256) return done(new AwsPayloadError('XAmzContentSHA256Mismatch', 'The provided \'x-amz-content-sha256\' header does not match what was computed.', { sent: this.o.sha256, actual }));
    }
    const c = this.o.checksum;
    if (c) {
      const actual = c.running.digestBase64();
      if (actual !== c.value) return done(new AwsPayloadError('BadDigest', `the ${c.name} you specified did not match the calculated checksum`, { sent: c.value, actual }));
    }
    done();
  }
}
