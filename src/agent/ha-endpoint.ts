import { access, mkdir } from 'node:fs/promises';
import { zodIssues } from '../hypervisor/vm-spec.js';
import { ValidationError } from '../errors/validation-error.js';
import { agentVmSpecSchema, type AgentVmReport } from '../contract/agent-api.js';
import { AgentConflictError } from './agent-conflict-error.js';
import type { AgentHost } from './agent-host.js';
import type { VmLifecycle } from './vm-lifecycle.js';
import { sameSpecBesidesFirewall } from './vm-firewalls.js';

/**
 * The agent's part in HA: taking over a VM of a fenced host from its disk on
 * the shared datastore (its record is written here; nothing of the disk is
 * made or copied), and ending the stale copies a fenced host that came back
 * still holds of VMs that run elsewhere now.
 */
export class HaEndpoint {
  constructor(private readonly host: AgentHost, private readonly lifecycle: VmLifecycle) {}

  /** Records the VM on this host from its shared disk; idempotent for the same spec. Does not start it. */
  takeOver(id: string, input: unknown, signal?: AbortSignal): Promise<AgentVmReport> {
    const r = agentVmSpecSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('VM spec', zodIssues(r.error)));
    const spec = r.data;
    if (spec.disk.datastore !== 'shared') {
      return Promise.reject(new ValidationError('VM spec', [{ field: 'disk.datastore', message: 'only a VM whose disk is on the shared datastore can be taken over from another host' }]));
    }
    const h = this.host;
    return h.locks.run(id, async () => {
      const vm = h.vm(id);
      const existing = await h.records.readSpec(id);
      if (existing) {
        if (!sameSpecBesidesFirewall(existing, spec)) throw new AgentConflictError({ vmId: id }, 'spec-mismatch', 'already holds this VM with a different spec');
        return vm.report();
      }
      const files = vm.files(spec);
      for (const f of [files.disk, files.iso]) {
        await access(f).catch(() => {
          throw new AgentConflictError({ vmId: id }, 'foreign-files', `the shared datastore has no ${f}: nothing to take over`);
        });
      }
      // The kernel and initrd come from this host's own image cache (the base image is the shared datastore's).
      await vm.ensureImages(spec, signal);
      await mkdir(vm.paths.dir, { recursive: true });
      await vm.writeSpec(spec);
      h.logger.warn({ vmId: id }, 'vm taken over from a fenced host');
      return vm.report();
    }, signal);
  }

  /** Ends each VM's QEMU here and removes its local files, never its shared disk: the copy that counts runs elsewhere. */
  async releaseStale(ids: readonly string[], signal?: AbortSignal): Promise<string[]> {
    const held = new Set(await this.host.records.ids());
    const ended: string[] = [];
    for (const id of ids) {
      if (!held.has(id)) continue;
      await this.lifecycle.release(id, signal);
      ended.push(id);
    }
    if (ended.length > 0) this.host.logger.warn({ vms: ended }, 'stale copies of VMs restarted elsewhere ended');
    return ended;
  }
}
