import type { AgentVmReport } from '../contract/agent-api.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { vmIdOfAgentId } from './agent-vm-id.js';
import type { HostMonitorOptions } from './host-monitor-options.js';

/** What releasing a leftover copy needs of the monitor's options (host-monitor-options.ts). */
export type LeftoverReleaserOptions = Pick<HostMonitorOptions, 'store' | 'logger' | 'agentFor' | 'keepCopy'>;

/** Releases the copies of VMs a host reports but should no longer hold (see `release`); the host monitor's, on each beat. */
export class LeftoverReleaser {
  readonly #o: LeftoverReleaserOptions;
  readonly #releasing = new Set<string>();

  constructor(o: LeftoverReleaserOptions) {
    this.#o = o;
  }

  /**
   * A migration that ended while one of its hosts was unreachable leaves a
   * copy there (the aborted destination's, or the source's paused one after a
   * commit). Once that host reports again, a copy of a VM that belongs to
   * another host and has no migration in flight is released. A copy that
   * *runs* there is never touched: that needs an operator.
   */
  async release(host: Host, reports: readonly AgentVmReport[]): Promise<void> {
    const agentFor = this.#o.agentFor;
    if (!agentFor) return;
    const { store } = this.#o;
    let migrating: Set<string> | undefined;
    for (const r of reports) {
      const vmId = vmIdOfAgentId(r.id);
      if (vmId === undefined) continue;
      const vm = await findOrUndefined(store.vms.get(vmId));
      if (!vm || vm.hostId === host.id) continue;
      migrating ??= new Set((await store.migrations.list({ state: 'running' })).map((m) => m.vmId));
      if (migrating.has(vmId)) continue;
      if (await this.#o.keepCopy?.(vmId, host.id)) continue;
      // A terminated VM has no copy to keep, running or not.
      if (r.state === 'running' && vm.state !== 'terminated') {
        this.#o.logger.error({ vmId, host: host.name, boundTo: vm.hostId }, 'a copy of the VM runs on a host it does not belong to; left for an operator');
        continue;
      }
      // Heartbeats held back by a cut link arrive together: one release at a time per copy.
      const key = `${host.id}/${r.id}`;
      if (this.#releasing.has(key)) continue;
      this.#releasing.add(key);
      try {
        await agentFor(host).release(r.id, { timeoutMs: 30_000 });
        this.#o.logger.warn({ vmId, host: host.name, state: r.state, boundTo: vm.hostId }, 'released a leftover copy of a VM');
        // The migration that left it there recorded it as not released: its record ends now.
        for (const m of await store.migrations.noteCopyReleased(vmId, host.id)) {
          this.#o.logger.info({ migrationId: m.id, vmId, host: host.name, stage: m.stage }, 'migration record: leftover copy released');
        }
      } catch (err) {
        this.#o.logger.warn({ vmId, host: host.name, err }, 'could not release a leftover copy yet');
      } finally {
        this.#releasing.delete(key);
      }
    }
  }
}
