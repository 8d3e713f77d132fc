import { canonicalQuery, canonicalUri, uriEncode } from './canonical-request.js';
import { ALGORITHM, hmac, sha256Hex, signingKey } from './sigv4-crypto.js';

export interface PresignGetInput {
  /** `http://host:port` of the S3 listener, no path. */
  readonly endpoint: string;
  readonly bucket: string;
  readonly key: string;
  readonly accessKeyId: string;
  readonly secret: string;
  readonly region: string;
  readonly expiresSeconds: number;
  readonly now: Date;
  /** GET by default; PUT for a presigned upload (its body unsigned: `UNSIGNED-PAYLOAD`, as the SDK's presigner makes one). */
  readonly method?: 'GET' | 'PUT' | undefined;
}

/**
 * A path-style presigned S3 GET (or PUT) URL (query-string SigV4, UNSIGNED-PAYLOAD,
 * only `host` signed), as `getSignedUrl` of the AWS SDK makes one: what the
 * controller hands agents to fetch an image object. The same canonical form
 * as verify-sigv4.ts, so one module's reading is the other's writing.
 */
export function presignGetUrl(i: PresignGetInput): string {
  const url = new URL(i.endpoint);
  const amzDate = i.now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${i.region}/s3/aws4_request`;
  const path = `/${i.bucket}/${i.key}`;
  const pairs: Array<[string, string]> = [
    ['X-Amz-Algorithm', ALGORITHM],
    ['X-Amz-Content-Sha256', 'UNSIGNED-PAYLOAD'],
    ['X-Amz-Credential', `${i.accessKeyId}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(i.expiresSeconds)],
    ['X-Amz-SignedHeaders', 'host'],
  ];
  const canonical = [i.method ?? 'GET', canonicalUri(path, 's3'), canonicalQuery(pairs), `host:${url.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const toSign = `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
  const signature = hmac(signingKey(i.secret, day, i.region, 's3'), toSign).toString('hex');
  return `${url.protocol}//${url.host}${uriEncode(path, true)}?${canonicalQuery(pairs)}&X-Amz-Signature=${signature}`;
}
