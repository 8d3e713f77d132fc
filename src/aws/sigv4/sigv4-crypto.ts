import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
/** sha256 of the empty string, hex: the "previous header" hash in every chunk's string to sign. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
export const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** How many (secret, day, region, service) keys are kept: past it the cache starts again empty. */
const SIGNING_KEYS_KEPT = 1024;
const signingKeys = new Map<string, Buffer>();

/**
 * The key of one day, region and service (AWS's kDate → kRegion → kService → kSigning chain). The same for every
 * request of a key in a day, so it is derived once and kept (as AWS's own SDKs do on the signing side): four HMACs
 * fewer per request. The secret is looked up (and a revoked key refused) before this, on every request still (the
 * controller's AccessKeys keeps a key it found for 2 s and forgets it when the key or its user is deleted).
 * The Buffer returned is shared: callers must not write to it.
 */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const id = JSON.stringify([secret, date, region, service]);
  const kept = signingKeys.get(id);
  if (kept !== undefined) return kept;
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  if (signingKeys.size >= SIGNING_KEYS_KEPT) signingKeys.clear();
  signingKeys.set(id, key);
  return key;
}

/** Hex signatures compared in constant time (a mismatch in length is a mismatch). */
export function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
