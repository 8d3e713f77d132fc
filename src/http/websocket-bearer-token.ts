import type { FastifyRequest } from 'fastify';

/** The subprotocol prefix that carries a token on a WebSocket upgrade (`bearer.<token>`). */
export const WEBSOCKET_BEARER_PREFIX = 'bearer.';

/**
 * The token a browser sends on a WebSocket upgrade as a subprotocol
 * (`new WebSocket(url, ['nubo.console', 'bearer.<token>'])`), or undefined.
 * Browsers cannot set an Authorization header on a WebSocket, and a token in
 * the URL would end up in access logs; Kubernetes' API server does the same.
 * Only on upgrade requests, so a plain request still needs the header.
 */
export function webSocketBearerToken(req: FastifyRequest): string | undefined {
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return undefined;
  const offered = req.headers['sec-websocket-protocol'];
  if (offered === undefined) return undefined;
  for (const p of offered.split(',')) {
    const name = p.trim();
    if (name.startsWith(WEBSOCKET_BEARER_PREFIX) && name.length > WEBSOCKET_BEARER_PREFIX.length) return name.slice(WEBSOCKET_BEARER_PREFIX.length);
  }
  return undefined;
}
