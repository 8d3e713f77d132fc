import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { pollUntil } from '../src/util/deadline.js';
import type { NuboClient } from '../src/client/nubo-client.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { type DaemonProcess, qemuPidsOf } from './support/daemon-process.js';
import { closeOneHostSite, startOneHostSite, startSiteController } from './support/one-host-site.js';

// The OCCI 1.2 interface (/occi/1.2) from outside, over HTTP, on one host
// with real QEMU and the nubo-tiny guest; `nubo controller` and `nubo agent`
// run as processes so that the controller can be SIGKILLed: the query
// interface and its filtering in the three renderings, text/uri-list, a
// compute's life cycle (create from an os_tpl mixin, active, stop/start, a
// storage linked and unlinked, delete), actions on whole collections and on
// storages and networks, another user's view of it, PUT at a client-chosen
// location (create, replace, and a retry after the controller died), and bad
// input refused with nothing written.

let root: string;
let controllerPort: number;
let controller: DaemonProcess;
let agent: DaemonProcess;
let api: NuboClient;
let url: string;
let adminToken: string;
let bobToken: string;

const INFRA = 'http://schemas.ogf.org/occi/infrastructure#';
const ACTION = 'http://schemas.ogf.org/occi/infrastructure/compute/action#';
const STORAGE_ACTION = 'http://schemas.ogf.org/occi/infrastructure/storage/action#';
const NETWORK_ACTION = 'http://schemas.ogf.org/occi/infrastructure/network/action#';
const OS_TPL = 'http://schemas.nubo.dev/occi/os_tpl#';
const RES_TPL = 'http://schemas.nubo.dev/occi/resource_tpl#';

function startController(env: NodeJS.ProcessEnv = {}): DaemonProcess {
  return startSiteController(root, controllerPort, env);
}

interface Answer { status: number; headers: Headers; text: string; json: () => Record<string, unknown> }

async function occi(method: string, path: string, o: { token?: string | null; accept?: string; contentType?: string; headers?: Record<string, string | string[]>; body?: string } = {}): Promise<Answer> {
  const headers = new Headers();
  const token = o.token === undefined ? adminToken : o.token;
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  if (o.accept !== undefined) headers.set('accept', o.accept);
  if (o.contentType !== undefined) headers.set('content-type', o.contentType);
  for (const [k, v] of Object.entries(o.headers ?? {})) for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
  const res = await fetch(`${url}/occi/1.2${path}`, { method, headers, ...(o.body !== undefined ? { body: o.body } : {}), signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

const computeJson = async (id: string, token?: string): Promise<{ attributes: Record<string, unknown>; links?: { kind: string; target: { location: string } }[]; actions: string[]; mixins?: string[] }> => {
  const r = await occi('GET', `/compute/${id}`, { accept: 'application/occi+json', ...(token !== undefined ? { token } : {}) });
  assert.equal(r.status, 200, r.text);
  return r.json() as never;
};

const waitState = (id: string, state: string): Promise<true> =>
  pollUntil(`compute ${id} ${state}`, async () => ((await computeJson(id)).attributes['occi.compute.state'] === state ? true : undefined), { timeoutMs: 180_000, intervalMs: 500 });
const waitVm = (id: string, state: string): Promise<true> =>
  pollUntil(`VM ${id} ${state}`, async () => ((await api.getVm(id)).state === state ? true : undefined), { timeoutMs: 120_000, intervalMs: 250 });

/** What the store holds, to show that a refused request wrote nothing. */
async function snapshot(): Promise<string> {
  const [vms, volumes, networks] = await Promise.all([api.listVms(), api.listVolumes(), api.listNetworks()]);
  return JSON.stringify({ vms: vms.map((v) => [v.id, v.state, v.vcpus, v.memoryMiB]), volumes: volumes.map((v) => [v.id, v.vm]), networks: networks.map((n) => n.id) });
}

before(async () => {
  ({ root, controllerPort, controller, agent, api, url, adminToken, bobToken } = await startOneHostSite('nubo-occi-'));
});

after(async () => {
  await closeOneHostSite({ api, controller, agent, root });
});

test('the query interface lists kinds, mixins (the templates as os_tpl) and actions in text/plain, text/occi and JSON, and filters them', async () => {
  const plain = await occi('GET', '/-/');
  assert.equal(plain.status, 200);
  assert.match(plain.headers.get('content-type') ?? '', /^text\/plain/);
  assert.match(plain.text, /^Category: compute; scheme="http:\/\/schemas\.ogf\.org\/occi\/infrastructure#"; class="kind"; title="[^"]+"; rel="http:\/\/schemas\.ogf\.org\/occi\/core#resource"; location="\/occi\/1\.2\/compute\/"; attributes="[^"]*occi\.compute\.state\{immutable\}/m);
  assert.match(plain.text, /^Category: tiny; scheme="http:\/\/schemas\.nubo\.dev\/occi\/os_tpl#"; class="mixin"; .*rel="http:\/\/schemas\.ogf\.org\/occi\/infrastructure#os_tpl http:\/\/schemas\.ogf\.org\/occi\/infrastructure#compute"; location="\/occi\/1\.2\/mixin\/os_tpl\/tiny\/"/m);
  assert.match(plain.text, /^Category: stop; scheme="http:\/\/schemas\.ogf\.org\/occi\/infrastructure\/compute\/action#"; class="action"; .*attributes="method"/m);
  assert.match(plain.text, /^Category: migrate; scheme="http:\/\/schemas\.nubo\.dev\/occi\/infrastructure\/compute\/action#"; class="action"/m);

  const headers = await occi('GET', '/-/', { accept: 'text/occi' });
  assert.equal(headers.status, 200);
  assert.match(headers.headers.get('content-type') ?? '', /^text\/occi/);
  const categories = headers.headers.get('category') ?? '';
  for (const term of ['compute', 'storage', 'network', 'storagelink', 'networkinterface', 'entity', 'resource', 'link', 'tiny', 'start', 'restart', 'suspend']) {
    assert.match(categories, new RegExp(`(^|, )${term}; scheme=`), `text/occi Category header lists ${term}`);
  }

  const json = (await occi('GET', '/-/', { accept: 'application/occi+json' })).json() as { kinds: { term: string; location: string; attributes: Record<string, { mutable: boolean; type: string }> }[]; mixins: { term: string; scheme: string; depends: string[] }[]; actions: { term: string }[] };
  const compute = json.kinds.find((k) => k.term === 'compute')!;
  assert.equal(compute.location, '/occi/1.2/compute/');
  assert.deepEqual(compute.attributes['occi.compute.cores'], { mutable: true, required: false, type: 'number', description: compute.attributes['occi.compute.cores']!['description' as never] });
  assert.ok(json.mixins.some((m) => m.term === 'tiny' && m.scheme === OS_TPL && m.depends.includes(`${INFRA}os_tpl`)));
  assert.ok(json.mixins.some((m) => m.term === 'tiny' && m.scheme === RES_TPL));
  assert.deepEqual(json.actions.map((a) => a.term).sort(), ['backup', 'down', 'migrate', 'offline', 'online', 'resize', 'restart', 'snapshot', 'start', 'stop', 'suspend', 'up']);
  const storageKind = json.kinds.find((k) => k.term === 'storage') as unknown as { actions: string[] };
  assert.deepEqual(storageKind.actions, ['online', 'offline', 'backup', 'snapshot', 'resize'].map((t) => `${STORAGE_ACTION}${t}`));
  assert.deepEqual((json.kinds.find((k) => k.term === 'network') as unknown as { actions: string[] }).actions, [`${NETWORK_ACTION}up`, `${NETWORK_ACTION}down`]);

  // Filtering: the 1.2 query parameter and the text/occi Category header.
  const one = (await occi('GET', `/-/?category=${encodeURIComponent(`${INFRA}compute`)}`, { accept: 'application/occi+json' })).json() as typeof json;
  assert.deepEqual([one.kinds.map((k) => k.term), one.mixins.length, one.actions.length], [['compute'], 0, 0]);
  const byHeader = await occi('GET', '/-/', { headers: { category: `stop; scheme="${ACTION}"; class="action"` } });
  assert.equal(byHeader.text.trim().split('\n').length, 1);
  assert.match(byHeader.text, /^Category: stop; /);
  const unknown = await occi('GET', `/-/?category=${encodeURIComponent(`${INFRA}nope`)}`);
  assert.equal(unknown.status, 400);
  assert.match(unknown.text, /unknown category http:\/\/schemas\.ogf\.org\/occi\/infrastructure#nope/);

  // Authentication and negotiation.
  const anonymous = await occi('GET', '/-/', { token: null });
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
  assert.equal((await occi('GET', '/-/', { token: 'nubo_not-a-token' })).status, 401);
  const html = await occi('GET', '/-/', { accept: 'text/html' });
  assert.equal(html.status, 406);
  assert.match(html.text, /none of the renderings in Accept: text\/html is served/);
  const nowhere = await occi('GET', '/nowhere/');
  assert.equal(nowhere.status, 404);
});

test('bad input is refused with the OCCI error response and writes nothing', async () => {
  const was = await snapshot();
  const cases: { what: string; status: number; message: RegExp; req: Parameters<typeof occi> }[] = [
    { what: 'unknown kind', status: 400, message: /unknown kind http:\/\/schemas\.ogf\.org\/occi\/infrastructure#vm/, req: ['POST', '/compute/', { contentType: 'text/plain', body: `Category: vm; scheme="${INFRA}"; class="kind"\n` }] },
    { what: 'kind of another collection', status: 400, message: /kind http:\/\/schemas\.ogf\.org\/occi\/infrastructure#storage cannot be created in the compute collection/, req: ['POST', '/compute/', { contentType: 'text/plain', body: `Category: storage; scheme="${INFRA}"; class="kind"\n` }] },
    { what: 'unknown mixin', status: 400, message: /unknown mixin http:\/\/schemas\.nubo\.dev\/occi\/os_tpl#nosuch/, req: ['POST', '/compute/', { headers: { category: [`compute; scheme="${INFRA}"; class="kind"`, `nosuch; scheme="${OS_TPL}"; class="mixin"`] } }] },
    { what: 'no os_tpl', status: 400, message: /exactly one os_tpl mixin/, req: ['POST', '/compute/', { headers: { category: `compute; scheme="${INFRA}"; class="kind"` } }] },
    { what: 'unknown attribute', status: 400, message: /unknown attribute occi\.compute\.colour/, req: ['POST', '/compute/', { headers: { category: [`compute; scheme="${INFRA}"; class="kind"`, `tiny; scheme="${OS_TPL}"; class="mixin"`], 'x-occi-attribute': 'occi.compute.colour="red"' } }] },
    { what: 'attribute of the wrong type', status: 400, message: /attribute occi\.compute\.cores must be a number/, req: ['POST', '/compute/', { headers: { category: [`compute; scheme="${INFRA}"; class="kind"`, `tiny; scheme="${OS_TPL}"; class="mixin"`], 'x-occi-attribute': 'occi.compute.cores="two"' } }] },
    { what: 'attribute nubo sets', status: 400, message: /attribute occi\.compute\.state cannot be set/, req: ['POST', '/compute/', { headers: { category: [`compute; scheme="${INFRA}"; class="kind"`, `tiny; scheme="${OS_TPL}"; class="mixin"`], 'x-occi-attribute': 'occi.compute.state="active"' } }] },
    { what: 'memory not in whole MiB', status: 400, message: /occi\.compute\.memory must be a whole number of MiB/, req: ['POST', '/compute/', { headers: { category: [`compute; scheme="${INFRA}"; class="kind"`, `tiny; scheme="${OS_TPL}"; class="mixin"`], 'x-occi-attribute': 'occi.compute.memory=0.1' } }] },
    { what: 'malformed text/plain', status: 400, message: /text\/plain line "this is not occi"/, req: ['POST', '/compute/', { contentType: 'text/plain', body: 'this is not occi\n' }] },
    { what: 'unquoted string value', status: 400, message: /attribute occi\.core\.title: "x y" is neither a quoted string/, req: ['POST', '/storage/', { contentType: 'text/plain', body: `Category: storage; scheme="${INFRA}"; class="kind"\nX-OCCI-Attribute: occi.core.title=x y\n` }] },
    { what: 'malformed JSON', status: 400, message: /malformed application\/occi\+json/, req: ['POST', '/storage/', { contentType: 'application/occi+json', accept: 'application/occi+json', body: '{"kind": ' }] },
    { what: 'JSON storage without a size', status: 400, message: /occi\.storage\.size \(GiB\) is required/, req: ['POST', '/storage/', { contentType: 'application/occi+json', body: JSON.stringify({ kind: `${INFRA}storage`, attributes: { 'occi.core.title': 'v1' } }) }] },
    { what: 'unknown JSON member', status: 400, message: /unknown member "colour"/, req: ['POST', '/storage/', { contentType: 'application/occi+json', body: JSON.stringify({ kind: `${INFRA}storage`, colour: 'red' }) }] },
    { what: 'unknown content type', status: 415, message: /Content-Type application\/xml is not an OCCI rendering/, req: ['POST', '/storage/', { contentType: 'application/xml', body: '<storage/>' }] },
    { what: 'PUT at an id that is not a UUID', status: 400, message: /a compute's id is a UUID: "my-own-id" is not one/, req: ['PUT', '/compute/my-own-id', { contentType: 'text/plain', body: `Category: compute; scheme="${INFRA}"; class="kind"\nCategory: tiny; scheme="${OS_TPL}"; class="mixin"\n` }] },
    { what: 'PUT whose occi.core.id is another', status: 400, message: /occi\.core\.id "x" is not the id of the location/, req: ['PUT', '/compute/0b8e2a43-4f4e-4b8f-9a55-1f1c3e1e9d01', { contentType: 'text/plain', body: `Category: compute; scheme="${INFRA}"; class="kind"\nCategory: tiny; scheme="${OS_TPL}"; class="mixin"\nX-OCCI-Attribute: occi.core.id="x"\n` }] },
    { what: 'PUT of a storage', status: 405, message: /only a compute is created or replaced at its location; POST a storage to \/occi\/1\.2\/storage\//, req: ['PUT', '/storage/0b8e2a43-4f4e-4b8f-9a55-1f1c3e1e9d01', { contentType: 'text/plain', body: `Category: storage; scheme="${INFRA}"; class="kind"\n` }] },
    { what: 'collection action unknown', status: 400, message: /unknown action "explode"/, req: ['POST', '/compute/?action=explode', {}] },
    { what: 'collection action with a bad method', status: 400, message: /attribute method of stop must be one of graceful, acpioff, poweroff/, req: ['POST', '/compute/?action=stop', { contentType: 'application/occi+json', body: JSON.stringify({ action: `${ACTION}stop`, attributes: { method: 'sideways' } }) }] },
    { what: 'collection action of another kind', status: 400, message: /unknown action http:\/\/schemas\.ogf\.org\/occi\/infrastructure\/storage\/action#online for a compute/, req: ['POST', '/compute/?action=stop', { contentType: 'application/occi+json', body: JSON.stringify({ action: `${STORAGE_ACTION}online` }) }] },
    { what: 'network down', status: 501, message: /network\/action#down \(down\) is not implemented by nubo/, req: ['POST', '/network/?action=down', {}] },
    { what: 'storagelink to nothing', status: 404, message: /.+/, req: ['POST', '/link/storagelink/', { contentType: 'text/plain', body: `Category: storagelink; scheme="${INFRA}"; class="kind"\nX-OCCI-Attribute: occi.core.source="/occi/1.2/compute/00000000-0000-0000-0000-000000000000"\nX-OCCI-Attribute: occi.core.target="/occi/1.2/storage/00000000-0000-0000-0000-000000000000"\n` }] },
  ];
  for (const c of cases) {
    const r = await occi(...c.req);
    assert.equal(r.status, c.status, `${c.what}: ${r.text}`);
    if (c.req[2]?.accept === 'application/occi+json') {
      const e = (r.json() as { error: { status: number; code: string; message: string } }).error;
      assert.equal(e.status, c.status);
      assert.equal(e.code, 'OCCI_REQUEST_FAILED');
      assert.match(e.message, c.message, c.what);
    } else assert.match(r.text, c.message, c.what);
  }
  assert.equal(await snapshot(), was, 'nothing was written');
});

test('a compute from an os_tpl mixin on real QEMU: active, stop and start actions, a storage linked, unlinked, and everything deleted; another user sees none of it', async () => {
  // Created in text/occi: everything in the headers.
  const made = await occi('POST', '/compute/', {
    accept: 'text/occi',
    headers: { category: [`compute; scheme="${INFRA}"; class="kind"`, `tiny; scheme="${OS_TPL}"; class="mixin"`, `tiny; scheme="${RES_TPL}"; class="mixin"`], 'x-occi-attribute': 'occi.core.title="occi-vm1"' },
  });
  assert.equal(made.status, 201, made.text);
  const location = made.headers.get('location') ?? '';
  assert.equal(made.headers.get('x-occi-location'), location);
  const id = /\/occi\/1\.2\/compute\/([^/]+)$/.exec(location)?.[1] ?? '';
  const vm = await api.getVm(id);
  assert.deepEqual([vm.name, vm.template, vm.vcpus, vm.memoryMiB], ['occi-vm1', 'tiny', 1, 128]);

  await waitState(id, 'active');
  const plain = await occi('GET', `/compute/${id}`);
  assert.match(plain.text, /^Category: compute; scheme="http:\/\/schemas\.ogf\.org\/occi\/infrastructure#"; class="kind"$/m);
  assert.match(plain.text, /^Category: tiny; scheme="http:\/\/schemas\.nubo\.dev\/occi\/os_tpl#"; class="mixin"$/m);
  assert.match(plain.text, /^X-OCCI-Attribute: occi\.compute\.memory=0\.125$/m);
  assert.match(plain.text, /^X-OCCI-Attribute: occi\.compute\.state="active"$/m);
  assert.match(plain.text, new RegExp(`^Link: </occi/1\\.2/compute/${id}\\?action=stop>; rel="http://schemas\\.ogf\\.org/occi/infrastructure/compute/action#stop"$`, 'm'));

  // Collections, filtered by state and by the template's mixin location.
  const listed = await occi('GET', `/compute/?attribute=${encodeURIComponent('occi.compute.state="active"')}`);
  assert.match(listed.text, new RegExp(`^X-OCCI-Location: http://127\\.0\\.0\\.1:\\d+/occi/1\\.2/compute/${id}$`, 'm'));
  assert.doesNotMatch((await occi('GET', `/compute/?attribute=${encodeURIComponent('occi.compute.state="inactive"')}`)).text, new RegExp(id));
  assert.match((await occi('GET', '/mixin/os_tpl/tiny/')).text, new RegExp(id));

  // An action whose invocation disagrees with the URL is refused and changes nothing.
  const mismatch = await occi('POST', `/compute/${id}?action=stop`, { contentType: 'text/plain', body: `Category: start; scheme="${ACTION}"; class="action"\n` });
  assert.equal(mismatch.status, 400);
  assert.match(mismatch.text, /names .*#start but the URL asks for \?action=stop/);
  const badMethod = await occi('POST', `/compute/${id}?action=stop`, { contentType: 'application/occi+json', body: JSON.stringify({ action: `${ACTION}stop`, attributes: { method: 'sideways' } }) });
  assert.equal(badMethod.status, 400);
  assert.match(badMethod.text, /attribute method of stop must be one of graceful, acpioff, poweroff/);
  assert.equal((await api.getVm(id)).state, 'running');

  // stop (JSON invocation), then start (text/plain invocation).
  const stop = await occi('POST', `/compute/${id}?action=stop`, { contentType: 'application/occi+json', body: JSON.stringify({ action: `${ACTION}stop`, attributes: { method: 'poweroff' } }) });
  assert.equal(stop.status, 200, stop.text);
  await waitState(id, 'inactive');
  await pollUntil('VM powered off', async () => ((await api.getVm(id)).state === 'poweroff' ? true : undefined), { timeoutMs: 60_000 });
  assert.ok((await computeJson(id)).actions.includes(`${ACTION}start`));
  // start on a whole collection (the template's os_tpl mixin location), text/plain invocation: it lists what it acted on.
  const start = await occi('POST', '/mixin/os_tpl/tiny/?action=start', { contentType: 'text/plain', body: `Category: start; scheme="${ACTION}"; class="action"\n` });
  assert.equal(start.status, 200, start.text);
  assert.match(start.text, new RegExp(`^X-OCCI-Location: http://127\\.0\\.0\\.1:\\d+/occi/1\\.2/compute/${id}$`, 'm'));
  await waitState(id, 'active');
  // Again: the compute is active, start no longer applies to it — nothing is done twice.
  const startAgain = await occi('POST', '/compute/?action=start', { contentType: 'text/plain', body: `Category: start; scheme="${ACTION}"; class="action"\n` });
  assert.equal(startAgain.status, 200, startAgain.text);
  assert.doesNotMatch(startAgain.text, new RegExp(id));
  assert.equal((await api.getVm(id)).history.filter((h) => h.to === 'running').length, 2, 'booted twice: create and the one start');
  // A collection's action checked before anything is done: unknown, not the kind's, or one nubo does not implement.
  const unknownAction = await occi('POST', '/compute/?action=explode', { contentType: 'text/plain', body: '' });
  assert.equal(unknownAction.status, 400);
  assert.match(unknownAction.text, /unknown action "explode": a compute has start, stop, restart, suspend, migrate/);
  const linksHaveNone = await occi('POST', '/link/storagelink/?action=stop');
  assert.equal(linksHaveNone.status, 400);
  assert.match(linksHaveNone.text, /the storagelink collection has no actions/);
  assert.equal((await api.getVm(id)).state, 'running');

  // text/uri-list: a collection's locations, one a line; not a rendering of an entity or of the query interface.
  const uris = await occi('GET', '/compute/', { accept: 'text/uri-list' });
  assert.equal(uris.status, 200);
  assert.match(uris.headers.get('content-type') ?? '', /^text\/uri-list/);
  assert.ok(uris.text.split('\r\n').includes(`${url}/occi/1.2/compute/${id}`), uris.text);
  assert.match(uris.text, /^(http:\/\/\S+\r\n)+$/);
  assert.equal((await occi('GET', `/compute/${id}`, { accept: 'text/uri-list' })).status, 406);
  assert.equal((await occi('GET', '/-/', { accept: 'text/uri-list' })).status, 406);
  assert.match((await occi('GET', `/compute/${id}`, { accept: 'text/uri-list, text/plain;q=0.5' })).text, /^Category: compute; /);
  assert.equal((await occi('GET', '/storage/', { accept: 'text/uri-list' })).text, '', 'an empty collection: an empty list');

  // A storage (JSON), linked to the running compute (text/plain): hot-plugged.
  const vol = await occi('POST', '/storage/', { accept: 'application/occi+json', contentType: 'application/occi+json', body: JSON.stringify({ kind: `${INFRA}storage`, attributes: { 'occi.core.title': 'occi-vol1', 'occi.storage.size': 0.0625 } }) });
  assert.equal(vol.status, 201, vol.text);
  const volId = (vol.json() as { id: string }).id;
  assert.equal((vol.json() as { attributes: Record<string, unknown> }).attributes['occi.storage.size'], 0.0625);
  assert.equal((await api.listVolumes()).find((v) => v.id === volId)?.sizeMiB, 64);
  const link = await occi('POST', '/link/storagelink/', {
    contentType: 'text/plain',
    body: `Category: storagelink; scheme="${INFRA}"; class="kind"\nX-OCCI-Attribute: occi.core.source="/occi/1.2/compute/${id}"\nX-OCCI-Attribute: occi.core.target="${url}/occi/1.2/storage/${volId}"\n`,
  });
  assert.equal(link.status, 201, link.text);
  assert.match(link.text, new RegExp(`^X-OCCI-Location: .*/occi/1\\.2/link/storagelink/${volId}$`, 'm'));
  assert.equal((await api.listVolumes()).find((v) => v.id === volId)?.vm, id);
  const linked = await computeJson(id);
  assert.deepEqual(linked.links?.map((l) => [l.kind, l.target.location]), [[`${INFRA}storagelink`, `/occi/1.2/storage/${volId}`]]);
  const linkJson = (await occi('GET', `/link/storagelink/${volId}`, { accept: 'application/occi+json' })).json() as { source: { location: string }; attributes: Record<string, unknown> };
  assert.equal(linkJson.source.location, `/occi/1.2/compute/${id}`);
  assert.equal(linkJson.attributes['occi.storagelink.deviceid'], 'vol0');

  // Another user: the same access rules as the native API (hidden: 404), and an empty collection.
  assert.equal((await occi('GET', `/compute/${id}`, { token: bobToken })).status, 404);
  assert.equal((await occi('DELETE', `/compute/${id}`, { token: bobToken })).status, 404);
  assert.equal((await occi('POST', `/compute/${id}?action=stop`, { token: bobToken })).status, 404);
  assert.doesNotMatch((await occi('GET', '/compute/', { token: bobToken })).text, new RegExp(id));
  const bobStopsAll = await occi('POST', '/compute/?action=stop', { token: bobToken, contentType: 'text/plain', body: `Category: stop; scheme="${ACTION}"; class="action"\nX-OCCI-Attribute: method="poweroff"\n` });
  assert.equal(bobStopsAll.status, 200, bobStopsAll.text);
  assert.equal(bobStopsAll.text, 'OK\n', 'bob\'s collection is empty: nothing stopped');
  assert.equal((await occi('POST', `/storage/${volId}?action=online`, { token: bobToken })).status, 404);
  assert.equal((await api.getVm(id)).state, 'running');

  // Storage actions: online changes nothing (a volume always is), the others are not implemented (501, naming the action); a compute's is unknown.
  assert.equal((await occi('POST', `/storage/${volId}?action=online`, { contentType: 'text/plain', body: `Category: online; scheme="${STORAGE_ACTION}"; class="action"\n` })).status, 200);
  for (const term of ['offline', 'backup', 'snapshot', 'resize']) {
    const r = await occi('POST', `/storage/${volId}?action=${term}`, { accept: 'application/occi+json' });
    assert.equal(r.status, 501, r.text);
    assert.match((r.json() as { error: { message: string } }).error.message, new RegExp(`action ${STORAGE_ACTION.replace(/[./]/g, '\\$&')}${term} \\(${term}\\) is not implemented by nubo`));
  }
  assert.equal((await occi('POST', '/storage/?action=snapshot')).status, 501);
  const storageStop = await occi('POST', `/storage/${volId}?action=stop`);
  assert.equal(storageStop.status, 400);
  assert.match(storageStop.text, /unknown action "stop": a storage has online, offline, backup, snapshot, resize/);
  const storageUpdate = await occi('POST', `/storage/${volId}`, { contentType: 'text/plain', body: `Category: storage; scheme="${INFRA}"; class="kind"\n` });
  assert.equal(storageUpdate.status, 405);
  assert.match(storageUpdate.text, /a storage is not updated; POST here triggers an action/);
  assert.deepEqual((await api.listVolumes()).filter((v) => v.id === volId).map((v) => [v.vm, v.sizeMiB]), [[id, 64]]);

  // PUT at the compute's own location replaces it: what cannot change is refused (409), nothing is written.
  const tinyCats = `Category: compute; scheme="${INFRA}"; class="kind"\nCategory: tiny; scheme="${OS_TPL}"; class="mixin"\n`;
  const renamed = await occi('PUT', `/compute/${id}`, { contentType: 'text/plain', body: `${tinyCats}X-OCCI-Attribute: occi.core.title="other-name"\n` });
  assert.equal(renamed.status, 409, renamed.text);
  assert.match(renamed.text, /the title of compute .* is "occi-vm1" and cannot change/);
  const relinked = await occi('PUT', `/compute/${id}`, { contentType: 'text/plain', body: tinyCats });
  assert.equal(relinked.status, 200, relinked.text);
  const growWhileRunning = await occi('PUT', `/compute/${id}`, { contentType: 'text/plain', body: `${tinyCats}Category: small; scheme="${RES_TPL}"; class="mixin"\n` });
  assert.equal(growWhileRunning.status, 409, growWhileRunning.text);
  assert.deepEqual([(await api.getVm(id)).memoryMiB, (await api.getVm(id)).state], [128, 'running']);

  // Powered off again (the hot-unplug of a disk the guest may not have finished probing is the native API's business,
  // tested in vm-storage.e2e), then unlink, delete the storage, delete the compute.
  const stopAll = await occi('POST', '/compute/?action=stop', { contentType: 'text/plain', body: `Category: stop; scheme="${ACTION}"; class="action"\nX-OCCI-Attribute: method="poweroff"\n` });
  assert.equal(stopAll.status, 200, stopAll.text);
  assert.match(stopAll.text, new RegExp(`/compute/${id}$`, 'm'));
  await pollUntil('VM powered off', async () => ((await api.getVm(id)).state === 'poweroff' ? true : undefined), { timeoutMs: 60_000 });
  // Powered off, a PUT at its location may give it another size (a resize), and the same PUT again changes nothing.
  for (let i = 0; i < 2; i++) {
    const grow = await occi('PUT', `/compute/${id}`, { contentType: 'text/plain', accept: 'application/occi+json', body: `${tinyCats}Category: small; scheme="${RES_TPL}"; class="mixin"\nX-OCCI-Attribute: occi.core.id="${id}"\n` });
    assert.equal(grow.status, 200, grow.text);
    assert.equal((grow.json() as { attributes: Record<string, unknown> }).attributes['occi.compute.memory'], 0.25);
  }
  assert.deepEqual([(await api.getVm(id)).vcpus, (await api.getVm(id)).memoryMiB], [1, 256]);
  // What a GET renders, PUT back as it is (its storagelink, nubo's attributes, the action references): nothing changes.
  for (const type of ['application/occi+json', 'text/plain']) {
    const got = await occi('GET', `/compute/${id}`, { accept: type });
    const back = await occi('PUT', `/compute/${id}`, { contentType: type, body: got.text });
    assert.equal(back.status, 200, `${type}: ${back.text}`);
  }
  assert.deepEqual([(await api.getVm(id)).state, (await api.getVm(id)).memoryMiB, (await api.listVolumes()).find((v) => v.id === volId)?.vm], ['poweroff', 256, id]);
  const unlink = await occi('DELETE', `/link/storagelink/${volId}`);
  assert.equal(unlink.status, 200, unlink.text);
  await pollUntil('volume detached', async () => ((await api.listVolumes()).find((v) => v.id === volId)?.vm === null ? true : undefined), { timeoutMs: 60_000 });
  assert.equal((await occi('GET', `/link/storagelink/${volId}`)).status, 404);
  assert.equal((await occi('DELETE', `/storage/${volId}`)).status, 200);
  assert.equal((await api.listVolumes()).some((v) => v.id === volId), false);
  assert.equal((await occi('DELETE', `/compute/${id}`)).status, 200);
  await pollUntil('VM terminated', async () => ((await api.getVm(id)).state === 'terminated' ? true : undefined), { timeoutMs: 120_000 });
  const gone = await occi('GET', `/compute/${id}`, { accept: 'application/occi+json' });
  assert.equal(gone.status, 404);
  assert.match((gone.json() as { error: { message: string } }).error.message, new RegExp(`no compute ${id}`));
});

test('networks: the admin creates one with the ipnetwork mixin, a user may not, and it is deleted', async () => {
  const refused = await occi('POST', '/network/', {
    token: bobToken, contentType: 'application/occi+json',
    body: JSON.stringify({ kind: `${INFRA}network`, mixins: [`${INFRA.replace('#', '/network#')}ipnetwork`], attributes: { 'occi.core.title': 'bobnet', 'occi.network.address': '198.18.77.0/24' } }),
  });
  assert.equal(refused.status, 403, refused.text);
  const made = await occi('POST', '/network/', {
    accept: 'application/occi+json', contentType: 'application/occi+json',
    body: JSON.stringify({ kind: `${INFRA}network`, mixins: [`${INFRA.replace('#', '/network#')}ipnetwork`], attributes: { 'occi.core.title': 'occinet', 'occi.network.address': '198.18.77.0/24', 'occi.network.gateway': '198.18.77.1' } }),
  });
  assert.equal(made.status, 201, made.text);
  const n = made.json() as { id: string; attributes: Record<string, unknown> };
  assert.equal(n.attributes['occi.network.address'], '198.18.77.0/24');
  assert.equal((await api.listNetworks()).find((x) => x.id === n.id)?.name, 'occinet');
  const text = await occi('GET', `/network/${n.id}`, { accept: 'text/occi' });
  assert.match(text.headers.get('x-occi-attribute') ?? '', /occi\.network\.gateway="198\.18\.77\.1"/);
  // Network actions: up changes nothing (a network always is), down is not implemented (501), nothing changes.
  assert.equal((await occi('POST', `/network/${n.id}?action=up`, { contentType: 'application/occi+json', body: JSON.stringify({ action: `${NETWORK_ACTION}up` }) })).status, 200);
  const down = await occi('POST', `/network/${n.id}?action=down`, { contentType: 'text/plain', body: `Category: down; scheme="${NETWORK_ACTION}"; class="action"\n` });
  assert.equal(down.status, 501, down.text);
  assert.match(down.text, /action http:\/\/schemas\.ogf\.org\/occi\/infrastructure\/network\/action#down \(down\) is not implemented by nubo/);
  assert.equal((await api.listNetworks()).find((x) => x.id === n.id)?.name, 'occinet');
  // Networks are visible to every user (as in the native API), deleted only by an admin.
  const bobDelete = await occi('DELETE', `/network/${n.id}`, { token: bobToken });
  assert.equal(bobDelete.status, 403, bobDelete.text);
  assert.equal((await occi('DELETE', `/network/${n.id}`)).status, 200);
  assert.equal((await api.listNetworks()).some((x) => x.id === n.id), false);
});

test('user-defined mixins: defined at the query interface, resources tagged through the mixin\'s location, listed and filtered; each user\'s own; bad ones refused with nothing written', async () => {
  const MY = 'http://example.com/occi/tags#';
  const def = await occi('POST', '/-/', { contentType: 'text/plain', body: `Category: backup_me; scheme="${MY}"; class="mixin"; title="Back these up"; location="/backup_me/"\n` });
  assert.equal(def.status, 200, def.text);
  assert.match(def.text, /^Category: backup_me; scheme="http:\/\/example\.com\/occi\/tags#"; class="mixin"; title="Back these up"; location="\/occi\/1\.2\/backup_me\/"$/m);
  const model = (await occi('GET', '/-/', { accept: 'application/occi+json' })).json() as { mixins: { term: string; scheme: string; location: string }[] };
  assert.deepEqual(model.mixins.filter((m) => m.scheme === MY).map((m) => [m.term, m.location]), [['backup_me', '/occi/1.2/backup_me/']]);
  assert.doesNotMatch((await occi('GET', '/-/', { token: bobToken })).text, /backup_me/, 'bob sees only his own mixins');

  // Refused definitions, each changing nothing.
  const before = (await occi('GET', '/-/')).text;
  const refusals: [string, number, RegExp][] = [
    [`Category: backup_me; scheme="${MY}"; class="mixin"; location="/again/"`, 409, /category http:\/\/example\.com\/occi\/tags#backup_me is already defined/],
    [`Category: other; scheme="${MY}"; class="mixin"; location="/backup_me/"`, 409, /location \/backup_me\/ is http:\/\/example\.com\/occi\/tags#backup_me's/],
    [`Category: c; scheme="${MY}"; class="mixin"; location="/compute/c/"`, 409, /is under \/compute\//],
    [`Category: c; scheme="${INFRA}"; class="mixin"; location="/c/"`, 400, /scheme http:\/\/schemas\.ogf\.org\/occi\/infrastructure# is reserved/],
    [`Category: c; scheme="${MY}"; class="kind"; location="/c/"`, 400, /only mixins can be defined/],
    [`Category: c; scheme="${MY}"; class="mixin"`, 400, /a location is required/],
  ];
  for (const [body, status, message] of refusals) {
    const r = await occi('POST', '/-/', { contentType: 'text/plain', body: `${body}\n` });
    assert.equal(r.status, status, `${body}: ${r.text}`);
    assert.match(r.text, message);
  }
  assert.equal((await occi('GET', '/-/')).text, before, 'no refused definition was kept');

  // Tagging: a storage and a network, by X-OCCI-Location (text/plain), then by text/uri-list; listed at the mixin's location.
  const vol = (await occi('POST', '/storage/', { accept: 'application/occi+json', contentType: 'application/occi+json', body: JSON.stringify({ kind: `${INFRA}storage`, attributes: { 'occi.core.title': 'tagged-vol', 'occi.storage.size': 0.0625 } }) })).json() as { id: string };
  const net = (await occi('POST', '/network/', {
    accept: 'application/occi+json', contentType: 'application/occi+json',
    body: JSON.stringify({ kind: `${INFRA}network`, mixins: [`${INFRA.replace('#', '/network#')}ipnetwork`], attributes: { 'occi.core.title': 'tagnet', 'occi.network.address': '198.18.78.0/24' } }),
  })).json() as { id: string };
  const tag = await occi('POST', '/backup_me/', { contentType: 'text/plain', body: `X-OCCI-Location: ${url}/occi/1.2/storage/${vol.id}\n` });
  assert.equal(tag.status, 200, tag.text);
  assert.equal((await occi('POST', '/backup_me/', { contentType: 'text/plain', body: `X-OCCI-Location: /occi/1.2/storage/${vol.id}\n` })).status, 200, 'tagging twice is once');
  const listed = await occi('GET', '/backup_me/', { accept: 'text/uri-list' });
  assert.equal(listed.text, `${url}/occi/1.2/storage/${vol.id}\r\n`);
  assert.match((await occi('GET', `/storage/${vol.id}`)).text, /^Category: backup_me; scheme="http:\/\/example\.com\/occi\/tags#"; class="mixin"$/m);
  assert.match((await occi('GET', `/storage/?category=${encodeURIComponent(`${MY}backup_me`)}`)).text, new RegExp(vol.id));
  // The collection's actions: online applies to its storage (and changes nothing).
  assert.equal((await occi('POST', '/backup_me/?action=online')).status, 200);
  const both = await occi('PUT', '/backup_me/', { contentType: 'text/uri-list', body: `# what to back up\r\n${url}/occi/1.2/network/${net.id}\r\n${url}/occi/1.2/storage/${vol.id}\r\n` });
  assert.equal(both.status, 200, both.text);
  assert.equal((await occi('GET', '/backup_me/', { accept: 'text/uri-list' })).text.split('\r\n').filter((l) => l !== '').length, 2);
  // The controller dying right after a tagging committed (before the answer): the tag is there once, and the client's retry changes nothing.
  await restartController({ NUBO_FAILPOINTS: 'occi.mixin.tagged=exit' });
  await occi('DELETE', '/backup_me/', { contentType: 'text/uri-list', body: `${url}/occi/1.2/network/${net.id}\r\n` }).catch(() => undefined);
  await afterCrash('occi.mixin.tagged');
  assert.equal((await occi('GET', '/backup_me/', { accept: 'text/uri-list' })).text, `${url}/occi/1.2/storage/${vol.id}\r\n`, 'the untagging committed');
  assert.equal((await occi('DELETE', '/backup_me/', { contentType: 'text/uri-list', body: `${url}/occi/1.2/network/${net.id}\r\n` })).status, 200);
  assert.equal((await occi('POST', '/backup_me/', { contentType: 'text/uri-list', body: `${url}/occi/1.2/network/${net.id}\r\n` })).status, 200);
  assert.equal((await occi('GET', '/backup_me/', { accept: 'text/uri-list' })).text.split('\r\n').filter((l) => l !== '').length, 2);
  // Refused taggings: a link, something hidden or gone, another user's mixin location; nothing changes.
  const was = (await occi('GET', '/backup_me/', { accept: 'text/uri-list' })).text;
  const badLink = await occi('POST', '/backup_me/', { contentType: 'text/plain', body: `X-OCCI-Location: /occi/1.2/link/storagelink/${vol.id}\n` });
  assert.equal(badLink.status, 400);
  assert.match(badLink.text, /is not a compute, storage or network location .*: mixins tag resources/);
  const gone = await occi('POST', '/backup_me/', { contentType: 'application/occi+json', body: JSON.stringify({ locations: ['/occi/1.2/compute/00000000-0000-4000-8000-000000000000'] }) });
  assert.equal(gone.status, 404, gone.text);
  assert.equal((await occi('POST', '/backup_me/', { token: bobToken, contentType: 'text/plain', body: `X-OCCI-Location: /occi/1.2/storage/${vol.id}\n` })).status, 404, 'not a location of bob\'s');
  assert.equal((await occi('GET', '/backup_me/', { accept: 'text/uri-list' })).text, was);
  // Untagging, then removing the mixin; its location is gone with it.
  assert.equal((await occi('DELETE', '/backup_me/', { contentType: 'text/uri-list', body: `${url}/occi/1.2/storage/${vol.id}\r\n` })).status, 200);
  assert.doesNotMatch((await occi('GET', '/backup_me/', { accept: 'text/uri-list' })).text, new RegExp(vol.id));
  const notMine = await occi('DELETE', '/-/', { contentType: 'text/plain', body: `Category: compute; scheme="${INFRA}"; class="kind"\n` });
  assert.equal(notMine.status, 403, notMine.text);
  assert.equal((await occi('DELETE', '/-/', { token: bobToken, contentType: 'text/plain', body: `Category: backup_me; scheme="${MY}"; class="mixin"\n` })).status, 404);
  assert.equal((await occi('DELETE', '/-/', { contentType: 'text/plain', body: `Category: backup_me; scheme="${MY}"; class="mixin"\n` })).status, 200);
  assert.equal((await occi('GET', '/backup_me/')).status, 404);
  assert.doesNotMatch((await occi('GET', `/storage/${vol.id}`)).text, /backup_me/);
  assert.equal((await occi('DELETE', `/storage/${vol.id}`)).status, 200);
  assert.equal((await occi('DELETE', `/network/${net.id}`)).status, 200);
});

/** Restarts the controller with `env`, waiting until it listens. */
async function restartController(env: NodeJS.ProcessEnv = {}): Promise<void> {
  await controller.stop();
  controller = startController(env);
  await controller.waitFor(/controller listening/, 120_000);
}

/** The controller SIGKILLed itself at a failpoint: start it again, without one. `answer`: what the request got, for the failure message. */
async function afterCrash(what: string, answer?: unknown): Promise<void> {
  await pollUntil(`the controller to die at ${what}`, async () => (controller.alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 100 }).catch((err: unknown) => {
    const said = answer === undefined ? '' : `; the request got ${typeof answer === 'string' ? answer : JSON.stringify({ status: (answer as Answer).status, text: (answer as Answer).text })}`;
    throw new Error(`${(err as Error).message}${said}; the controller's last output:\n${controller.output.join('').slice(-3000)}`);
  });
  assert.equal(controller.child.signalCode, 'SIGKILL', 'a crash, not an orderly stop');
  controller = startController();
  await controller.waitFor(/controller listening/, 120_000);
}

/** The VM reached running once, runs as one QEMU, and is listed once by OCCI. */
async function upOnce(id: string, name: string): Promise<void> {
  await waitState(id, 'active');
  const named = (await api.listVms()).filter((v) => v.name === name && v.state !== 'terminated');
  assert.deepEqual(named.map((v) => v.id), [id], 'one VM, not lost, not duplicated');
  const vm = await api.getVm(id);
  assert.equal(vm.history.filter((h) => h.to === 'running').length, 1, `reached running once: ${JSON.stringify(vm.history.map((h) => h.to))}`);
  await pollUntil(`one QEMU for ${name}`, async () => ((await qemuPidsOf(agentVmId(id))).length === 1 ? true : undefined), { timeoutMs: 20_000, intervalMs: 250 });
  const listed = (await occi('GET', '/compute/', { accept: 'text/uri-list' })).text.split('\r\n');
  assert.equal(listed.filter((l) => l.endsWith(`/compute/${id}`)).length, 1);
}

test('the controller SIGKILLed while an OCCI-created compute is in prolog, before and after the step: it comes up once; a PUT retried after the crash finds its compute', async () => {
  const tiny = `Category: compute; scheme="${INFRA}"; class="kind"\nCategory: tiny; scheme="${OS_TPL}"; class="mixin"\n`;
  // POST: the controller dies at prolog (the VM is recorded; the answer may or may not have gone out).
  await restartController({ NUBO_FAILPOINTS: 'vm.prolog=exit' });
  await occi('POST', '/compute/', { contentType: 'text/plain', body: `${tiny}X-OCCI-Attribute: occi.core.title="occi-crash"\n` }).catch(() => undefined);
  await afterCrash('vm.prolog');
  const crashed = (await api.listVms()).filter((v) => v.name === 'occi-crash');
  assert.equal(crashed.length, 1, 'the create was recorded once');
  await upOnce(crashed[0]!.id, 'occi-crash');

  // PUT at a client-chosen location, the controller dying at the prolog step, right after the create (before the answer)
  // and once the prolog is done: the client does not
  // know whether it was made, and PUTs again — the same request finds the compute (200, nothing changed), never a second
  // one. (The host has 2 CPUs: two tiny computes at a time.)
  const computes: string[] = [];
  for (const failpoint of ['vm.prolog', 'occi.put.created', 'vm.prolog.done']) {
    const id = randomUUID();
    const name = `occi-put-${failpoint.replace(/\./g, '-')}`;
    const body = `${tiny}X-OCCI-Attribute: occi.core.title="${name}"\nX-OCCI-Attribute: occi.core.id="${id}"\n`;
    await restartController({ NUBO_FAILPOINTS: `${failpoint}=exit` });
    const first = await occi('PUT', `/compute/${id}`, { contentType: 'text/plain', body }).catch((err: unknown) => String(err));
    await afterCrash(failpoint, first);
    const again = await occi('PUT', `/compute/${id}`, { contentType: 'text/plain', accept: 'application/occi+json', body });
    assert.equal(again.status, 200, again.text);
    assert.equal((again.json() as { id: string }).id, id);
    await upOnce(id, name);
    computes.push(id);
    if (computes.length === 2 && failpoint !== 'vm.prolog.done') {
      // Room for the next one: the first PUT's compute goes.
      assert.equal((await occi('DELETE', `/compute/${computes.shift()!}`)).status, 200);
      await pollUntil('one compute left', async () => ((await api.listVms()).filter((v) => v.state !== 'terminated').length === 1 ? true : undefined), { timeoutMs: 120_000 });
    }
    if (crashed[0] !== undefined && (await api.getVm(crashed[0].id)).state !== 'terminated') {
      assert.equal((await occi('DELETE', `/compute/${crashed[0].id}`)).status, 200);
      await waitVm(crashed[0].id, 'terminated');
      // A deleted compute keeps its id (until purged): a PUT there is refused, nothing made.
      const reuse = await occi('PUT', `/compute/${crashed[0].id}`, { contentType: 'text/plain', body: tiny });
      assert.equal(reuse.status, 409, reuse.text);
      assert.match(reuse.text, /the id .* is taken by another compute/);
      assert.equal((await api.listVms()).filter((v) => v.state !== 'terminated').length, 1);
    }
  }

  // Both computes tagged with a mixin of the user's; a stop of the mixin's collection, the controller dying right after
  // the first member's stop: the repeated request stops the other, and no compute is stopped twice.
  const MY = 'http://example.com/occi/tags#';
  assert.equal((await occi('POST', '/-/', { contentType: 'text/plain', body: `Category: crashed; scheme="${MY}"; class="mixin"; location="/crashed/"; rel="${INFRA}compute"\n` })).status, 200);
  const tagged = await occi('PUT', '/crashed/', { contentType: 'text/uri-list', body: computes.map((i) => `${url}/occi/1.2/compute/${i}\r\n`).join('') });
  assert.equal(tagged.status, 200, tagged.text);
  assert.equal((await occi('GET', '/crashed/', { accept: 'text/uri-list' })).text.split('\r\n').filter((l) => l !== '').length, 2);
  const stop = `Category: stop; scheme="${ACTION}"; class="action"\nX-OCCI-Attribute: method="poweroff"\n`;
  await restartController({ NUBO_FAILPOINTS: 'occi.collection-action.acted=exit' });
  await occi('POST', '/crashed/?action=stop', { contentType: 'text/plain', body: stop }).catch(() => undefined);
  await afterCrash('occi.collection-action.acted');
  const retry = await occi('POST', '/crashed/?action=stop', { contentType: 'text/plain', body: stop });
  assert.equal(retry.status, 200, retry.text);
  const second = (retry.text.match(/^X-OCCI-Location: .*\/compute\/(\S+)$/gm) ?? []).map((l) => l.slice(l.lastIndexOf('/') + 1));
  assert.equal(second.length, 1, `the retry stops the one the first request did not reach: ${retry.text}`);
  for (const id of computes) {
    await waitVm(id, 'poweroff');
    const offs = (await api.getVm(id)).history.filter((h) => h.to === 'poweroff').length;
    assert.equal(offs, 1, `compute ${id} stopped once`);
  }
  assert.equal((await occi('DELETE', '/-/', { contentType: 'text/plain', body: `Category: crashed; scheme="${MY}"; class="mixin"\n` })).status, 200);
  for (const vm of await api.listVms()) if (vm.state !== 'terminated') assert.equal((await occi('DELETE', `/compute/${vm.id}`)).status, 200);
  await pollUntil('every VM terminated', async () => ((await api.listVms()).every((v) => v.state === 'terminated') ? true : undefined), { timeoutMs: 120_000 });
});
