import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';

// The OpenAPI document against the server's behaviour (issue 11, item 13): the
// error responses it lists have the error shape the server sends, a known path
// with another method is a 405 with Allow, a too-long id a 414 in that shape,
// and the limits it states are the ones the server enforces (probed).

interface Answer { status: number; headers: Headers; body: Record<string, unknown> & { error?: { code: string; message: string; details: Record<string, unknown> } } }
type Schema = { type?: string; properties?: Record<string, Schema>; required?: string[]; minimum?: number; maximum?: number; description?: string; $ref?: string; additionalProperties?: unknown };
interface Operation { responses: Record<string, { description?: string; content?: Record<string, { schema: Schema }> }>; requestBody?: { content: Record<string, { schema: Schema }> } }
interface Doc { paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, Schema> } }

let root: string;
let controller: ControllerDaemon;
let admin: string;
let doc: Doc;

async function call(method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${controller.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (/^[[{]/.test(text) ? JSON.parse(text) : {}) as Answer['body'] };
}

function assertErrorShape(a: Answer, what: string): void {
  assert.equal(typeof a.body.error?.code, 'string', `${what}: ${JSON.stringify(a.body)}`);
  assert.equal(typeof a.body.error?.message, 'string', what);
  assert.equal(typeof a.body.error?.details, 'object', what);
  assert.deepEqual(Object.keys(a.body), ['error'], what);
}

const resolve = (s: Schema): Schema => (s.$ref !== undefined ? doc.components?.schemas?.[s.$ref.replace('#/components/schemas/', '')] ?? {} : s);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-openapi-'));
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, imageImportDir: root, logger: pino({ level: 'silent' }) });
  admin = (await controller.bootstrapAdmin())!;
  await writeFile(join(root, 'disk.raw'), Buffer.alloc(1 << 20));
  assert.equal((await call('POST', '/api/v1/images', { name: 'disk', path: join(root, 'disk.raw') })).status, 201);
  assert.equal((await call('POST', '/api/v1/templates', { name: 'tpl', vcpus: 1, memoryMiB: 64, image: 'disk' })).status, 201);
  assert.equal((await call('POST', '/api/v1/vms', { template: 'tpl', name: 'vm1' })).status, 201);
  doc = (await call('GET', '/api/v1/openapi.json')).body as unknown as Doc;
});

after(async () => {
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

test('every operation lists its error responses with the error shape', () => {
  let n = 0;
  for (const [path, ops] of Object.entries(doc.paths)) {
    // The native API; the peer transfer route the agents share is not a user's.
    if (!path.startsWith('/api/')) continue;
    for (const [method, op] of Object.entries(ops)) {
      for (const status of ['400', '401', '403', '404', '409', '500', '503']) {
        const r = op.responses[status];
        assert.ok(r, `${method.toUpperCase()} ${path} lists ${status}`);
        assert.ok(r.description, `${method.toUpperCase()} ${path} ${status} says what it means`);
        // A route that produces a file (an OVA) lists its errors under its own media type.
        const schema = resolve(Object.values(r.content ?? {})[0]?.schema ?? {});
        assert.deepEqual(schema.required, ['error'], `${method.toUpperCase()} ${path} ${status}: {error}`);
        const inner = resolve(schema.properties?.['error'] ?? {});
        assert.deepEqual(new Set(inner.required), new Set(['code', 'message', 'details']), `${method.toUpperCase()} ${path} ${status}: {error: {code, message, details}}`);
        n++;
      }
    }
  }
  assert.ok(n > 100, `${n} error responses`);
  // A follower controller's answer, and the quota refusal, are named where a client looks them up.
  const createVm = doc.paths['/api/v1/vms']?.['post'];
  assert.match(createVm?.responses['503']?.description ?? '', /NOT_LEADER/);
  assert.match(createVm?.responses['409']?.description ?? '', /QUOTA_EXCEEDED/);
  for (const path of ['/api/v1/quota', '/api/v1/users/{id}/quota', '/api/v1/groups/{id}/quota']) assert.ok(doc.paths[path]?.['get'], `${path} is documented`);
  assert.ok(doc.paths['/api/v1/users/{id}/quota']?.['put']?.requestBody, 'PUT …/quota documents its body');
});

test('a path that exists with other methods answers 405 with Allow and the error shape; an unknown path stays 404', async () => {
  const cases: readonly (readonly [string, string, readonly string[]])[] = [
    ['DELETE', '/api/v1/vms', ['GET', 'POST']],
    ['PUT', '/api/v1/hosts/h1', ['GET', 'DELETE']],
    ['GET', '/api/v1/vms/vm1/actions/start', ['POST']],
    // PATCH changes a template's burst flag; PUT (a replace) is not offered.
    ['PUT', '/api/v1/templates/tpl', ['GET', 'PATCH', 'DELETE']],
  ];
  for (const [method, path, allowed] of cases) {
    const a = await call(method, path);
    assert.equal(a.status, 405, `${method} ${path}: ${JSON.stringify(a.body)}`);
    assertErrorShape(a, `${method} ${path}`);
    assert.equal(a.body.error?.code, 'METHOD_NOT_ALLOWED');
    const allow = (a.headers.get('allow') ?? '').split(/,\s*/);
    for (const m of allowed) assert.ok(allow.includes(m), `${method} ${path}: Allow ${allow.join(', ')} has ${m}`);
    assert.ok(!allow.includes(method));
    assert.match(a.body.error?.message ?? '', new RegExp(`${method} .*${allowed[0]!}`));
  }
  const none = await call('DELETE', '/api/v1/nowhere');
  assert.equal(none.status, 404);
  assertErrorShape(none, 'unknown path');
});

test('a path segment past the length limit is a 414 with the error shape', async () => {
  for (const path of [`/api/v1/vms/${'x'.repeat(300)}`, `/api/v1/hosts/${'h'.repeat(300)}/enable`]) {
    const a = await call(path.endsWith('enable') ? 'POST' : 'GET', path);
    assert.equal(a.status, 414, JSON.stringify(a.body));
    assertErrorShape(a, path);
    assert.equal(a.body.error?.code, 'URI_TOO_LONG');
  }
});

test('the migration policy\'s documented bounds are the ones the server enforces', async () => {
  const body = resolve(doc.paths['/api/v1/vms/{id}/migrate']?.['post']?.requestBody?.content['application/json']?.schema ?? {});
  const policy = resolve(body.properties?.['policy'] ?? {});
  const fields = ['maxBandwidthMiBps', 'downtimeMs', 'maxDowntimeMs', 'timeoutS'];
  for (const f of fields) {
    const s = resolve(policy.properties?.[f] ?? {});
    assert.equal(s.type, 'integer', `${f} is an integer`);
    assert.equal(typeof s.minimum, 'number', `${f} has a documented minimum`);
    assert.equal(typeof s.maximum, 'number', `${f} has a documented maximum`);
    const probe = async (value: number): Promise<Answer> => call('POST', '/api/v1/vms/vm1/migrate', { policy: { [f]: value, ...(f === 'maxDowntimeMs' ? { downtimeMs: 10 } : {}) } });
    const namesField = (a: Answer): boolean => a.status === 400 && JSON.stringify(a.body.error?.details ?? {}).includes(`policy.${f}`);
    for (const bad of [s.maximum! + 1, s.minimum! - 1]) assert.ok(namesField(await probe(bad)), `${f} = ${bad} is refused naming it`);
    for (const good of [s.maximum!, s.minimum!]) {
      const a = await probe(good);
      assert.ok(!namesField(a), `${f} = ${good} passes validation: ${JSON.stringify(a.body)}`);
      assert.notEqual(a.status, 400, `${f} = ${good}: ${JSON.stringify(a.body)}`);
    }
  }
});

test('the documented subnet rule for networks is the one the server enforces', async () => {
  const body = resolve(doc.paths['/api/v1/networks']?.['post']?.requestBody?.content['application/json']?.schema ?? {});
  const cidr = resolve(body.properties?.['cidr'] ?? {});
  assert.match(cidr.description ?? '', /198\.18\.64\.0\/18/);
  assert.match(cidr.description ?? '', /198\.19\.0\.0\/16/);
  assert.match(cidr.description ?? '', /\/16 to \/30/);
  const probe = async (c: string, name: string): Promise<number> => (await call('POST', '/api/v1/networks', { name, cidr: c })).status;
  assert.equal(await probe('198.18.64.0/18', 'wide'), 201);
  assert.equal((await call('DELETE', '/api/v1/networks/wide')).status, 204);
  assert.equal(await probe('198.18.127.252/30', 'narrow'), 201);
  assert.equal(await probe('198.19.0.0/16', 'single'), 201);
  for (const c of ['198.18.0.0/16', '198.18.64.0/17', '198.18.64.0/31', '198.18.128.0/24', '198.18.63.0/24', '10.0.0.0/24']) assert.equal(await probe(c, 'bad'), 400, c);
});
