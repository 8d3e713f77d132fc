import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { installErrorHandler } from '../../http/install-error-handler.js';
import type { Host } from '../../store/repositories/hosts-repository.js';
import type { ApiContext } from './api-context.js';
import { registerInternalRoutes } from './internal-routes.js';

// Operators may give several hosts one agent token. A heartbeat must then be
// taken as the host it names — not as the first host holding the token, which
// once marked another host's VMs "no such VM" every beat and kept the second
// host from ever being enabled.

const report = (name: string): unknown => ({
  name, cpuModel: 'qemu64', cpuModels: [], cpuFlags: [], kvm: false, totalCpus: 2, totalMemoryMiB: 2048, totalDiskMiB: 10_000,
  usage: { load: 0, usedMemoryMiB: 0, usedDiskMiB: 0 }, vms: [], at: new Date().toISOString(),
});

async function serve(
  hosts: readonly Pick<Host, 'name' | 'agentToken'>[],
  later: readonly Pick<Host, 'name' | 'agentToken'>[] = [],
  logs?: string[],
  indexed: readonly string[] = [],
): Promise<{ beat: (token: string, name: string) => Promise<{ status: number; code?: string }>; heard: string[]; reloads: () => number; steps: string[] }> {
  const heard: string[] = [];
  /** What the route asked of the monitor, in order. */
  const steps: string[] = [];
  let reloads = 0;
  const ctx = {
    monitor: {
      knowsToken: (token: string) => indexed.includes(token),
      hold: (token: string, name: string) => {
        steps.push(`hold ${name}`);
        return () => void steps.push(`release ${name}`);
      },
      hostsOfToken: async (token: string, reload = false) => {
        steps.push('read hosts');
        if (reload) reloads++;
        return (reload ? [...hosts, ...later] : hosts).filter((h) => h.agentToken === token);
      },
      heartbeat: async (h: Host) => {
        steps.push(`beat ${h.name}`);
        heard.push(h.name);
      },
    },
  } as unknown as ApiContext;
  const app = logs === undefined ? Fastify() : Fastify({ logger: { level: 'info', stream: { write: (line: string) => void logs.push(line) } } });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  registerInternalRoutes(app, ctx);
  const beat = async (token: string, name: string): Promise<{ status: number; code?: string }> => {
    const res = await app.inject({ method: 'POST', url: '/internal/v1/heartbeat', headers: { authorization: `Bearer ${token}` }, payload: report(name) as object });
    const body = res.body === '' ? {} : (JSON.parse(res.body) as { error?: { code: string } });
    return { status: res.statusCode, ...(body.error ? { code: body.error.code } : {}) };
  };
  return { beat, heard, reloads: () => reloads, steps };
}

test('hosts sharing a token: each heartbeat is taken as the host it names', async () => {
  const { beat, heard } = await serve([{ name: 'h1', agentToken: 'shared-token' }, { name: 'h2', agentToken: 'shared-token' }, { name: 'h3', agentToken: 'own-token' }]);
  assert.equal((await beat('shared-token', 'h2')).status, 204);
  assert.equal((await beat('shared-token', 'h1')).status, 204);
  assert.equal((await beat('own-token', 'h3')).status, 204);
  assert.deepEqual(heard, ['h2', 'h1', 'h3']);
});

test('a heartbeat under a name its token is not is refused (401) and reaches no host', async () => {
  const { beat, heard } = await serve([{ name: 'h1', agentToken: 'shared-token' }, { name: 'h3', agentToken: 'own-token' }]);
  assert.deepEqual(await beat('shared-token', 'h3'), { status: 401, code: 'UNAUTHORIZED' });
  assert.deepEqual(await beat('shared-token', 'nobody'), { status: 401, code: 'UNAUTHORIZED' });
  assert.deepEqual(await beat('unknown-token', 'h1'), { status: 401, code: 'UNAUTHORIZED' });
  assert.deepEqual(heard, []);
});

test('a host registered with a token already indexed is found: a name missing from the token\'s hosts reads them afresh once', async () => {
  // The index still has only h1 under the token (as after h1's beats); h2 was registered since with the same token.
  const { beat, heard, reloads } = await serve([{ name: 'h1', agentToken: 'shared-token' }], [{ name: 'h2', agentToken: 'shared-token' }]);
  assert.equal((await beat('shared-token', 'h1')).status, 204);
  assert.equal(reloads(), 0, 'a beat of an indexed host reads nothing afresh');
  assert.equal((await beat('shared-token', 'h2')).status, 204);
  assert.equal(reloads(), 1);
  assert.deepEqual(heard, ['h1', 'h2']);
});

test('a taken heartbeat writes no access-log line; a refused one is logged as a warning', async () => {
  const logs: string[] = [];
  const { beat } = await serve([{ name: 'h1', agentToken: 'own-token' }], [], logs);
  for (let i = 0; i < 3; i++) assert.equal((await beat('own-token', 'h1')).status, 204);
  assert.deepEqual(logs, [], 'a thousand hosts would write 400 lines a second');
  assert.equal((await beat('unknown-token', 'h1')).status, 401);
  assert.equal(logs.length, 1);
  const line = JSON.parse(logs[0]!) as { level: number; msg: string; err: string };
  assert.equal(line.level, 40);
  assert.equal(line.msg, 'heartbeat refused or failed');
  assert.match(line.err, /unknown host token/);
});

test('a beat under an indexed token is held as heard before its host is read from the store, and released after', async () => {
  // Behind 200 API clients on SQLite's one connection, reading the host waited longer than the silence limit; a beat
  // waiting there (in the auth hook, before the monitor had it) did not count as heard, and healthy hosts were declared lost.
  const { beat, steps } = await serve([{ name: 'h1', agentToken: 'own-token' }], [], undefined, ['own-token']);
  assert.equal((await beat('own-token', 'h1')).status, 204);
  assert.deepEqual(steps, ['hold h1', 'read hosts', 'beat h1', 'release h1']);
});

test('an indexed token whose host is gone (or whose token changed) is still refused (401), and its hold released', async () => {
  const { beat, heard, steps } = await serve([], [], undefined, ['old-token']);
  assert.deepEqual(await beat('old-token', 'h1'), { status: 401, code: 'UNAUTHORIZED' });
  assert.deepEqual(heard, []);
  assert.deepEqual(steps, ['hold h1', 'read hosts', 'release h1']);
});
