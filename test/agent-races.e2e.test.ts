import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { QemuDriver } from '../src/hypervisor/qemu/qemu-driver.js';
import type { Hypervisor, VmStatus } from '../src/hypervisor/hypervisor.js';
import { VmExistsError } from '../src/hypervisor/hypervisor-errors.js';
import { buildTinyImage, type TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { prepareTinyVm } from '../src/storage/prepare-tiny-vm.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { pollUntil, sleep } from '../src/util/deadline.js';
import { AgentService } from '../src/agent/agent-service.js';
import { ImageCache } from '../src/agent/image-cache.js';
import { createAgentServer } from '../src/agent/agent-server.js';
import type { AgentVmSpecInput, ImageRef } from '../src/contract/agent-api.js';
import { Failpoints } from '../src/util/failpoints.js';
import { FailpointError } from '../src/util/failpoint-error.js';
import { TestImageServer } from './support/image-server.js';

// Races on one VM between concurrent calls, on real QEMU: two launches of one id, a heartbeat's report against a
// start, a call whose client went away while it waited for the VM's lock, a second start while the first one's QEMU
// comes up (a controller that took over asks again), and a launch that fails once its QEMU runs.

const TOKEN = 'host-secret-races';
const logger = pino({ level: 'silent' });
let image: TinyImage;
let root: string;
let images: TestImageServer;
let refs: { disk: ImageRef; kernel: ImageRef; initrd: ImageRef };
let driver: QemuDriver;
/** The driver's failpoints (qemu.launched: QEMU runs, the driver does not hold it yet). */
const failpoints = new Failpoints();
/** While this file exists, the QEMU command (a wrapper) returns only once `<hold>.release` exists, after QEMU daemonised. */
let hold: string;
let gate: StatusGate;
let svc: AgentService;
let server: FastifyInstance;
let url: string;
/** Resolves when the agent server saw a client go away before its answer. */
let clientGone: () => Promise<void>;
/** Resolves when a request for this URL reached its handler. */
let arrived: (url: string) => Promise<void>;

/** Holds the next call of `status` once it has its answer, until released: the gap in which a concurrent call on the VM runs. */
class StatusGate {
  #armed: { reached: () => void; release: Promise<void> } | undefined;

  arm(): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const r = new Promise<void>((resolve) => (reached = resolve));
    this.#armed = { reached, release: new Promise<void>((resolve) => (release = resolve)) };
    return { reached: r, release };
  }

  async pass(): Promise<void> {
    const a = this.#armed;
    if (!a) return;
    this.#armed = undefined;
    a.reached();
    await a.release;
  }
}

/** The real driver, with `status` going through the gate. */
function gated(d: QemuDriver, g: StatusGate): Hypervisor {
  return new Proxy(d, {
    get(target, prop) {
      if (prop === 'status') {
        return async (vmId: string, o?: { signal?: AbortSignal; timeoutMs?: number }): Promise<VmStatus> => {
          const r = await target.status(vmId, o).then((v) => ({ v }), (e: unknown) => ({ e }));
          await g.pass();
          if ('e' in r) throw r.e;
          return r.v;
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** Pids of the QEMU processes of a VM, from /proc (the driver's own mark on their command line). */
async function qemuPidsOf(vmId: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(`guest=${vmId},debug-threads=on`) && !/^\d+ \(.*\) Z /.test(stat)) pids.push(Number(name));
  }
  return pids;
}

function spec(hostname: string, over: Partial<AgentVmSpecInput> = {}): AgentVmSpecInput {
  return {
    vcpus: 1,
    memoryMiB: 128,
    disk: { image: refs.disk },
    kernel: refs.kernel,
    initrd: refs.initrd,
    cmdline: image.cmdline,
    nics: [{ mac: '52:54:00:00:31:01' }],
    context: { hostname },
    ...over,
  };
}

before(async () => {
  image = await buildTinyImage({ cacheDir: imageCacheDir() });
  root = await mkdtemp(join(tmpdir(), 'nubo-race-'));
  const dataDir = join(root, 'host');
  await mkdir(dataDir, { recursive: true });
  images = new TestImageServer(TOKEN);
  await images.start();
  refs = {
    disk: await images.add('tiny-disk', image.dataDisk, 'qcow2'),
    kernel: await images.add('tiny-kernel', image.kernel, 'kernel'),
    initrd: await images.add('tiny-initrd', image.initrd, 'initrd'),
  };
  hold = join(root, 'hold');
  const wrapper = join(root, 'qemu-held.sh');
  // `exec` so that the waiting process no longer carries QEMU's argv (the tests count QEMUs by it); at most 60 s.
  await writeFile(wrapper, `#!/bin/sh\nqemu-system-x86_64 "$@" || exit $?\n[ -e '${hold}' ] || exit 0\ntouch '${hold}.reached'\nexec sh -c 'i=0; while [ ! -e "$0" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done' '${hold}.release'\n`);
  await chmod(wrapper, 0o755);
  driver = await QemuDriver.create({ runDir: join(root, 'run'), allowedDirs: [dataDir, image.dir], accel: 'tcg', logger, failpoints, qemuBinary: wrapper });
  gate = new StatusGate();
  svc = new AgentService({ dataDir, hypervisor: gated(driver, gate), images: new ImageCache(join(dataDir, 'images'), TOKEN), logger });
  server = createAgentServer({ service: svc, token: TOKEN, logger, hostReport: () => Promise.reject(new Error('not used')) });
  let gone: (() => void) | undefined;
  const seen = new Set<string>();
  server.addHook('onRequestAbort', (req, done) => {
    seen.add(req.id);
    gone?.();
    done();
  });
  clientGone = () => (seen.size > 0 ? Promise.resolve() : new Promise<void>((resolve) => (gone = resolve)));
  const waiting = new Map<string, () => void>();
  server.addHook('preHandler', async (req) => {
    waiting.get(req.url)?.();
  });
  arrived = (u) => new Promise<void>((resolve) => waiting.set(u, resolve));
  await server.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const s of await driver.list().catch(() => [])) await driver.destroy(s.id).catch(() => {});
  await server.close();
  await driver.close();
  await images.stop();
  await rm(root, { recursive: true, force: true });
});

test('two concurrent starts of one VM: one QEMU, and the second start is refused as a VM that exists', async () => {
  const id = 'twin';
  const dir = join(root, 'host', 'twin');
  await mkdir(dir, { recursive: true });
  const vmSpec = await prepareTinyVm({ image, dir, id, nics: [] });
  const results = await Promise.allSettled([driver.start(vmSpec), driver.start(vmSpec)]);
  try {
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    assert.equal(ok.length, 1, `exactly one start succeeds: ${results.map((r) => (r.status === 'rejected' ? String(r.reason) : r.value.state)).join(' / ')}`);
    assert.ok(refused[0] instanceof VmExistsError, String(refused[0]));
    const pids = await qemuPidsOf(id);
    assert.equal(pids.length, 1, `one QEMU for the VM, found ${pids.join(', ')}`);
    const s = await driver.status(id);
    assert.equal(s.state, 'running');
    assert.equal(s.pid, pids[0], 'the driver holds the QEMU that runs');
  } finally {
    await driver.destroy(id);
  }
  assert.deepEqual(await qemuPidsOf(id), []);
});

test('a heartbeat that saw a powered-off guest does not end the QEMU that a concurrent start made', async () => {
  const id = 'beat';
  // The guest powers itself off on its first boot only (the mark is on its data disk).
  const userData = '#!/bin/sh\nif [ ! -e /data/off-once ]; then touch /data/off-once; sync; poweroff -f; fi\n';
  await svc.lifecycle.prepare(id, spec(id, { context: { hostname: id, userData } }));
  try {
    await svc.lifecycle.start(id);
    await pollUntil('the guest powering off', async () => ((await driver.status(id)).state === 'shutoff' ? true : undefined), { timeoutMs: 120_000, intervalMs: 200 });

    // The heartbeat reads the VM's state, and is held right after it learnt "shutoff".
    const held = gate.arm();
    const beat = svc.lifecycle.list();
    await held.reached;
    const started = await svc.lifecycle.start(id);
    assert.equal(started.state, 'running');
    const pid = started.pid;
    assert.ok(pid !== undefined);
    held.release();
    const reports = await beat;
    assert.deepEqual(reports.map((r) => r.id), [id]);
    // A call under the VM's lock waits for whatever the heartbeat left queued there.
    const after = await svc.lifecycle.start(id);
    assert.equal(after.state, 'running', `the VM runs on: ${after.reason ?? ''}`);
    assert.equal(after.pid, pid, 'the same QEMU');
    assert.deepEqual(await qemuPidsOf(`${id}`), [pid]);
  } finally {
    await svc.lifecycle.delete(id);
  }
  assert.deepEqual(await qemuPidsOf(id), []);
});

test('a call whose client went away while it waited for the VM\'s lock is not carried out', async () => {
  const id = 'gone';
  await svc.lifecycle.prepare(id, spec(id, { nics: [{ mac: '52:54:00:00:31:02' }] }));
  try {
    // A hard power-off holds the VM's lock while its status read is held at the gate.
    const held = gate.arm();
    const first = svc.lifecycle.powerOff(id, true);
    await held.reached;
    const ctl = new AbortController();
    const path = `/agent/v1/vms/${id}/start`;
    const there = arrived(path);
    const start = fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, signal: ctl.signal });
    // Queued behind the power-off (its handler runs right after the hook), then the client goes away.
    await there;
    await sleep(50);
    ctl.abort();
    await assert.rejects(start, { name: 'AbortError' });
    await clientGone();
    held.release();
    assert.equal((await first).state, 'poweroff');
    // A read under the VM's lock: it queues behind the abandoned start, whatever that did.
    await svc.snapshots.listSnapshots(id);
    assert.equal((await svc.lifecycle.get(id)).state, 'poweroff', 'the start nobody waited for was not carried out');
    assert.deepEqual(await qemuPidsOf(id), []);
  } finally {
    await svc.lifecycle.delete(id);
  }
});

test('a start whose client went away while its QEMU came up goes on; a second start joins it: one QEMU, both answers agree', async () => {
  const id = 'join';
  await svc.lifecycle.prepare(id, spec(id, { nics: [{ mac: '52:54:00:00:31:03' }] }));
  try {
    // The launch command is held once QEMU has daemonised and before it returns: where a controller died in CI (its
    // start was cut short there and left a QEMU nobody knew of; the next leader's start then failed on the disk's lock).
    await writeFile(hold, '');
    const path = `/agent/v1/vms/${id}/start`;
    const post = (signal?: AbortSignal): Promise<Response> => fetch(`${url}${path}`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{}', ...(signal ? { signal } : {}),
    });
    const ctl = new AbortController();
    const first = post(ctl.signal);
    await pollUntil('the launch held', async () => ((await stat(`${hold}.reached`).catch(() => undefined)) ? true : undefined), { timeoutMs: 60_000, intervalMs: 50 });
    await rm(hold);
    const launched = await qemuPidsOf(id);
    assert.equal(launched.length, 1, `one QEMU launched: ${launched.join(', ')}`);
    // The first client goes away (a controller SIGKILLed), then another asks for the same start while it is under way.
    ctl.abort();
    await assert.rejects(first, { name: 'AbortError' });
    await clientGone();
    const there = arrived(path);
    const second = post();
    await there;
    await writeFile(`${hold}.release`, '');
    const res = await second;
    assert.equal(res.status, 200, await res.clone().text());
    const report = (await res.json()) as { state: string; pid?: number };
    assert.equal(report.state, 'running');
    assert.equal(report.pid, launched[0], 'the second start answers with the QEMU the first one launched');
    assert.deepEqual(await qemuPidsOf(id), launched, 'never a second QEMU');
    const now = await svc.lifecycle.get(id);
    assert.deepEqual({ state: now.state, pid: now.pid }, { state: 'running', pid: launched[0] });
    // Once done, a start is a no-op that names the same QEMU.
    assert.equal((await svc.lifecycle.start(id)).pid, launched[0]);
  } finally {
    await rm(hold, { force: true });
    await writeFile(`${hold}.release`, '');
    await svc.lifecycle.delete(id);
  }
  assert.deepEqual(await qemuPidsOf(id), []);
});

test('a launch that fails after its QEMU daemonised leaves no QEMU behind: the next start of the VM boots it', async () => {
  const id = 'stray';
  await svc.lifecycle.prepare(id, spec(id, { nics: [{ mac: '52:54:00:00:31:04' }] }));
  try {
    let seen: number[] = [];
    failpoints.arm('qemu.launched', async () => {
      seen = await qemuPidsOf(id);
      throw new FailpointError('qemu.launched');
    });
    await assert.rejects(svc.lifecycle.start(id), /qemu\.launched/);
    assert.equal(seen.length, 1, 'QEMU had daemonised when the launch failed');
    assert.deepEqual(await qemuPidsOf(id), [], 'the failed launch ended its QEMU');
    assert.equal((await svc.lifecycle.get(id)).state, 'poweroff');
    // Nothing holds the disk's write lock: the retry boots.
    const r = await svc.lifecycle.start(id);
    assert.equal(r.state, 'running', r.reason ?? '');
    assert.deepEqual(await qemuPidsOf(id), [r.pid]);
  } finally {
    failpoints.disarm('qemu.launched');
    await svc.lifecycle.delete(id);
  }
  assert.deepEqual(await qemuPidsOf(id), []);
});
