import { AwsAuthError } from './aws-auth-error.js';
import { ALGORITHM } from './sigv4-crypto.js';
import { headerValue, type Headers } from './canonical-request.js';

/** What a request claims about its signature, from its Authorization header or its presigned query. */
export interface SignatureClaim {
  readonly presigned: boolean;
  readonly accessKeyId: string;
  /** YYYYMMDD of the credential scope. */
  readonly scopeDate: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
  /** The request's time, YYYYMMDD'T'HHMMSS'Z'. */
  readonly amzDate: string;
  /** Presigned only: seconds the URL stays valid. */
  readonly expiresSeconds?: number;
}

const AMZ_DATE = /^\d{8}T\d{6}Z$/;
const MAX_PRESIGNED_EXPIRY = 7 * 24 * 3600;

function parseCredential(credential: string, where: string): { accessKeyId: string; scopeDate: string; region: string; service: string } {
  const parts = credential.split('/');
  const [accessKeyId, scopeDate, region, service, terminator] = parts;
  if (parts.length !== 5 || !accessKeyId || !scopeDate || !region || !service || terminator !== 'aws4_request' || !/^\d{8}$/.test(scopeDate)) {
    throw new AwsAuthError('malformed', `${where}: the Credential must be ACCESSKEY/YYYYMMDD/REGION/SERVICE/aws4_request`, { field: 'Credential' });
  }
  return { accessKeyId, scopeDate, region, service };
}

function parseSignedHeaders(list: string, where: string): string[] {
  const names = list.split(';');
  if (names.some((n) => n === '' || n !== n.toLowerCase())) throw new AwsAuthError('malformed', `${where}: SignedHeaders must be lower-case names joined by ';'`, { field: 'SignedHeaders' });
  return names;
}

/** `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` */
function fromHeader(auth: string, headers: Headers): SignatureClaim {
  const where = 'Authorization header';
  if (!auth.startsWith(`${ALGORITHM} `)) throw new AwsAuthError('malformed', `${where}: only ${ALGORITHM} (Signature Version 4) is accepted`, { field: 'Authorization' });
  const fields = new Map<string, string>();
  for (const part of auth.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw new AwsAuthError('malformed', `${where}: Credential, SignedHeaders and Signature are all required`, { field: 'Authorization' });
  }
  const amzDate = headerValue(headers, 'x-amz-date') ?? amzDateOf(headerValue(headers, 'date'));
  if (amzDate === undefined || !AMZ_DATE.test(amzDate)) throw new AwsAuthError('malformed', 'X-Amz-Date (or Date) header missing or not YYYYMMDDTHHMMSSZ', { field: 'x-amz-date' });
  return { presigned: false, ...parseCredential(credential, where), signedHeaders: parseSignedHeaders(signedHeaders, where), signature, amzDate };
}

/** An HTTP Date header as an X-Amz-Date. */
function amzDateOf(date: string | undefined): string | undefined {
  if (date === undefined) return undefined;
  const t = Date.parse(date);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function fromQuery(q: ReadonlyMap<string, string>): SignatureClaim {
  const where = 'presigned URL';
  const get = (name: string): string => {
    const v = q.get(name);
    if (v === undefined) throw new AwsAuthError('malformed', `${where}: ${name} is missing`, { field: name });
    return v;
  };
  if (get('X-Amz-Algorithm') !== ALGORITHM) throw new AwsAuthError('malformed', `${where}: X-Amz-Algorithm must be ${ALGORITHM}`, { field: 'X-Amz-Algorithm' });
  const amzDate = get('X-Amz-Date');
  if (!AMZ_DATE.test(amzDate)) throw new AwsAuthError('malformed', `${where}: X-Amz-Date must be YYYYMMDDTHHMMSSZ`, { field: 'X-Amz-Date' });
  const expires = get('X-Amz-Expires');
  const expiresSeconds = /^\d{1,7}$/.test(expires) ? Number(expires) : NaN;
  if (!(expiresSeconds >= 1 && expiresSeconds <= MAX_PRESIGNED_EXPIRY)) {
    throw new AwsAuthError('malformed', `${where}: X-Amz-Expires must be a whole number of seconds from 1 to ${MAX_PRESIGNED_EXPIRY}`, { field: 'X-Amz-Expires' });
  }
  return {
    presigned: true, ...parseCredential(get('X-Amz-Credential'), where), signedHeaders: parseSignedHeaders(get('X-Amz-SignedHeaders'), where),
    signature: get('X-Amz-Signature'), amzDate, expiresSeconds,
  };
}

/** The signature a request claims, from its Authorization header or else its presigned query; neither → `missing`. */
export function parseSignatureClaim(headers: Headers, query: ReadonlyMap<string, string>): SignatureClaim {
  const auth = headerValue(headers, 'authorization');
  if (auth !== undefined) return fromHeader(auth, headers);
  if (query.has('X-Amz-Signature') || query.has('X-Amz-Credential')) return fromQuery(query);
  throw new AwsAuthError('missing', 'the request is not signed: send an Authorization header (AWS Signature Version 4) or a presigned URL');
}

/** YYYYMMDD'T'HHMMSS'Z' → epoch milliseconds. */
export function amzDateMs(amzDate: string): number {
  return Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
}
