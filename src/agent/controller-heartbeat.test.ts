import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { ControllerHeartbeat, parseControllerUrls } from './controller-heartbeat.js';
import { ValidationError } from '../errors/validation-error.js';
import type { HostReport } from '../contract/agent-api.js';

const logger = pino({ level: 'silent' });
const report = { name: 'h1' } as unknown as HostReport;

/** A controller stand-in that counts beats and answers with `status` and an optional leader hint. */
async function controller(status: number, leader?: () => string): Promise<{ url: string; beats: () => number; close: () => Promise<void> }> {
  let beats = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/internal/v1/heartbeat') beats++;
      const headers: Record<string, string> = leader ? { 'x-nubo-leader': leader() } : {};
      res.writeHead(status, headers).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    beats: () => beats,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

test('parseControllerUrls takes a comma-separated list and drops trailing slashes', () => {
  assert.deepEqual(parseControllerUrls(['http://a:1/, http://b:2']), ['http://a:1', 'http://b:2']);
  assert.deepEqual(parseControllerUrls(['http://a:1', 'https://b']), ['http://a:1', 'https://b']);
});

test('parseControllerUrls refuses an empty list, a non-http URL and a duplicate, naming the field', () => {
  for (const bad of [[''], ['ftp://a'], ['not a url'], ['http://a:1,http://a:1/']]) {
    assert.throws(() => parseControllerUrls(bad), (err: unknown) => err instanceof ValidationError && err.issues.every((i) => i.field === 'controller'), JSON.stringify(bad));
  }
});

test('a beat moves on to the next controller when one does not answer or answers 5xx', async () => {
  const down = await controller(200);
  await down.close();
  const failing = await controller(503);
  const up = await controller(204);
  try {
    const hb = new ControllerHeartbeat({ urls: [down.url, failing.url, up.url], token: 't', logger, timeoutMs: 2_000 });
    assert.equal(await hb.beat(report), true);
    assert.equal(up.beats(), 1);
    assert.equal(failing.beats(), 1);
    // It sticks with the one that answered.
    assert.equal(hb.target, up.url);
    assert.equal(await hb.beat(report), true);
    assert.equal(failing.beats(), 1);
    assert.equal(up.beats(), 2);
  } finally {
    await failing.close();
    await up.close();
  }
});

test('a beat follows the leader a controller names, and reports false when none answers', async () => {
  const leader = await controller(204);
  const follower = await controller(204, () => leader.url);
  try {
    const hb = new ControllerHeartbeat({ urls: [follower.url, leader.url], token: 't', logger, timeoutMs: 2_000 });
    assert.equal(await hb.beat(report), true);
    assert.equal(hb.target, leader.url);
    assert.equal(await hb.beat(report), true);
    assert.equal(leader.beats(), 1);
    assert.equal(follower.beats(), 1);
  } finally {
    await leader.close();
    await follower.close();
  }
  const hb = new ControllerHeartbeat({ urls: [leader.url], token: 't', logger, timeoutMs: 2_000 });
  assert.equal(await hb.beat(report), false);
});

test('a 4xx is not retried elsewhere: every controller would refuse the same report', async () => {
  const refusing = await controller(401);
  const other = await controller(204);
  try {
    const hb = new ControllerHeartbeat({ urls: [refusing.url, other.url], token: 't', logger, timeoutMs: 2_000 });
    assert.equal(await hb.beat(report), false);
    assert.equal(other.beats(), 0);
  } finally {
    await refusing.close();
    await other.close();
  }
});
