import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Hypervisor, VmStatus } from '../hypervisor/hypervisor.js';
import { VmNotFoundError } from '../hypervisor/hypervisor-errors.js';
import type { VmSpecInput } from '../hypervisor/vm-spec.js';
import { NuboError } from '../errors/nubo-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { zodIssues } from '../hypervisor/vm-spec.js';
import { buildConfigDrive } from '../storage/config-drive.js';
import { createOverlay } from '../storage/qemu-img.js';
import { runCommand } from '../util/run-command.js';
import { agentVmSpecSchema, type AgentVmReport, type AgentVmSpec } from './agent-api.js';
import type { ImageCache } from './image-cache.js';

export class AgentVmConflictError extends NuboError {
  readonly code = 'CONFLICT';
  constructor(readonly vmId: string, reason: string) {
    super(`VM ${vmId}: ${reason}`, { vmId, reason });
  }
}

/** Where one VM's files live on this host: `<dataDir>/vms/<id>/`. */
function vmDir(dataDir: string, id: string): { dir: string; spec: string; disk: string; iso: string; state: string } {
  const dir = join(dataDir, 'vms', id);
  return { dir, spec: join(dir, 'agent-vm.json'), disk: join(dir, 'disk.qcow2'), iso: join(dir, 'cidata.iso'), state: join(dir, 'memory.state') };
}

/** A TAP name that fits in 15 characters and is unique per VM and NIC. */
export function tapName(vmId: string, nic: number): string {
  return `nt${createHash('sha256').update(vmId).digest('hex').slice(0, 9)}-${nic}`;
}

export interface AgentServiceOptions {
  readonly dataDir: string;
  readonly hypervisor: Hypervisor;
  readonly images: ImageCache;
  readonly logger: Logger;
  /** Network namespace this host's QEMUs run in (lab hosts). */
  readonly netns?: string | undefined;
}

/**
 * What an agent does for the controller, over its hypervisor driver and its
 * local datastore. Every operation is idempotent where a retry is likely (the
 * controller may crash and repeat a call): preparing a VM that is already
 * prepared with the same spec, starting a running VM, deleting a deleted VM.
 */
export class AgentService {
  readonly #o: AgentServiceOptions;
  /** Serialises operations per VM: two calls on one VM never interleave. */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(opts: AgentServiceOptions) {
    this.#o = opts;
  }

  #locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(id) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    this.#locks.set(id, next);
    void next.finally(() => {
      if (this.#locks.get(id) === next) this.#locks.delete(id);
    }).catch(() => {});
    return next;
  }

  /** Prolog: fetches the images, makes the VM's disk and config drive. */
  prepare(id: string, input: unknown, signal?: AbortSignal): Promise<AgentVmReport> {
    const r = agentVmSpecSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('VM spec', zodIssues(r.error)));
    const spec = r.data;
    return this.#locked(id, async () => {
      const p = vmDir(this.#o.dataDir, id);
      const existing = await this.#readSpec(id);
      if (existing) {
        if (JSON.stringify(existing) !== JSON.stringify(spec)) throw new AgentVmConflictError(id, 'already prepared with a different spec');
        return this.#report(id);
      }
      await rm(p.dir, { recursive: true, force: true });
      await mkdir(p.dir, { recursive: true });
      try {
        const base = await this.#o.images.ensure(spec.disk.image, signal);
        if (spec.kernel) await this.#o.images.ensure(spec.kernel, signal);
        if (spec.initrd) await this.#o.images.ensure(spec.initrd, signal);
        if (spec.disk.mode === 'overlay') {
          await createOverlay(base, spec.disk.image.format === 'raw' ? 'raw' : 'qcow2', p.disk, { signal });
        } else {
          await runCommand('qemu-img', ['convert', '-q', '-O', 'qcow2', base, p.disk], { signal, timeoutMs: 3_600_000 });
        }
        await buildConfigDrive(p.iso, {
          instanceId: id,
          hostname: spec.context.hostname,
          nics: spec.nics.flatMap((n) => (n.address === undefined ? [] : [{ mac: n.mac, addresses: [n.address], ...(n.gateway ? { gateway: n.gateway } : {}), ...(n.dns ? { dns: n.dns } : {}) }])),
          ...(spec.context.userData !== undefined ? { userData: spec.context.userData } : {}),
          ...(spec.context.sshAuthorizedKeys ? { sshAuthorizedKeys: spec.context.sshAuthorizedKeys } : {}),
        }, { ...(signal ? { signal } : {}) });
        // Written last: a VM directory with a spec file is completely prepared.
        await writeFile(`${p.spec}.tmp`, JSON.stringify(spec));
        await rename(`${p.spec}.tmp`, p.spec);
      } catch (err) {
        await rm(p.dir, { recursive: true, force: true });
        throw err;
      }
      this.#o.logger.info({ vmId: id, mode: spec.disk.mode }, 'vm prepared');
      return this.#report(id);
    });
  }

  /** Boots a prepared VM (or resumes a suspended one). */
  start(id: string, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.#locked(id, async () => {
      const spec = await this.#requireSpec(id);
      const cur = await this.#report(id);
      if (cur.state === 'running' || cur.state === 'paused') return cur;
      if (cur.state === 'crashed') await this.#o.hypervisor.destroy(id);
      const p = vmDir(this.#o.dataDir, id);
      if (cur.state === 'suspended') {
        await this.#o.hypervisor.restore(this.#hvSpec(id, spec), p.state, { signal });
        await rm(p.state, { force: true });
      } else {
        await this.#o.hypervisor.start(this.#hvSpec(id, spec), { signal });
      }
      this.#o.logger.info({ vmId: id, from: cur.state }, 'vm started');
      return this.#report(id);
    });
  }

  /** ACPI power-off (hard: at once); disks stay. */
  powerOff(id: string, hard: boolean, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.#locked(id, async () => {
      await this.#requireSpec(id);
      const cur = await this.#report(id);
      if (cur.state === 'suspended') await rm(vmDir(this.#o.dataDir, id).state, { force: true });
      if (cur.state !== 'poweroff' && cur.state !== 'suspended') {
        if (hard) await this.#o.hypervisor.destroy(id, { signal });
        else await this.#o.hypervisor.shutdown(id, { signal, timeoutMs: 60_000 });
      }
      return this.#report(id);
    });
  }

  reboot(id: string, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.#locked(id, async () => {
      await this.#requireSpec(id);
      await this.#o.hypervisor.reboot(id, { signal });
      return this.#report(id);
    });
  }

  /** Saves memory to a file on this host; the process ends. */
  suspend(id: string, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.#locked(id, async () => {
      await this.#requireSpec(id);
      await this.#o.hypervisor.save(id, vmDir(this.#o.dataDir, id).state, { signal });
      return this.#report(id);
    });
  }

  /** Epilog: ends the VM and deletes its disks and saved state. Idempotent. */
  delete(id: string, signal?: AbortSignal): Promise<void> {
    return this.#locked(id, async () => {
      await this.#o.hypervisor.destroy(id, { signal });
      await rm(vmDir(this.#o.dataDir, id).dir, { recursive: true, force: true });
      this.#o.logger.info({ vmId: id }, 'vm deleted');
    });
  }

  async get(id: string): Promise<AgentVmReport> {
    await this.#requireSpec(id);
    return this.#report(id);
  }

  async list(): Promise<AgentVmReport[]> {
    const ids = await readdir(join(this.#o.dataDir, 'vms')).catch(() => [] as string[]);
    const out: AgentVmReport[] = [];
    for (const id of ids) if (await this.#readSpec(id)) out.push(await this.#report(id));
    return out;
  }

  async consoleLog(id: string, maxBytes = 65536): Promise<string> {
    await this.#requireSpec(id);
    const path = this.#o.hypervisor.consoleLogPath?.(id);
    const log = path === undefined ? '' : await readFile(path, 'utf8').catch(() => '');
    return log.slice(-maxBytes);
  }

  /** Reconnects to the VMs still running from before a restart. */
  async adopt(): Promise<VmStatus[]> {
    return this.#o.hypervisor.adopt();
  }

  async #readSpec(id: string): Promise<AgentVmSpec | undefined> {
    if (!/^[a-z][a-z0-9-]{0,39}$/.test(id)) return undefined;
    try {
      return JSON.parse(await readFile(vmDir(this.#o.dataDir, id).spec, 'utf8')) as AgentVmSpec;
    } catch {
      return undefined;
    }
  }

  async #requireSpec(id: string): Promise<AgentVmSpec> {
    const spec = await this.#readSpec(id);
    if (!spec) throw new VmNotFoundError(id);
    return spec;
  }

  async #report(id: string): Promise<AgentVmReport> {
    try {
      const s = await this.#o.hypervisor.status(id);
      if (s.state === 'shutoff') {
        // The guest powered itself off: release the driver's leftovers, keep the disks.
        await this.#o.hypervisor.destroy(id);
        return { id, state: 'poweroff' };
      }
      return { id, state: s.state, ...(s.pid !== undefined ? { pid: s.pid } : {}), ...(s.reason !== undefined ? { reason: s.reason } : {}) };
    } catch (err) {
      if (!(err instanceof VmNotFoundError)) throw err;
    }
    const p = vmDir(this.#o.dataDir, id);
    if (await stat(p.state).then(() => true, () => false)) return { id, state: 'suspended' };
    return { id, state: 'poweroff' };
  }

  /** The hypervisor spec for a prepared VM: its disk, config drive, kernel and NICs on this host. */
  #hvSpec(id: string, spec: AgentVmSpec): VmSpecInput {
    const p = vmDir(this.#o.dataDir, id);
    const images = this.#o.images;
    return {
      id,
      vcpus: spec.vcpus,
      memoryMiB: spec.memoryMiB,
      cpuModel: spec.cpuModel,
      boot: spec.kernel
        ? { kind: 'kernel', kernel: images.pathOf(spec.kernel), ...(spec.initrd ? { initrd: images.pathOf(spec.initrd) } : {}), ...(spec.cmdline !== undefined ? { cmdline: spec.cmdline } : {}) }
        : { kind: 'disk' },
      // With -kernel, QEMU's linuxboot ROM takes boot index 0; a boot index only matters for disk boot.
      disks: [{ id: 'root', path: p.disk, format: 'qcow2', ...(spec.kernel ? {} : { bootIndex: 0 }) }],
      configDrive: p.iso,
      nics: spec.nics.map((n, i) =>
        n.bridge !== undefined
          ? { kind: 'tap' as const, id: `nic${i}`, mac: n.mac, ifname: tapName(id, i), bridge: n.bridge, ...(n.vlan !== undefined ? { vlan: n.vlan } : {}) }
          : // No bridge on this host: a NIC on a private, isolated user-mode subnet, so the guest still has one.
            { kind: 'user' as const, id: `nic${i}`, mac: n.mac, net: '198.18.250.0/24' },
      ),
      ...(this.#o.netns !== undefined ? { netns: this.#o.netns } : {}),
    };
  }
}

