import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OcciError } from './occi-error.js';
import { parseActionJson, parseEntityJson, renderCategorySetJson, renderCollectionJson, renderResourceJson } from './occi-json.js';
import { ACTIONS, COMPUTE, KINDS, OS_TPL } from './occi-model.js';
import type { ResourceInstance } from './occi-instance.js';

const INFRA = 'http://schemas.ogf.org/occi/infrastructure#';

function refuses(f: () => unknown, message: RegExp): void {
  assert.throws(f, (e: unknown) => e instanceof OcciError && e.status === 400 && message.test(e.message));
}

test('the JSON rendering\'s compute example parses: kind, attributes, id and title', () => {
  const e = parseEntityJson(JSON.stringify({
    kind: `${INFRA}compute`,
    attributes: { 'occi.compute.architecture': 'x64', 'occi.compute.cores': 4, 'occi.compute.memory': 2, 'occi.core.title': 'My Compute Instance' },
    id: '488f6764-d4e3-4668-8cbb-1aaa06e92d5f', title: 'My Compute Instance',
  }));
  assert.deepEqual(e.categories, [{ scheme: INFRA, term: 'compute', class: 'kind' }]);
  assert.equal(e.attributes['occi.compute.cores'], 4);
  assert.equal(e.attributes['occi.core.title'], 'My Compute Instance');
  assert.deepEqual(e.links, []);
});

test('links inside a resource and a link\'s own source and target (kinded URIs)', () => {
  const e = parseEntityJson(JSON.stringify({
    kind: `${INFRA}compute`, mixins: ['http://schemas.nubo.dev/occi/os_tpl#tiny'],
    links: [{ kind: `${INFRA}networkinterface`, id: 'n1', attributes: {}, source: { location: '/compute/1' }, target: { location: '/occi/1.2/network/abc', kind: `${INFRA}network` } }],
  }));
  assert.deepEqual(e.categories.map((c) => c.class), ['kind', 'mixin']);
  assert.deepEqual(e.links, [{ target: '/occi/1.2/network/abc', kind: `${INFRA}networkinterface`, rel: `${INFRA}network`, attributes: {} }]);
  const l = parseEntityJson(JSON.stringify({ kind: `${INFRA}storagelink`, id: 'x', attributes: {}, source: { location: '/occi/1.2/compute/c' }, target: { location: '/occi/1.2/storage/s', kind: `${INFRA}storage` } }));
  assert.deepEqual([l.source, l.target], ['/occi/1.2/compute/c', '/occi/1.2/storage/s']);
});

test('malformed JSON and shapes the rendering does not allow are refused, naming the member', () => {
  refuses(() => parseEntityJson('{"kind": '), /malformed application\/occi\+json/);
  refuses(() => parseEntityJson('[]'), /expected an object/);
  refuses(() => parseEntityJson('{}'), /entity\.kind is required/);
  refuses(() => parseEntityJson(JSON.stringify({ kind: 'compute' })), /"compute" is not a category identifier/);
  refuses(() => parseEntityJson(JSON.stringify({ kind: `${INFRA}compute`, size: 3 })), /unknown member "size"/);
  refuses(() => parseEntityJson(JSON.stringify({ kind: `${INFRA}compute`, mixins: 'x' })), /entity\.mixins must be an array of strings/);
  refuses(() => parseEntityJson(JSON.stringify({ kind: `${INFRA}compute`, attributes: [] })), /entity\.attributes must be an object/);
  refuses(() => parseEntityJson(JSON.stringify({ kind: `${INFRA}compute`, attributes: { 'occi.x': null } })), /attribute occi\.x: nubo takes strings, numbers and booleans only/);
  refuses(() => parseEntityJson(JSON.stringify({ kind: `${INFRA}compute`, links: [{ kind: `${INFRA}storagelink` }] })), /entity\.links\[0\]\.target is required/);
  refuses(() => parseEntityJson(JSON.stringify({ kind: `${INFRA}storagelink`, target: { href: '/x' } })), /entity\.target must be \{"location": …\}/);
});

test('an action invocation: the specification\'s stop with method graceful; other members refused', () => {
  assert.deepEqual(parseActionJson('{"action": "http://schemas.ogf.org/occi/infrastructure/compute/action#stop", "attributes": {"method": "graceful"}}'), {
    action: 'http://schemas.ogf.org/occi/infrastructure/compute/action#stop', attributes: { method: 'graceful' },
  });
  refuses(() => parseActionJson('{"action": "x", "when": "now"}'), /unknown member "when"/);
});

test('the query interface renders kinds, mixins and actions with attribute definitions (mutable, required, type, pattern)', () => {
  const j = renderCategorySetJson({ kinds: [COMPUTE], mixins: [OS_TPL], actions: ACTIONS.filter((a) => a.term === 'stop') }, '/occi/1.2') as {
    kinds: { term: string; scheme: string; parent: string; location: string; actions: string[]; attributes: Record<string, Record<string, unknown>> }[];
    mixins: { location: string; applies: string[] }[]; actions: { term: string; attributes: Record<string, Record<string, unknown>> }[];
  };
  const k = j.kinds[0]!;
  assert.deepEqual([k.term, k.scheme, k.parent, k.location], ['compute', INFRA, 'http://schemas.ogf.org/occi/core#resource', '/occi/1.2/compute/']);
  assert.ok(k.actions.includes('http://schemas.ogf.org/occi/infrastructure/compute/action#start'));
  assert.deepEqual({ ...k.attributes['occi.compute.state'], description: undefined }, { mutable: false, required: false, type: 'string', pattern: '^(active|inactive|suspended|error)$', description: undefined });
  assert.deepEqual([j.mixins[0]!.location, j.mixins[0]!.applies], ['/occi/1.2/mixin/os_tpl/', [`${INFRA}compute`]]);
  assert.deepEqual(j.actions[0]!.attributes['method']?.['pattern'], '^(graceful|acpioff|poweroff)$');
  // Every kind has a location (the rendering requires one).
  assert.ok(KINDS.every((x) => x.location.endsWith('/')));
});

test('a resource and collections render in the shape of the JSON schema', () => {
  const r: ResourceInstance = { kind: `${INFRA}storage`, mixins: [], id: 's1', title: 'v', location: '/occi/1.2/storage/s1', attributes: { 'occi.storage.size': 0.5 }, actions: [], links: [] };
  assert.deepEqual(renderResourceJson(r), { kind: `${INFRA}storage`, attributes: { 'occi.storage.size': 0.5 }, actions: [], id: 's1', title: 'v' });
  assert.deepEqual(renderCollectionJson([], []), { resources: [] });
  assert.deepEqual(Object.keys(renderCollectionJson([r], [])), ['resources']);
});
