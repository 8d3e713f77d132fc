import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AgentClient } from '../client/agent-client.js';
import { InvalidStateError } from '../core/invalid-state-error.js';
import { imageInfo } from '../storage/qemu-img.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Image } from '../store/repositories/images-repository.js';
import type { Template } from '../store/repositories/templates-repository.js';
import type { User } from '../store/repositories/users-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { isCloudMigrationInFlight } from '../store/repositories/cloud-migrations-repository.js';
import { ConflictError } from '../store/store-errors.js';
import type { WaitOptions } from '../util/deadline.js';
import { buildOva, type OvaExport } from './build-ova.js';
import { captureVmDisk } from './capture-vm-disk.js';
import type { Catalog } from './catalog.js';
import type { ImageStore } from './image-store.js';
import { ensureVmNameFree, recordNewVm } from './record-new-vm.js';
import { templateBodyOf, vmAsTemplate } from './vm-as-template.js';
import type { VmOrchestrator } from './vm-orchestrator.js';
import { DEFAULT_IMAGE_MIN_MEMORY_MIB } from '../core/memory-minimum.js';
import { bootImageIds, largestMinimum } from './check-memory-minimum.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { CaptureError } from './capture-error.js';

/** The states a VM's disk can be captured in: a running VM's by a point-in-time block job, the others' from the file at rest. */
export const CAPTURE_STATES = ['running', 'poweroff', 'suspended'] as const;

export interface VmCaptureOptions {
  readonly store: Store;
  readonly images: ImageStore;
  readonly catalog: Catalog;
  readonly orchestrator: VmOrchestrator;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
}

const IMAGE_SUFFIX = '-disk';

/** The image a clone's disk is registered as: `<clone>-disk`, the clone's name cut so that the whole fits a name (63). */
export function cloneImageName(cloneName: string): string {
  return `${cloneName.slice(0, 63 - IMAGE_SUFFIX.length)}${IMAGE_SUFFIX}`;
}

/**
 * Images made from VMs (OpenNebula's disk-saveas, EC2's CreateImage): the VM's
 * disk is captured on its host and copied into the image store, then
 * registered as an image — and a template (save-as), a new VM (clone), or an
 * OVA (export). Every check that can fail without the copy (state, names) is
 * made before it; a failure afterwards removes what was made, so a request
 * either does all of it or changes nothing. One capture per VM at a time.
 */
export class VmCapture {
  readonly #o: VmCaptureOptions;
  readonly #busy = new Set<string>();

  constructor(o: VmCaptureOptions) {
    this.#o = o;
  }

  /** The VM's disk as the image `req.image`, and optionally the template `req.template` of the VM's settings on it; both owned by the VM's owner. */
  async saveAs(vm: Vm, req: { image: string; template?: string | undefined }, opts: WaitOptions = {}): Promise<{ image: Image; template?: Template }> {
    await this.#check(vm, 'save-as');
    const owner = await this.#o.store.users.get(vm.ownerId);
    await this.#o.images.ensureNameFree(owner.id, req.image, 'image');
    if (req.template !== undefined) await ensureTemplateNameFree(this.#o.store, owner.id, req.template);
    return this.#exclusive(vm, async () => {
      const image = await this.#captureImage(vm, req.image, owner, opts);
      if (req.template === undefined) return { image };
      try {
        const template = await this.#o.catalog.createTemplate(templateBodyOf(vmAsTemplate(vm, image.id), req.template), owner);
        return { image, template };
      } catch (err) {
        await this.#o.images.delete(image.id).catch(() => {});
        throw err;
      }
    });
  }

  /**
   * A new VM of `caller`'s named `name` with the VM's settings and a copy of
   * its disk (the image `<name>-disk`): admitted like any VM, so it takes
   * fresh leases on the same networks and is then placed and booted.
   */
  async clone(vm: Vm, req: { name: string }, caller: User, opts: WaitOptions = {}): Promise<Vm> {
    await this.#check(vm, 'clone');
    const imageName = cloneImageName(req.name);
    await ensureVmNameFree(this.#o.store, caller, req.name);
    if (await this.#o.store.images.findByName(caller.id, imageName)) {
      throw new ConflictError('image', 'name', imageName, 'already exists for this owner (a clone\'s disk image is named after the clone)');
    }
    return this.#exclusive(vm, async () => {
      const image = await this.#captureImage(vm, imageName, caller, opts);
      try {
        const admitted = await this.#o.catalog.admit({ ...vmAsTemplate(vm, image.id), cloneOf: { vmId: vm.id, vmName: vm.name } }, { name: req.name }, caller);
        const clone = await recordNewVm(this.#o, admitted, caller);
        this.#o.logger.info({ vmId: vm.id, cloneId: clone.id, image: image.id }, 'vm cloned');
        return clone;
      } catch (err) {
        await this.#o.images.delete(image.id).catch(() => {});
        throw err;
      }
    });
  }

  /** The VM as an OVA (see buildOva) with its disk as it is now; nothing is registered. */
  async exportOva(vm: Vm, opts: WaitOptions = {}): Promise<OvaExport> {
    await this.#check(vm, 'export');
    return this.#exclusive(vm, async () => {
      const tmp = await this.#o.images.tempDir();
      let virtualSizeBytes: number;
      const disk = join(tmp.path, 'capture.qcow2');
      try {
        await captureVmDisk(this.#o, vm, disk, opts);
        // Read as any file from elsewhere: it is what the host sent.
        const info = await imageInfo(disk, { untrusted: true, signal: opts.signal });
        if (info.format !== 'qcow2' || info.backingFile !== undefined) throw new CaptureError(vm.name, `the capture of VM ${vm.name} is not a standalone qcow2 (${info.format}${info.backingFile !== undefined ? `, backed by ${info.backingFile}` : ''})`);
        virtualSizeBytes = info.virtualSize;
      } catch (err) {
        await tmp.remove();
        throw err;
      }
      const { id: _id, label: _label, ...settings } = vmAsTemplate(vm, '');
      return buildOva(this.#o, { ...settings, name: vm.name }, { path: disk, format: 'qcow2', virtualSizeBytes }, tmp, opts);
    });
  }

  /** Captures the disk into a temporary directory of the image store and registers it there (checked like any registered image). */
  async #captureImage(vm: Vm, name: string, owner: User, opts: WaitOptions): Promise<Image> {
    return this.#o.images.withTempDir(async (dir) => {
      const file = join(dir, 'capture.qcow2');
      await captureVmDisk(this.#o, vm, file, opts);
      opts.signal?.throwIfAborted();
      // The copy boots what the VM booted: it needs what the VM's images needed.
      const minMemoryMib = Math.max(DEFAULT_IMAGE_MIN_MEMORY_MIB, await largestMinimum(this.#o.store, bootImageIds(vm.spec as unknown as ControllerVmSpec)));
      const image = await this.#o.images.add({ name, ownerId: owner.id, file, format: 'qcow2', displayName: `the disk of VM ${vm.name}`, minMemoryMib }, opts);
      await this.#o.store.events.append({ kind: 'image.captured', resource: 'image', resourceId: image.id, data: { vm: vm.id, vmState: vm.state, name } }).catch(() => {});
      return image;
    });
  }

  async #check(vm: Vm, action: string): Promise<void> {
    if (!(CAPTURE_STATES as readonly string[]).includes(vm.state) || vm.operation !== null || vm.hostId === null) {
      throw new InvalidStateError(action, vm.state, CAPTURE_STATES);
    }
    if (this.#busy.has(vm.id)) throw new ConflictError('vm', 'name', vm.name, 'has a disk capture under way (save-as, clone or export)');
    // A cross-cloud migration keeps the VM's host until its local copy is released, with no operation set: its disk is
    // being exported and may be gone by the time a capture would read it.
    if (isCloudMigrationInFlight(await this.#o.store.cloudMigrations.get(vm.id))) {
      throw new ConflictError('VM', 'migration', vm.name, `cannot ${action}: it is migrating between a local host and a remote cloud; wait until that ends`);
    }
  }

  async #exclusive<T>(vm: Vm, fn: () => Promise<T>): Promise<T> {
    if (this.#busy.has(vm.id)) throw new ConflictError('vm', 'name', vm.name, 'has a disk capture under way (save-as, clone or export)');
    this.#busy.add(vm.id);
    try {
      return await fn();
    } finally {
      this.#busy.delete(vm.id);
    }
  }
}

async function ensureTemplateNameFree(store: Store, ownerId: string, name: string): Promise<void> {
  if ((await store.templates.list({ ownerId })).some((t) => t.name === name)) throw new ConflictError('template', 'template', name, 'already exists for this owner');
}
