import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyRequest } from 'fastify';
import { webSocketBearerToken } from './websocket-bearer-token.js';

const req = (headers: Record<string, string>): FastifyRequest => ({ headers }) as unknown as FastifyRequest;

test('the token is read from a bearer.<token> subprotocol of a WebSocket upgrade', () => {
  assert.equal(webSocketBearerToken(req({ upgrade: 'websocket', 'sec-websocket-protocol': 'nubo.console, bearer.nubo_abc-DEF_1' })), 'nubo_abc-DEF_1');
  assert.equal(webSocketBearerToken(req({ upgrade: 'WebSocket', 'sec-websocket-protocol': 'bearer.t1,nubo.console' })), 't1');
});

test('no token: not an upgrade, no subprotocols, none that carries one, or an empty one', () => {
  // A plain request must keep needing the Authorization header.
  assert.equal(webSocketBearerToken(req({ 'sec-websocket-protocol': 'bearer.t1' })), undefined);
  assert.equal(webSocketBearerToken(req({ upgrade: 'h2c', 'sec-websocket-protocol': 'bearer.t1' })), undefined);
  assert.equal(webSocketBearerToken(req({ upgrade: 'websocket' })), undefined);
  assert.equal(webSocketBearerToken(req({ upgrade: 'websocket', 'sec-websocket-protocol': 'nubo.console' })), undefined);
  assert.equal(webSocketBearerToken(req({ upgrade: 'websocket', 'sec-websocket-protocol': 'nubo.console, bearer.' })), undefined);
});
