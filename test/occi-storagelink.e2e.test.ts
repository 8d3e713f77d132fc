import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { pollUntil } from '../src/util/deadline.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { type DaemonProcess, qemuPidsOf } from './support/daemon-process.js';
import { closeOneHostSite, startOneHostSite, startSiteController } from './support/one-host-site.js';

// A compute created with its storage in one request (OCCI's storagelink in a
// create, the native create's `volumes`), from outside over HTTP, on one host
// with real QEMU: the volume is attached in the VM's first prolog, before it
// first boots — also when the controller is SIGKILLed between binding the
// volume and preparing the VM — and bad or taken volumes are refused with
// nothing made. No lab: the computes have no NICs.

let root: string;
let controllerPort: number;
let controller: DaemonProcess;
let agent: DaemonProcess;
let api: NuboClient;
let url: string;
let adminToken: string;
let bobToken: string;

const INFRA = 'http://schemas.ogf.org/occi/infrastructure#';
const OS_TPL = 'http://schemas.nubo.dev/occi/os_tpl#';
const TINY = `Category: compute; scheme="${INFRA}"; class="kind"\nCategory: tiny; scheme="${OS_TPL}"; class="mixin"\n`;

function startController(env: NodeJS.ProcessEnv = {}): DaemonProcess {
  return startSiteController(root, controllerPort, env);
}

interface Answer { status: number; text: string; json: () => Record<string, unknown> }

async function call(method: string, path: string, o: { token?: string; accept?: string; contentType?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const headers = new Headers({ authorization: `Bearer ${o.token ?? adminToken}` });
  if (o.accept !== undefined) headers.set('accept', o.accept);
  if (o.contentType !== undefined) headers.set('content-type', o.contentType);
  for (const [k, v] of Object.entries(o.headers ?? {})) headers.append(k, v);
  const res = await fetch(`${url}${path}`, { method, headers, ...(o.body !== undefined ? { body: o.body } : {}), signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
}
const occi = (method: string, path: string, o: Parameters<typeof call>[2] = {}): Promise<Answer> => call(method, `/occi/1.2${path}`, o);
const createVm = (body: unknown, token?: string): Promise<Answer> => call('POST', '/api/v1/vms', { contentType: 'application/json', body: JSON.stringify(body), ...(token !== undefined ? { token } : {}) });

const computeJson = async (id: string): Promise<{ attributes: Record<string, unknown>; links?: { kind: string; target: { location: string } }[] }> => {
  const r = await occi('GET', `/compute/${id}`, { accept: 'application/occi+json' });
  assert.equal(r.status, 200, r.text);
  return r.json() as never;
};
const waitActive = (id: string): Promise<true> =>
  pollUntil(`compute ${id} active`, async () => ((await computeJson(id)).attributes['occi.compute.state'] === 'active' ? true : undefined), { timeoutMs: 240_000, intervalMs: 500 });
const waitVm = (id: string, state: string): Promise<true> =>
  pollUntil(`VM ${id} ${state}`, async () => ((await api.getVm(id)).state === state ? true : undefined), { timeoutMs: 120_000, intervalMs: 250 });
const idOf = (location: string): string => location.slice(location.lastIndexOf('/') + 1).trim();

/** What the store holds, to show that a refused request wrote nothing. */
async function snapshot(): Promise<string> {
  const [vms, volumes] = await Promise.all([api.listVms(), api.listVolumes()]);
  return JSON.stringify({ vms: vms.map((v) => [v.id, v.state]), volumes: volumes.map((v) => [v.id, v.vm, v.host, v.slot]) });
}

/** The compute runs with the volume: linked in its rendering, attached in the store at slot 0 on h1, and a disk of its one QEMU. */
async function runsWith(vmId: string, volumeId: string): Promise<void> {
  await waitActive(vmId);
  const c = await computeJson(vmId);
  assert.deepEqual(c.links?.map((l) => [l.kind, l.target.location]), [[`${INFRA}storagelink`, `/occi/1.2/storage/${volumeId}`]]);
  const v = (await api.listVolumes()).find((x) => x.id === volumeId)!;
  assert.deepEqual([v.vm, v.host, v.slot, v.state], [vmId, 'h1', 0, 'attached']);
  const vm = await api.getVm(vmId);
  assert.equal(vm.history.filter((h) => h.to === 'running').length, 1, `reached running once: ${JSON.stringify(vm.history.map((h) => h.to))}`);
  const pids = await qemuPidsOf(agentVmId(vmId));
  assert.equal(pids.length, 1);
  const cmdline = (await readFile(`/proc/${pids[0]!}/cmdline`, 'utf8')).split('\0').join(' ');
  assert.match(cmdline, new RegExp(`volumes/${volumeId}\\.qcow2`), 'QEMU was started with the volume as a disk');
}

async function deleteCompute(id: string): Promise<void> {
  assert.equal((await occi('DELETE', `/compute/${id}`)).status, 200);
  await waitVm(id, 'terminated');
}

before(async () => {
  ({ root, controllerPort, controller, agent, api, url, adminToken, bobToken } = await startOneHostSite('nubo-occi-slink-'));
});

after(async () => {
  await closeOneHostSite({ api, controller, agent, root });
});

test('the native create\'s `volumes`: unknown, repeated, another user\'s and ill-formed volumes are refused naming the volume, nothing made', async () => {
  const mine = await api.createVolume({ name: 'native-1', sizeMiB: 16 });
  const bobs = await new NuboClient(url, bobToken).createVolume({ name: 'bobs-1', sizeMiB: 16 });
  const before = await snapshot();
  const cases: [unknown, number, RegExp][] = [
    [{ template: 'tiny', volumes: ['nosuch'] }, 400, /volumes\[0\]: no volume nosuch/],
    [{ template: 'tiny', volumes: [mine.id, 'native-1'] }, 400, /volumes\[1\]: volume native-1 is listed twice/],
    [{ template: 'tiny', volumes: [bobs.id] }, 409, /bobs-1.*belongs to another user than the VM would/],
    [{ template: 'tiny', volumes: [] }, 400, /volumes/],
    [{ template: 'tiny', volumes: [''] }, 400, /volumes\.0|volumes\[0\]/],
    [{ template: 'tiny', volumes: 'native-1' }, 400, /volumes/],
  ];
  for (const [body, status, match] of cases) {
    const r = await createVm(body);
    assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
    assert.match(r.text, match);
  }
  // Bob cannot use a volume he does not see: it is unknown to him.
  const hidden = await createVm({ template: 'tiny', volumes: [mine.id] }, bobToken);
  assert.equal(hidden.status, 400, hidden.text);
  assert.match(hidden.text, /volumes\[0\]: no volume/);
  assert.equal(await snapshot(), before, 'nothing written by a refused create');
  await api.deleteVolume(mine.id);
});

test('a compute created with a storagelink in text/occi and in JSON runs with its volume; unknown and attached storages are refused, nothing made', async () => {
  const s1 = await api.createVolume({ name: 'slink-1', sizeMiB: 16 });
  const s2 = await api.createVolume({ name: 'slink-2', sizeMiB: 16 });

  // text/occi: the link in a Link header, as rOCCI sends it.
  const text = await occi('POST', '/compute/', {
    contentType: 'text/occi', accept: 'text/plain',
    headers: {
      category: `compute; scheme="${INFRA}"; class="kind", tiny; scheme="${OS_TPL}"; class="mixin"`,
      'x-occi-attribute': 'occi.core.title="slink-text"',
      link: `</occi/1.2/storage/${s1.id}>; rel="${INFRA}storage"; category="${INFRA}storagelink"`,
    },
  });
  assert.equal(text.status, 201, text.text);
  const c1 = idOf(text.text.split('\n').find((l) => l.includes('/compute/'))!);
  await runsWith(c1, s1.id);

  // JSON: `links` with the storage as the target.
  const json = await occi('POST', '/compute/', {
    contentType: 'application/occi+json', accept: 'application/occi+json',
    body: JSON.stringify({
      kind: `${INFRA}compute`, mixins: [`${OS_TPL}tiny`], attributes: { 'occi.core.title': 'slink-json' },
      links: [{ kind: `${INFRA}storagelink`, target: { location: `/occi/1.2/storage/${s2.id}`, kind: `${INFRA}storage` } }],
    }),
  });
  assert.equal(json.status, 201, json.text);
  const c2 = (json.json() as { id: string }).id;
  await runsWith(c2, s2.id);

  // Refused, nothing made: an unknown storage (400 naming the link), one attached to another compute (409 naming it).
  const before = await snapshot();
  const unknown = await occi('POST', '/compute/', { contentType: 'text/plain', body: `${TINY}Link: </occi/1.2/storage/nosuch>; rel="${INFRA}storage"; category="${INFRA}storagelink"\n` });
  assert.equal(unknown.status, 400, unknown.text);
  assert.match(unknown.text, /no volume nosuch/);
  const taken = await occi('POST', '/compute/', {
    contentType: 'application/occi+json',
    body: JSON.stringify({ kind: `${INFRA}compute`, mixins: [`${OS_TPL}tiny`], links: [{ kind: `${INFRA}storagelink`, target: { location: `/occi/1.2/storage/${s1.id}` } }] }),
  });
  assert.equal(taken.status, 409, taken.text);
  assert.match(taken.text, new RegExp(`slink-1.*is attached to VM slink-text`));
  assert.equal(await snapshot(), before, 'nothing written by a refused create');

  await deleteCompute(c1);
  await deleteCompute(c2);
  // Terminated, the computes let their volumes go; the files stay on h1.
  for (const v of (await api.listVolumes()).filter((x) => x.name.startsWith('slink-'))) assert.deepEqual([v.vm, v.host, v.state], [null, 'h1', 'available']);
});

/** The controller SIGKILLed itself at a failpoint: start it again (`env`: its failpoints). */
async function afterCrash(what: string, answer: unknown, env: NodeJS.ProcessEnv = {}): Promise<void> {
  await pollUntil(`the controller to die at ${what}`, async () => (controller.alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 100 }).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; the request got ${JSON.stringify(answer)}; the controller's last output:\n${controller.output.join('').slice(-3000)}`);
  });
  assert.equal(controller.child.signalCode, 'SIGKILL', 'a crash, not an orderly stop');
  controller = startController(env);
  await controller.waitFor(/controller listening/, 120_000);
}

async function restartController(env: NodeJS.ProcessEnv): Promise<void> {
  await controller.stop();
  controller = startController(env);
  await controller.waitFor(/controller listening/, 120_000);
}

test('the controller SIGKILLed between binding a create\'s volume and preparing the VM: the prolog resumes and the compute runs once, with its volume', async () => {
  const v = (await api.listVolumes()).find((x) => x.name === 'slink-1')!;
  await restartController({ NUBO_FAILPOINTS: 'vm.prolog.volumes-bound=exit' });
  const sent = await occi('POST', '/compute/', { contentType: 'text/plain', body: `${TINY}X-OCCI-Attribute: occi.core.title="slink-crash"\nLink: </occi/1.2/storage/${v.id}>; rel="${INFRA}storage"; category="${INFRA}storagelink"\n` }).catch((err: unknown) => String(err));
  await afterCrash('vm.prolog.volumes-bound', sent);
  const made = (await api.listVms()).filter((x) => x.name === 'slink-crash');
  assert.equal(made.length, 1, 'the create was recorded once');
  await runsWith(made[0]!.id, v.id);
  await deleteCompute(made[0]!.id);
});

test('a PUT with a storagelink, the controller SIGKILLed before the volume is bound: the PUT retried while the prolog has not bound it yet finds the compute (200), which runs once with its volume', async () => {
  const v = (await api.listVolumes()).find((x) => x.name === 'slink-2')!;
  const id = randomUUID();
  const body = `${TINY}X-OCCI-Attribute: occi.core.title="slink-put"\nX-OCCI-Attribute: occi.core.id="${id}"\nLink: </occi/1.2/storage/${v.id}>; rel="${INFRA}storage"; category="${INFRA}storagelink"\n`;
  await restartController({ NUBO_FAILPOINTS: 'vm.prolog=exit' });
  const first = await occi('PUT', `/compute/${id}`, { contentType: 'text/plain', body }).catch((err: unknown) => String(err));
  // Started again with its prolog held back a while: the retried PUT comes while the volume is still only promised.
  await afterCrash('vm.prolog', first, { NUBO_FAILPOINTS: 'vm.prolog=sleep(8000)' });
  const detail = await api.getVm(id);
  assert.deepEqual([detail.state, detail.volumesToAttach], ['prolog', [v.id]], 'the volume is not bound yet, and the VM says it is coming');
  const again = await occi('PUT', `/compute/${id}`, { contentType: 'text/plain', accept: 'application/occi+json', body });
  assert.equal(again.status, 200, again.text);
  assert.equal((again.json() as { id: string }).id, id);
  await runsWith(id, v.id);
  assert.equal((await api.getVm(id)).volumesToAttach, undefined);
  await deleteCompute(id);
});
