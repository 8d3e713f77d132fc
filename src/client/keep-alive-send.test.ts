import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { keepAliveSend } from './keep-alive-send.js';
import { jsonRequest } from './json-request.js';
import { RemoteError, UnreachableError } from './remote-error.js';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((ok) => server.close(() => ok()));
}

test('calls to one server share a kept-alive connection; the body, method and headers arrive', async () => {
  const sockets = new Set<unknown>();
  const seen: string[] = [];
  const server = createServer((req, res) => {
    sockets.add(req.socket);
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${req.headers['authorization']} ${body}`);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ n: seen.length }));
    });
  });
  const url = await listen(server);
  try {
    for (let i = 0; i < 5; i++) {
      const a = await keepAliveSend({ method: 'GET', url: `${url}/x`, headers: { authorization: 'Bearer t' }, signal: AbortSignal.timeout(5_000) });
      assert.deepEqual(a, { status: 200, text: JSON.stringify({ n: i + 1 }) });
    }
    const posted = await keepAliveSend({ method: 'POST', url: `${url}/y`, headers: { 'content-type': 'application/json' }, body: '{"a":"é"}', signal: AbortSignal.timeout(5_000) });
    assert.equal(posted.status, 200);
    assert.equal(seen.at(-1), 'POST /y undefined {"a":"é"}');
    assert.equal(sockets.size, 1, 'one connection for every call');
  } finally {
    await close(server);
  }
});

test('an abort rejects with its reason; no server, or one that dies mid-answer, rejects with the socket\'s error', async () => {
  const server = createServer((req, res) => {
    if (req.url === '/slow') return; // never answers
    // Promises a long body and ends the connection after part of it.
    res.writeHead(200, { 'content-length': '100' });
    res.write('partial');
    setImmediate(() => req.socket.destroy());
  });
  const url = await listen(server);
  try {
    const reason = new Error('given up');
    const ac = new AbortController();
    const slow = keepAliveSend({ method: 'GET', url: `${url}/slow`, headers: {}, signal: ac.signal });
    setTimeout(() => ac.abort(reason), 50);
    await assert.rejects(slow, (err) => err === reason);
    await assert.rejects(keepAliveSend({ method: 'GET', url: `${url}/cut`, headers: {}, signal: AbortSignal.timeout(5_000) }), /closed before the answer ended|aborted|ECONNRESET/);
  } finally {
    await close(server);
  }
  await assert.rejects(keepAliveSend({ method: 'GET', url, headers: {}, signal: AbortSignal.timeout(5_000) }), /ECONNREFUSED/);
});

test('jsonRequest over kept-alive connections: answers parsed, error bodies as RemoteError, no answer as UnreachableError', async () => {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/ok') res.end(JSON.stringify({ state: 'running' }));
    else if (req.url === '/slow') return;
    else {
      res.statusCode = 409;
      res.end(JSON.stringify({ error: { code: 'CONFLICT', message: 'busy', details: { vmId: 'v' } } }));
    }
  });
  const url = await listen(server);
  try {
    const schema = z.object({ state: z.string() });
    assert.deepEqual(await jsonRequest({ method: 'GET', url: `${url}/ok`, token: 't', schema, keepAlive: true }), { state: 'running' });
    await assert.rejects(jsonRequest({ method: 'POST', url: `${url}/no`, token: 't', body: {}, keepAlive: true }), (err) => err instanceof RemoteError && err.status === 409 && err.code === 'CONFLICT' && err.details['vmId'] === 'v');
    await assert.rejects(jsonRequest({ method: 'GET', url: `${url}/slow`, token: 't', timeoutMs: 100, keepAlive: true }), UnreachableError);
    const ac = new AbortController();
    const reason = new Error('the controller is stopping');
    const cut = jsonRequest({ method: 'GET', url: `${url}/slow`, token: 't', signal: ac.signal, keepAlive: true });
    ac.abort(reason);
    await assert.rejects(cut, (err) => !(err instanceof UnreachableError), 'the caller\'s own abort is not taken for an unreachable agent');
  } finally {
    await close(server);
  }
  await assert.rejects(jsonRequest({ method: 'GET', url: `${url}/ok`, token: 't', keepAlive: true }), UnreachableError);
});

test('a connection never made (refused) is an UnreachableError marked notSent; a reset after the request went out is not', async () => {
  const server = createServer((req) => {
    // The request arrived whole: the server could have acted on it before the connection broke.
    req.socket.destroy();
  });
  const url = await listen(server);
  try {
    const reset = await keepAliveSend({ method: 'PUT', url: `${url}/vms/a`, headers: {}, body: '{}', signal: AbortSignal.timeout(5_000) }).then(() => undefined, (err: unknown) => err);
    assert.ok(reset instanceof Error && !(reset instanceof UnreachableError), `the socket's own error, not a "not sent": ${String(reset)}`);
    await assert.rejects(jsonRequest({ method: 'PUT', url: `${url}/vms/a`, token: 't', body: {}, keepAlive: true }), (err) => err instanceof UnreachableError && !err.notSent && err.details['notSent'] === undefined);
  } finally {
    await close(server);
  }
  // Nothing listens there any more: the connection is refused, the request never left.
  const refused = await keepAliveSend({ method: 'PUT', url: `${url}/vms/a`, headers: {}, body: '{}', signal: AbortSignal.timeout(5_000) }).then(() => undefined, (err: unknown) => err);
  assert.ok(refused instanceof UnreachableError && refused.notSent, String(refused));
  assert.match(refused.message, /ECONNREFUSED.*the request was not sent/);
  await assert.rejects(jsonRequest({ method: 'PUT', url: `${url}/vms/a`, token: 't', body: {}, keepAlive: true }), (err) => err instanceof UnreachableError && err.notSent && err.details['notSent'] === true);
  // fetch (the API clients' path) says the same of a refused connection.
  await assert.rejects(jsonRequest({ method: 'GET', url: `${url}/x`, token: 't' }), (err) => err instanceof UnreachableError && err.notSent);
});
