import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TimeoutError } from '../errors/timeout-error.js';
import { routeSignal } from './route-signal.js';

function exchange(): { req: FastifyRequest; reply: FastifyReply; raw: EventEmitter & { writableFinished: boolean } } {
  const raw = Object.assign(new EventEmitter(), { writableFinished: false });
  const req = { method: 'POST', url: '/agent/v1/vms/v1/start', routeOptions: { url: '/agent/v1/vms/:id/start' } } as unknown as FastifyRequest;
  return { req, reply: { raw } as unknown as FastifyReply, raw };
}

test('a route\'s signal aborts when the client goes away', () => {
  const { req, reply, raw } = exchange();
  const signal = routeSignal(req, reply, 60_000);
  assert.equal(signal.aborted, false);
  raw.emit('close');
  assert.equal(signal.aborted, true);
  assert.match(String((signal.reason as Error).message), /client closed the connection/);
});

test('a route\'s signal aborts at its deadline with a TimeoutError naming the route; an answered route\'s timer ends', async () => {
  const { req, reply } = exchange();
  const signal = routeSignal(req, reply, 20);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.ok(signal.reason instanceof TimeoutError, String(signal.reason));
  assert.match(signal.reason.message, /POST \/agent\/v1\/vms\/:id\/start timed out after 20 ms/);

  const done = exchange();
  const answered = routeSignal(done.req, done.reply, 20);
  done.raw.writableFinished = true;
  done.raw.emit('close');
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(answered.aborted, false, 'a finished response neither aborts nor times out');
});
