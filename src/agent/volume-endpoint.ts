import { zodIssues } from '../hypervisor/vm-spec.js';
import { ValidationError } from '../errors/validation-error.js';
import { volumeAttachmentSchema, volumeIdSchema, type AgentVmReport, type AgentVmSpec } from '../contract/agent-api.js';
import type { AgentHost } from './agent-host.js';
import type { VmHost } from './vm-host.js';
import { attachVmVolume, deleteVolumeFile, detachVmVolume } from './vm-volumes.js';

/** A VM's volumes (see vm-volumes.ts), and the deletion of a volume's file. */
export class VolumeEndpoint {
  constructor(readonly host: AgentHost) {}

  /** Attaches a volume to a running (hot-plug) or powered-off VM; its file is made on first use. Idempotent. */
  attachVolume(id: string, input: unknown, signal?: AbortSignal): Promise<AgentVmReport> {
    const r = volumeAttachmentSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('volume', zodIssues(r.error)));
    const v = r.data;
    return this.host.locks.run(id, async () => attachVmVolume(await this.#vm(id), v, signal), signal);
  }

  /** Detaches a volume from a running (hot-unplug) or powered-off VM; its file stays. Idempotent. */
  detachVolume(id: string, volumeId: string, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.host.locks.run(id, async () => detachVmVolume(await this.#vm(id), volumeId, signal), signal);
  }

  /** Deletes a volume's file from this host; refused while a VM here lists it. */
  async deleteVolume(volumeId: string, signal?: AbortSignal): Promise<void> {
    const r = volumeIdSchema.safeParse(volumeId);
    if (!r.success) throw new ValidationError('volume', zodIssues(r.error));
    const h = this.host;
    const specs: { id: string; spec: AgentVmSpec }[] = [];
    for (const vmId of await h.records.ids()) {
      signal?.throwIfAborted();
      // An unusable record throws: whether that VM lists the volume cannot be told, so the file stays.
      const spec = await h.records.readSpec(vmId);
      if (spec) specs.push({ id: vmId, spec });
    }
    await deleteVolumeFile(h.o.dataDir, r.data, specs, h.logger);
  }

  async #vm(id: string): Promise<VmHost> {
    const vm = this.host.vm(id);
    await vm.readSpec();
    this.host.refuseWhileCopied(id);
    return vm;
  }
}
