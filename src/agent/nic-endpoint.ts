import { zodIssues } from '../hypervisor/vm-spec.js';
import { ValidationError } from '../errors/validation-error.js';
import { attachNicRequestSchema, type AgentVmReport } from '../contract/agent-api.js';
import type { AgentHost } from './agent-host.js';
import { attachVmNic, detachVmNic } from './change-vm-nic.js';
import type { VmHost } from './vm-host.js';

/** A VM's NICs attached and detached (see change-vm-nic.ts). */
export class NicEndpoint {
  constructor(readonly host: AgentHost) {}

  /** Adds a NIC to a running or powered-off VM: spec, config drive, and hot-plug when it runs. Idempotent. */
  attachNic(id: string, input: unknown, signal?: AbortSignal): Promise<AgentVmReport> {
    const r = attachNicRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('NIC', zodIssues(r.error)));
    const nic = r.data;
    return this.host.locks.run(id, async () => attachVmNic(await this.#vm(id), nic, signal), signal);
  }

  /** Removes NIC `index` of a running or powered-off VM. Idempotent. */
  detachNic(id: string, index: number, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.host.locks.run(id, async () => detachVmNic(await this.#vm(id), index, signal), signal);
  }

  async #vm(id: string): Promise<VmHost> {
    const vm = this.host.vm(id);
    await vm.readSpec();
    // The config drive is one of the files a peer may be copying.
    this.host.refuseWhileCopied(id);
    return vm;
  }
}
