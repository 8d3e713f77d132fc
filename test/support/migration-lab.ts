import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { ControllerDaemon, type ControllerDaemonOptions } from '../../src/controller/controller-daemon.js';
import { agentVmId } from '../../src/controller/agent-vm-id.js';
import { tapName } from '../../src/agent/hypervisor-vm-spec.js';
import { NuboClient } from '../../src/client/nubo-client.js';
import { RemoteError } from '../../src/client/remote-error.js';
import type { VmDetailView } from '../../src/contract/vm-schemas.js';
import type { MigrationView } from '../../src/contract/migration-schemas.js';
import { buildTinyImage, type TinyImage } from '../../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../../src/util/nubo-home.js';
import { pollUntil } from '../../src/util/deadline.js';
import { runCommand } from '../../src/util/run-command.js';
import { Failpoints } from '../../src/util/failpoints.js';
import { isQemuOf, readPidFile } from '../../src/hypervisor/qemu/qemu-process.js';
import { labDown, labFabricUp, labUp } from '../../src/lab/lab.js';
import { FABRIC_ADDRESS, readLabState, type LabHost } from '../../src/lab/lab-state.js';
import { isLabProcess, stopLabProcess } from '../../src/lab/lab-process.js';
import { freePort } from '../../src/util/free-port.js';
import { httpGet } from './http-get.js';
import { TINY_IMAGE_MIN_MEMORY_MIB } from '../../src/core/memory-minimum.js';
import { consoleLines } from './console-order.js';

/**
 * A 3-host lab with an in-process controller for the migration suites: a
 * network without VLAN whose gateway address sits on the fabric bridge (so
 * this process is a client in the fabric), a 128 MiB template, and guests
 * whose user data writes /data/blob and serves its checksum (read from disk,
 * caches dropped) and their MAC.
 */
export const MIGRATION_USER_DATA = [
  '#!/bin/sh',
  'dd if=/dev/urandom of=/data/blob bs=64k count=32 2>/dev/null; sync',
  "cat > /www/cgi-bin/sum <<'EOF'",
  '#!/bin/sh',
  "printf 'Content-Type: text/plain\\r\\n\\r\\n'",
  'sync; echo 3 > /proc/sys/vm/drop_caches',
  "sha256sum /data/blob | cut -d' ' -f1",
  'EOF',
  "cat > /www/cgi-bin/mac <<'EOF'",
  '#!/bin/sh',
  "printf 'Content-Type: text/plain\\r\\n\\r\\n'",
  'cat /sys/class/net/eth0/address',
  'EOF',
  // GET /cgi-bin/mark?WORD prints `MARK WORD` on the serial console: a line the test knows when it was written.
  "cat > /www/cgi-bin/mark <<'EOF'",
  '#!/bin/sh',
  'echo "MARK $QUERY_STRING" > /dev/ttyS0',
  "printf 'Content-Type: text/plain\\r\\n\\r\\nok'",
  'EOF',
  'chmod 755 /www/cgi-bin/sum /www/cgi-bin/mark /www/cgi-bin/mac',
  'echo USERDATA-DONE',
  '',
].join('\n');

export interface GuestFacts { uptime: number; sum: string; mac: string }

export class MigrationLab {
  readonly prefix = `lm${randomBytes(3).toString('hex')}`;
  readonly failpoints = new Failpoints();
  root = '';
  dir = '';
  /** The in-process controller; undefined when the lab runs its own controller process (`process` mode). */
  controller: ControllerDaemon | undefined;
  /** `process` mode: the port of the lab's controller process. */
  #port: number | undefined;
  api!: NuboClient;
  token = '';
  image!: TinyImage;
  hosts: LabHost[] = [];
  down = false;
  readonly #logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });

  /**
   * `in-process`: the controller runs in this process (failpoints armed with `failpoints.arm`);
   * `process`: the lab starts `nubo controller` as a process of its own, which a test can kill
   * (NUBO_FAILPOINTS in this process's environment when it starts arms its failpoints).
   */
  /** How many clusters `start` puts the hosts in (`lab up --clusters`: c1, c2, … in contiguous blocks); 1: all in `default`. */
  clusters = 1;

  async start(nHosts = 3, mode: 'in-process' | 'process' = 'in-process', serve: Pick<ControllerDaemonOptions, 'ec2'> = {}): Promise<void> {
    this.image = await buildTinyImage({ cacheDir: imageCacheDir() });
    this.root = await mkdtemp(join(tmpdir(), 'nubo-miglab-'));
    this.dir = join(this.root, 'lab');
    await labFabricUp(this.prefix, this.dir);
    if (mode === 'in-process') {
      this.controller = await ControllerDaemon.start({
        dataDir: join(this.root, 'controller'), listen: { host: FABRIC_ADDRESS, port: 0 }, heartbeatIntervalMs: 500, logger: this.#logger, failpoints: this.failpoints, ...serve,
      });
      this.token = (await this.controller.bootstrapAdmin())!;
      this.api = new NuboClient(this.controller.url, this.token);
    } else {
      this.#port = await freePort();
    }
    await this.agentsUp(nHosts);
    const api = this.api;
    await api.uploadImage({ name: 'tiny-disk', file: this.image.dataDisk });
    await api.uploadImage({ name: 'tiny-kernel', file: this.image.kernel, format: 'kernel', minMemoryMiB: TINY_IMAGE_MIN_MEMORY_MIB });
    await api.uploadImage({ name: 'tiny-initrd', file: this.image.initrd, format: 'initrd', minMemoryMiB: TINY_IMAGE_MIN_MEMORY_MIB });
    await api.createNetwork({ name: 'mig', cidr: '198.18.66.0/24', gateway: '198.18.66.254' });
    await runCommand('ip', ['addr', 'add', '198.18.66.254/24', 'dev', `${this.prefix}-fab`]);
    await api.createTemplate({ name: 'tiny-mig', vcpus: 1, memoryMiB: 128, image: 'tiny-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: this.image.cmdline, nics: [{ network: 'mig' }] });
  }

  /** Starts the lab's agents that are not running (all of them the first time) and waits for them to be enabled. */
  async agentsUp(nHosts = 3): Promise<void> {
    const controller = this.controller ? { url: this.controller.url, token: this.token } : { startOnPort: this.#port! };
    const r = await labUp({ prefix: this.prefix, dir: this.dir, hosts: nHosts, clusters: this.clusters, controller, heartbeatMs: 500 });
    this.hosts = r.state.hosts;
    if (!this.controller) {
      this.token = r.credentials.token;
      this.api = new NuboClient(r.credentials.url, r.credentials.token);
    }
    for (const h of this.hosts) await pollUntil(`host ${h.name} enabled`, async () => ((await this.api.getHost(h.name)).state === 'enabled' ? true : undefined), { timeoutMs: 30_000 });
  }

  async stop(): Promise<void> {
    for (const vm of this.api ? await this.api.listVms().catch(() => []) : []) {
      if (vm.state !== 'terminated') await this.api.vmAction(vm.id, 'terminate-hard').catch(() => {});
    }
    await this.controller?.orchestrator.idle().catch(() => {});
    if (!this.down) await labDown(this.dir).catch(() => {});
    await this.controller?.stop();
    await rm(this.root, { recursive: true, force: true });
  }

  /** `process` mode: the controller process, as the lab recorded it. */
  async controllerProcess(): Promise<{ pid: number; alive: boolean }> {
    const p = (await readLabState(this.dir))?.controller;
    assert.ok(p, 'the lab runs a controller process');
    return { pid: p.pid, alive: await isLabProcess(p) };
  }

  /** `process` mode: (re)starts the controller with these failpoints armed (none: unset). */
  async restartController(failpoints?: string): Promise<void> {
    const p = (await readLabState(this.dir))?.controller;
    if (p && (await isLabProcess(p))) await stopLabProcess(p);
    if (failpoints === undefined) delete process.env['NUBO_FAILPOINTS'];
    else process.env['NUBO_FAILPOINTS'] = failpoints;
    try {
      await this.agentsUp(this.hosts.length);
    } finally {
      delete process.env['NUBO_FAILPOINTS'];
    }
  }

  host(i: number): LabHost {
    const h = this.hosts.find((x) => x.index === i);
    assert.ok(h, `lab host ${i}`);
    return h;
  }

  on(i: number): string {
    return `hostname == "${this.host(i).name}"`;
  }

  async waitState(id: string, state: string, timeoutMs = 120_000): Promise<VmDetailView> {
    return pollUntil(`VM ${id} ${state}`, async () => {
      const vm = await this.api.getVm(id);
      if (vm.state === 'failed' && state !== 'failed') throw new Error(`VM ${id} failed: ${vm.stateReason}`);
      return vm.state === state ? vm : undefined;
    }, { timeoutMs, intervalMs: 250 });
  }

  async waitMigration(id: string, timeoutMs = 180_000): Promise<MigrationView> {
    return pollUntil(`migration ${id} ends`, async () => {
      const m = await this.api.getMigration(id);
      return m.state === 'running' ? undefined : m;
    }, { timeoutMs, intervalMs: 250 });
  }

  async waitStage(id: string, stages: readonly string[], timeoutMs = 60_000): Promise<MigrationView> {
    return pollUntil(`migration ${id} at ${stages.join('|')}`, async () => {
      const m = await this.api.getMigration(id);
      if (m.state !== 'running') throw new Error(`migration ended (${m.state}: ${m.reason}) before ${stages.join('|')}`);
      return stages.includes(m.stage) ? m : undefined;
    }, { timeoutMs, intervalMs: 100 });
  }

  async bootVm(name: string, i: number, datastore: 'local' | 'shared'): Promise<{ vm: VmDetailView; ip: string }> {
    const created = await this.api.createVm({ template: 'tiny-mig', name, host: this.host(i).name, datastore, userData: MIGRATION_USER_DATA });
    const vm = await this.waitState(created.id, 'running');
    assert.equal(vm.host, this.host(i).name);
    await pollUntil(`${vm.id} user data`, async () => (/USERDATA-DONE/.test(await this.api.vmConsole(vm.id)) ? true : undefined), { timeoutMs: 90_000, intervalMs: 500 });
    const ip = vm.nics[0]?.address?.split('/')[0];
    assert.ok(ip, 'the VM has an address');
    return { vm, ip };
  }

  /**
   * Has the guest print `MARK <word>` on its serial console (its user data's /cgi-bin/mark) and waits until the VM's
   * console shows it; the console then.
   */
  async mark(vmId: string, ip: string, word: string): Promise<string> {
    assert.equal(await this.guest(ip, `/cgi-bin/mark?${word}`), 'ok');
    return pollUntil(`MARK ${word} on the console`, async () => {
      const log = await this.api.vmConsole(vmId);
      return consoleLines(log).includes(`MARK ${word}`) ? log : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
  }

  async guest(ip: string, path: string): Promise<string> {
    const r = await httpGet(`http://${ip}${path}`, 5_000);
    assert.equal(r.status, 200, `GET ${path}`);
    return r.body.toString().trim();
  }

  async facts(ip: string): Promise<GuestFacts> {
    return { uptime: Number(await this.guest(ip, '/cgi-bin/uptime')), sum: await this.guest(ip, '/cgi-bin/sum'), mac: await this.guest(ip, '/cgi-bin/mac') };
  }

  /** The QEMU pid a host's run directory records for the VM, if any. */
  async qemuPid(i: number, vmId: string): Promise<number | undefined> {
    return readPidFile(join(this.host(i).runDir, agentVmId(vmId), 'qemu.pid'));
  }

  /** VM directories in a host's local datastore. */
  async agentVms(i: number): Promise<string[]> {
    return readdir(join(this.host(i).dataDir, 'vms')).catch(() => []);
  }

  /** Kills a host's agent (SIGKILL, like a crash); its QEMUs keep running. */
  async killAgent(i: number): Promise<void> {
    const pid = this.host(i).agent?.pid;
    assert.ok(pid !== undefined, `agent of host ${i}`);
    process.kill(pid, 'SIGKILL');
    await pollUntil(`agent ${pid} gone`, async () => {
      try {
        process.kill(pid, 0);
        return undefined;
      } catch {
        return true;
      }
    }, { timeoutMs: 10_000 });
  }

  /**
   * Exactly one copy of the VM: it runs on host `i` (store and that host's
   * agent agree: running, a live QEMU, its TAP), and no other host keeps a
   * process, a VM directory, a TAP or a reservation for it.
   */
  /** `otherVms`: the hosts run other VMs too, so a host without this VM may still hold reservations (of those). */
  async assertOneCopy(vmId: string, i: number, o: { otherVms?: boolean } = {}): Promise<VmDetailView> {
    const vm = await this.waitState(vmId, 'running');
    assert.equal(vm.host, this.host(i).name, 'the store has the VM on the expected host');
    const id = agentVmId(vmId);
    const tap = tapName(id, 0);
    for (const h of this.hosts) {
      const pid = await this.qemuPid(h.index, vmId);
      const alive = pid !== undefined && (await isQemuOf(pid, id));
      const dirs = await this.agentVms(h.index);
      const links = (await runCommand('ip', ['netns', 'exec', h.netns, 'ip', '-o', 'link', 'show'])).stdout;
      const reserved = (await this.api.getHost(h.name)).reserved;
      if (h.index === i) {
        assert.equal(alive, true, `${h.name} runs the VM's QEMU`);
        assert.ok(dirs.includes(id), `${h.name} holds the VM's files`);
        assert.ok(links.includes(tap), `${h.name} has the VM's TAP`);
        assert.equal((await this.api.getVm(vmId)).state, 'running');
        assert.ok(reserved.memoryMiB >= 128, `${h.name} holds the VM's reservation`);
      } else {
        await pollUntil(`${h.name} keeps nothing of ${id}`, async () => {
          const p = await this.qemuPid(h.index, vmId);
          const still = p !== undefined && (await isQemuOf(p, id));
          const d = (await this.agentVms(h.index)).includes(id);
          const l = (await runCommand('ip', ['netns', 'exec', h.netns, 'ip', '-o', 'link', 'show'])).stdout.includes(tap);
          return !still && !d && !l ? true : undefined;
        }, { timeoutMs: 30_000, intervalMs: 500 });
        if (o.otherVms !== true) assert.deepEqual((await this.api.getHost(h.name)).reserved, { cpus: 0, memoryMiB: 0, diskMiB: 0 }, `${h.name} holds no reservation`);
      }
    }
    return vm;
  }
}

/** The error a refused request threw. */
export async function refusal(p: Promise<unknown>): Promise<RemoteError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RemoteError, `a RemoteError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}
