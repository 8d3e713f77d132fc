import type { Transform } from 'node:stream';
import { AwsChunkedDecoder } from './aws-chunked-decoder.js';
import { AwsPayloadError } from './aws-payload-error.js';
import { headerValue, type Headers } from './canonical-request.js';
import { isChecksumAlgorithm, payloadChecksum } from './payload-checksum.js';
import { PayloadDigestCheck } from './payload-digest-check.js';
import type { PayloadClaim } from './verify-sigv4.js';

/** aws-chunked bodies from this size on have their checksum worked out on a thread: below it, a thread's round trip costs more than the hashing. */
export const ON_THREAD_FROM_BYTES = 1 << 20;

/**
 * The one stream a verified request's body goes through: it yields the
 * decoded data and fails at the end (or at the first bad chunk) when the body
 * is not what was signed or declared. The caller keeps nothing until it ends
 * cleanly.
 */
export function payloadReader(payload: PayloadClaim, headers: Headers): Transform {
  const decodedLength = headerValue(headers, 'x-amz-decoded-content-length');
  if (decodedLength !== undefined && !/^\d{1,15}$/.test(decodedLength)) {
    throw new AwsPayloadError('InvalidRequest', 'x-amz-decoded-content-length must be a whole number of bytes', { field: 'x-amz-decoded-content-length' });
  }
  const trailer = headerValue(headers, 'x-amz-trailer');
  const length = Number(decodedLength ?? headerValue(headers, 'content-length') ?? NaN);
  // A large aws-chunked body's checksum trailer (the SDK's one stream: its CRC32 took 0.57 s of the event loop per GiB)
  // goes to a hash pool thread. A plain body's digests stay here: those are awscli's and boto3's parts, 8 MiB ten at a
  // time, where per-part thread jobs cost more CPU than they saved (bench/s3, awscli PUT: 9-10 s of controller CPU per
  // GiB on threads against 6.5-7 in place; again with the 1 MiB batches: 4.8 against 3.4). Nor for one large signed
  // body (awscli's s3api put-object of 512 MiB, 3 runs each): 4.0 s per GiB with its SHA-256 on a thread beside the
  // MD5's, 3.6 in place, at the same speed — the one MD5 bounds a PUT, and 64 KiB of SHA-256 is ~50 µs of the loop.
  const onThread = !(length < ON_THREAD_FROM_BYTES);
  switch (payload.kind) {
    case 'streaming-signed':
    case 'streaming-unsigned-trailer':
      return new AwsChunkedDecoder({
        chain: payload.kind === 'streaming-signed' ? payload.chain : undefined,
        trailer: payload.kind === 'streaming-unsigned-trailer' || payload.trailer,
        announcedTrailer: trailer,
        decodedLength: decodedLength === undefined ? undefined : Number(decodedLength),
        onThread,
      });
    case 'sha256':
    case 'unsigned':
      return new PayloadDigestCheck({ sha256: payload.kind === 'sha256' ? payload.sha256 : undefined, checksum: headerChecksum(headers, false), onThread: false });
  }
}

/** An `x-amz-checksum-ALG` header on a plain body (one at most). */
function headerChecksum(headers: Headers, onThread: boolean): { name: string; value: string; running: ReturnType<typeof payloadChecksum> } | undefined {
  for (const name of Object.keys(headers)) {
    if (!name.startsWith('x-amz-checksum-') || name === 'x-amz-checksum-type' || name === 'x-amz-checksum-algorithm') continue;
    const algorithm = name.slice('x-amz-checksum-'.length);
    if (!isChecksumAlgorithm(algorithm)) throw new AwsPayloadError('InvalidRequest', `${name} is not a checksum nubo verifies (crc32, crc32c, sha1, sha256)`, { field: name });
    const value = headerValue(headers, name);
    if (value !== undefined) return { name, value, running: payloadChecksum(algorithm, { onThread }) };
  }
  return undefined;
}
