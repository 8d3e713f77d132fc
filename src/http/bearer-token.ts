import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { NuboError } from '../errors/nubo-error.js';

export class UnauthorizedError extends NuboError {
  readonly code = 'UNAUTHORIZED';
  constructor(reason: string) {
    super(`unauthorized: ${reason}`, { reason });
  }
}

/** The token of an `Authorization: Bearer …` header; throws UnauthorizedError without one. */
export function bearerToken(req: FastifyRequest): string {
  const h = req.headers.authorization;
  const m = h === undefined ? null : /^Bearer\s+(\S+)$/i.exec(h);
  if (!m?.[1]) throw new UnauthorizedError('missing bearer token');
  return m[1];
}

/** Compares secrets in constant time (by their hashes, so lengths may differ). */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
