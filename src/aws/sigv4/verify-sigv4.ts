import { AwsAuthError } from './aws-auth-error.js';
import { canonicalHeaders, canonicalQuery, canonicalUri, headerValue, parseQuery, uriDecode, type Headers } from './canonical-request.js';
import { amzDateMs, parseSignatureClaim } from './parse-credentials.js';
import { ALGORITHM, hmac, sameSignature, sha256Hex, signingKey } from './sigv4-crypto.js';

/** A request as it arrived, before its body is read. */
export interface SigV4Request {
  readonly method: string;
  /** The path and query exactly as sent (Node's `req.url`). */
  readonly url: string;
  /** Lower-case names (Node's `req.headers`). */
  readonly headers: Headers;
  /**
   * The body's sha256 (hex) when the caller holds it whole (EC2's small form
   * bodies). Omitted: the signed `x-amz-content-sha256` claim is used, and the
   * body must be checked against `payload` as it streams (S3).
   */
  readonly bodySha256?: string;
}

/** An access key's secret and owner; the lookup answers undefined for a key never made or revoked. */
export interface AccessKeySecret {
  readonly secret: string;
  readonly userId: string;
}

export interface SigV4Options {
  /** The region this endpoint signs for (`nubo-1`); any other is refused. */
  readonly region: string;
  /** `s3` or `ec2`; any other is refused. */
  readonly service: string;
  readonly lookupSecret: (accessKeyId: string) => Promise<AccessKeySecret | undefined>;
  readonly now: Date;
  /** Largest distance between the request's time and now; default 15 minutes, as AWS. */
  readonly maxSkewMs?: number;
}

/** What the signature says about the body, for the reader of the body to enforce. */
export type PayloadClaim =
  | { readonly kind: 'sha256'; readonly sha256: string }
  | { readonly kind: 'unsigned' }
  /** aws-chunked with a signature per chunk, each chained to the one before (`trailer`: signed trailers follow the last chunk). */
  | { readonly kind: 'streaming-signed'; readonly trailer: boolean; readonly chain: ChunkChain }
  /** aws-chunked, unsigned chunks, checksum trailers (the AWS SDK's default upload). */
  | { readonly kind: 'streaming-unsigned-trailer' };

/** What verifying the chunks of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body needs: the seed is the request's own signature. */
export interface ChunkChain {
  readonly signingKey: Buffer;
  readonly amzDate: string;
  readonly scope: string;
  readonly seedSignature: string;
}

export interface VerifiedRequest {
  readonly accessKeyId: string;
  readonly userId: string;
  readonly payload: PayloadClaim;
  readonly presigned: boolean;
}

const DEFAULT_MAX_SKEW_MS = 15 * 60_000;
const SHA256_HEX = /^[0-9a-f]{64}$/;

function payloadOf(claim: string, chain: ChunkChain): PayloadClaim | undefined {
  if (SHA256_HEX.test(claim)) return { kind: 'sha256', sha256: claim };
  switch (claim) {
    case 'UNSIGNED-PAYLOAD': return { kind: 'unsigned' };
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD': return { kind: 'streaming-signed', trailer: false, chain };
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER': return { kind: 'streaming-signed', trailer: true, chain };
    case 'STREAMING-UNSIGNED-PAYLOAD-TRAILER': return { kind: 'streaming-unsigned-trailer' };
    default: return undefined;
  }
}

/**
 * Verifies a request's AWS Signature Version 4 — Authorization header or
 * presigned query — before anything is done for it. Throws AwsAuthError (its
 * `reason` maps to each interface's AWS code); on success names the caller and
 * what the signature says about the body, which the body's reader enforces.
 */
export async function verifySigV4(req: SigV4Request, o: SigV4Options): Promise<VerifiedRequest> {
  const qi = req.url.indexOf('?');
  const rawPath = qi < 0 ? req.url : req.url.slice(0, qi);
  const pairs = parseQuery(qi < 0 ? '' : req.url.slice(qi + 1));
  const path = uriDecode(rawPath);
  if (pairs === undefined || path === undefined) throw new AwsAuthError('malformed', 'the URL has a malformed %-escape');
  const query = new Map(pairs);
  const claim = parseSignatureClaim(req.headers, query);

  if (claim.scopeDate !== claim.amzDate.slice(0, 8)) {
    throw new AwsAuthError('wrong-scope', `the credential's date ${claim.scopeDate} is not the request's date ${claim.amzDate.slice(0, 8)}`, { field: 'Credential' });
  }
  if (claim.region !== o.region) throw new AwsAuthError('wrong-scope', `the region '${claim.region}' is wrong; expecting '${o.region}'`, { field: 'Credential', region: claim.region, expected: o.region });
  if (claim.service !== o.service) throw new AwsAuthError('wrong-scope', `the service '${claim.service}' is wrong; expecting '${o.service}'`, { field: 'Credential', service: claim.service, expected: o.service });
  if (!claim.signedHeaders.includes('host')) throw new AwsAuthError('malformed', 'the Host header must be signed', { field: 'SignedHeaders' });

  const at = amzDateMs(claim.amzDate);
  const now = o.now.getTime();
  const maxSkew = o.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  if (claim.expiresSeconds !== undefined) {
    if (now > at + claim.expiresSeconds * 1000) throw new AwsAuthError('expired', 'Request has expired', { expiredAt: new Date(at + claim.expiresSeconds * 1000).toISOString() });
    if (at - now > maxSkew) throw new AwsAuthError('skewed', 'the presigned URL is not valid yet', { requestTime: claim.amzDate });
  } else if (Math.abs(now - at) > maxSkew) {
    throw new AwsAuthError('skewed', 'The difference between the request time and the current time is too large.', { requestTime: claim.amzDate, serverTime: o.now.toISOString() });
  }

  const payloadClaim = req.bodySha256
    ?? (claim.presigned ? query.get('X-Amz-Content-Sha256') ?? headerValue(req.headers, 'x-amz-content-sha256') ?? 'UNSIGNED-PAYLOAD' : headerValue(req.headers, 'x-amz-content-sha256'));
  if (payloadClaim === undefined) throw new AwsAuthError('malformed', 'Missing required header for this request: x-amz-content-sha256', { field: 'x-amz-content-sha256' });

  const key = await o.lookupSecret(claim.accessKeyId);
  if (!key) throw new AwsAuthError('unknown-key', 'The AWS Access Key Id you provided does not exist in our records.', { accessKeyId: claim.accessKeyId });

  const headers = canonicalHeaders(req.headers, claim.signedHeaders);
  if (headers === undefined) throw new AwsAuthError('signature', 'a signed header is missing from the request', { signedHeaders: claim.signedHeaders });
  const queryPairs = claim.presigned ? pairs.filter(([k]) => k !== 'X-Amz-Signature') : pairs;
  const canonical = [req.method, canonicalUri(path, o.service), canonicalQuery(queryPairs), headers, claim.signedHeaders.join(';'), payloadClaim].join('\n');
  const scope = `${claim.scopeDate}/${claim.region}/${claim.service}/aws4_request`;
  const stringToSign = `${ALGORITHM}\n${claim.amzDate}\n${scope}\n${sha256Hex(canonical)}`;
  const kSigning = signingKey(key.secret, claim.scopeDate, claim.region, claim.service);
  const expected = hmac(kSigning, stringToSign).toString('hex');
  if (!sameSignature(expected, claim.signature)) {
    throw new AwsAuthError('signature', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', { accessKeyId: claim.accessKeyId });
  }

  const chain: ChunkChain = { signingKey: kSigning, amzDate: claim.amzDate, scope, seedSignature: claim.signature };
  const payload = payloadOf(payloadClaim, chain);
  if (!payload) throw new AwsAuthError('malformed', `x-amz-content-sha256 '${payloadClaim}' is neither a sha256 nor a payload mode AWS defines`, { field: 'x-amz-content-sha256' });
  return { accessKeyId: claim.accessKeyId, userId: key.userId, payload, presigned: claim.presigned };
}
