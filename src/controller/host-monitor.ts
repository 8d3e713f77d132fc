import type { Logger } from 'pino';
import { applyEvent, type AgentVmReport as CoreReport, type VmEvent } from '../core/vm-events.js';
import type { AgentVmReport, HostReport } from '../contract/agent-api.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { StaleStateError } from '../store/store-errors.js';
import type { VmOrchestrator } from './vm-orchestrator.js';
import { agentVmId } from './agent-vm-id.js';
import type { AgentClient } from '../client/agent-client.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { HostTokenIndex } from './host-token-index.js';

export interface HostMonitorOptions {
  readonly store: Store;
  readonly orchestrator: VmOrchestrator;
  readonly logger: Logger;
  /** How often agents send heartbeats; a host silent for `missedBeats` of them is in error. */
  readonly heartbeatIntervalMs: number;
  readonly missedBeats?: number;
  /**
   * After this controller starts, how long a host that has not reported since
   * gets before it is declared lost (default 30 s, at least the silence limit):
   * agents restarted with it (`nubo up`) take a while to come up on a busy
   * machine, and a host declared lost fails the VMs it was preparing.
   */
  readonly startupGraceMs?: number;
  /** To release copies of VMs a host should no longer hold (left by an ended migration). */
  readonly agentFor?: (host: Host) => AgentClient;
  /** HA's say on each heartbeat (ha-service.ts): false holds a fenced host out until its stale copies are ended. */
  readonly admitHeartbeat?: ((host: Host, report: HostReport) => Promise<boolean>) | undefined;
  /** HA's copies in the making (a VM taken over on this host, not yet committed to it): not leftovers. */
  readonly keepCopy?: ((vmId: string, hostId: string) => Promise<boolean>) | undefined;
  /** Told each admitted heartbeat with the VMs bound to the host (vm-firewall-service.ts: firewalls the host lacks are pushed again). */
  readonly afterHeartbeat?: ((host: Host, report: HostReport, bound: readonly Vm[]) => void) | undefined;
}

/** The store id of an agent's VM id (`agentVmId` backwards), or undefined for ids nubo did not make. */
export function vmIdOfAgentId(agentId: string): string | undefined {
  const m = /^v([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})$/.exec(agentId);
  return m ? m.slice(1).join('-') : undefined;
}

/** Whether the host as stored already says what the report describes (capacity, CPU): then it needs no re-registration. */
export function sameDescription(host: Host, report: HostReport): boolean {
  const flags = report.cpuFlags.slice(0, 1024);
  return host.cpuModel === report.cpuModel
    && host.total.cpus === report.totalCpus && host.total.memoryMib === report.totalMemoryMiB && host.total.diskMib === report.totalDiskMiB
    && host.cpuFlags.length === flags.length && host.cpuFlags.every((f, i) => f === flags[i]);
}

/** The core's view of what an agent holds for a VM. */
function coreReport(r: AgentVmReport | undefined): CoreReport {
  if (r === undefined) return 'missing';
  if (r.state === 'suspended') return 'saved';
  if (r.state === 'poweroff' || r.state === 'crashed') return 'shutoff';
  return 'running';
}

/**
 * Keeps the store in step with the hosts: heartbeats refresh a host's
 * capacity and usage and reconcile its VMs (what the agent reports wins over
 * what the store believes), and a host that misses several heartbeats goes to
 * `error` with its VMs `unknown` until it reports again.
 */
export class HostMonitor {
  readonly #o: HostMonitorOptions;
  #timer: NodeJS.Timeout | undefined;
  /**
   * While this controller was down no heartbeat could arrive: silence is
   * counted from whichever is later, a host's last heartbeat or our start —
   * else a restarted controller would declare every host lost at once.
   */
  #since = Date.now();
  /**
   * A running VM that a report says is off or crashed, by VM id: acted on only
   * when the next report says the same. One sample taken while the agent is
   * busy starting VMs can be wrong; two consecutive ones are not a coincidence.
   */
  readonly #suspects = new Map<string, string>();
  readonly #releasing = new Set<string>();
  readonly #tokens: HostTokenIndex;
  /**
   * Heartbeats being processed, by host id. A host whose beat is in here is
   * alive, however long the beat waits for the store: on a controller busy
   * admitting thousands of VMs it can wait many seconds, its agent sends no
   * other beat meanwhile, and a host must not be declared lost for the
   * controller's own backlog (the 200-host bench lost a hundred booting VMs
   * that way).
   */
  readonly #processing = new Map<string, number>();

  constructor(o: HostMonitorOptions) {
    this.#o = o;
    this.#tokens = new HostTokenIndex(o.store.hosts);
  }

  /** The hosts whose agent token this is (heartbeats and image fetches authenticate with it); empty for an unknown token. */
  hostsOfToken(token: string, reload = false): Promise<Host[]> {
    return this.#tokens.find(token, reload);
  }

  /** The first host with this token, or undefined. */
  async hostOfToken(token: string): Promise<Host | undefined> {
    return (await this.#tokens.find(token))[0];
  }

  async heartbeat(host: Host, report: HostReport): Promise<void> {
    this.#processing.set(host.id, (this.#processing.get(host.id) ?? 0) + 1);
    try {
      await this.#heartbeat(host, report);
    } finally {
      const left = (this.#processing.get(host.id) ?? 1) - 1;
      if (left > 0) this.#processing.set(host.id, left);
      else this.#processing.delete(host.id);
    }
  }

  async #heartbeat(host: Host, report: HostReport): Promise<void> {
    const { store } = this.#o;
    if (this.#o.admitHeartbeat && !(await this.#o.admitHeartbeat(host, report))) return;
    // Re-registered only when what the agent describes changed: two writes a beat were the heartbeat's main store cost.
    if (!sameDescription(host, report)) await store.hosts.register({
      name: host.name,
      agentUrl: host.agentUrl,
      agentToken: host.agentToken,
      cpuModel: report.cpuModel,
      cpuFlags: report.cpuFlags.slice(0, 1024),
      totalCpus: report.totalCpus,
      totalMemoryMib: report.totalMemoryMiB,
      totalDiskMib: report.totalDiskMiB,
      labels: { ...host.labels },
    });
    await store.hosts.recordHeartbeat(host.id, {
      load: report.usage.load,
      usedMemoryMiB: report.usage.usedMemoryMiB,
      usedDiskMiB: report.usage.usedDiskMiB,
      cpuModels: report.cpuModels,
      kvm: report.kvm,
      ...(report.bridges !== undefined ? { bridges: report.bridges } : {}),
      ...(report.migration !== undefined ? { migration: { ...report.migration } } : {}),
    });
    if (host.state === 'init' || host.state === 'error') {
      await store.hosts.setState(host.id, 'enabled', host.state === 'error' ? 'heartbeats resumed' : 'first heartbeat');
      this.#o.logger.info({ hostId: host.id, from: host.state }, 'host enabled');
      // Room appeared: VMs waiting for a host may fit now.
      await this.#o.orchestrator.schedulePending();
    }
    const byAgentId = new Map(report.vms.map((v) => [v.id, v]));
    const takenAt = Date.parse(report.at);
    const bound = await store.vms.list({ hostId: host.id });
    for (const vm of bound) {
      if (vm.operation !== null) continue; // the operation in flight owns the VM
      // A report taken before the VM's last change (a start that had not returned yet) says nothing about its state now.
      if (!(takenAt > Date.parse(vm.updatedAt))) continue;
      await this.#reconcile(vm, byAgentId.get(agentVmId(vm.id)));
    }
    // The VMs bound here are known already: only the copies of other hosts' VMs are looked up, not every VM reported.
    const mine = new Set(bound.map((v) => agentVmId(v.id)));
    this.#o.afterHeartbeat?.(host, report, bound);
    await this.#releaseLeftovers(host, report.vms.filter((r) => !mine.has(r.id)));
  }

  /**
   * A migration that ended while one of its hosts was unreachable leaves a
   * copy there (the aborted destination's, or the source's paused one after a
   * commit). Once that host reports again, a copy of a VM that belongs to
   * another host and has no migration in flight is released. A copy that
   * *runs* there is never touched: that needs an operator.
   */
  async #releaseLeftovers(host: Host, reports: readonly AgentVmReport[]): Promise<void> {
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

  async #reconcile(vm: Vm, r: AgentVmReport | undefined): Promise<void> {
    let event: VmEvent | undefined;
    if (vm.state === 'unknown') {
      event = { type: 'host-back', report: coreReport(r) };
    } else if (vm.state === 'failed') {
      // QEMU runs the guest: the record is wrong (a step that lost its agent, a crash report that was not one), and the agent wins.
      // Anything else keeps the VM failed: its disks may be half made, and an admin decides.
      if (r?.state === 'running') event = { type: 'host-back', report: 'running' };
    } else if (vm.state === 'running') {
      const seen = r?.state ?? 'missing';
      if (seen === 'running' || seen === 'paused' || this.#suspects.get(vm.id) !== seen) {
        if (seen === 'running' || seen === 'paused') this.#suspects.delete(vm.id);
        else this.#suspects.set(vm.id, seen);
        return;
      }
      this.#suspects.delete(vm.id);
      if (r === undefined) event = { type: 'host-back', report: 'missing' };
      else if (r.state === 'poweroff') event = { type: 'process-exited', clean: true };
      else if (r.state === 'crashed' || r.state === 'error') event = { type: 'process-exited', clean: false };
    }
    if (!event) return;
    // A running VM whose host lost it entirely, or a failed one found running, is settled as if its host came back.
    const from = event.type === 'host-back' && (vm.state === 'running' || vm.state === 'failed') ? 'unknown' : vm.state;
    const out = applyEvent(from, event);
    if (!out.changed && out.state === vm.state) return;
    const reason =
      event.type === 'process-exited' ? (event.clean ? 'the guest powered off' : `QEMU exited unexpectedly${r?.reason ? `: ${r.reason}` : ''}`)
      : `the agent reports ${r?.state ?? 'no such VM'}`;
    await this.#transition(vm, out.state, 'monitor', reason, out.failedPhase !== undefined ? `${out.failedPhase}: ${reason}` : undefined);
  }

  /** Marks hosts that missed their heartbeats as `error` and their VMs `unknown`. */
  async checkSilence(now = Date.now()): Promise<void> {
    const { store } = this.#o;
    const limit = this.#o.heartbeatIntervalMs * (this.#o.missedBeats ?? 3);
    for (const host of await store.hosts.list({ state: 'enabled' })) {
      if (this.#processing.has(host.id)) continue;
      const heard = host.lastHeartbeatAt === null ? Date.parse(host.createdAt) : Date.parse(host.lastHeartbeatAt);
      const last = Math.max(this.#since, heard);
      const notYetHeard = heard < this.#since;
      if (now - last <= (notYetHeard ? Math.max(limit, this.#o.startupGraceMs ?? 30_000) : limit)) continue;
      const why = `no heartbeat for ${Math.round((now - last) / 1000)} s`;
      await store.hosts.setState(host.id, 'error', why);
      this.#o.logger.warn({ hostId: host.id }, `host in error: ${why}`);
      for (const vm of await store.vms.list({ hostId: host.id })) {
        // A migration (live or cold) asks both agents itself and decides (core/migration); the monitor must not pull the VM away from it.
        if (vm.operation?.action === 'migrate-live' || vm.operation?.action === 'migrate') continue;
        const out = applyEvent(vm.state, { type: 'host-lost' });
        if (out.changed) await this.#transition(vm, out.state, 'host-lost', `host ${host.name}: ${why}`, undefined, true);
      }
    }
  }

  async #transition(vm: Vm, to: Vm['state'], action: string, reason: string, stateReason?: string, endOperation = false): Promise<void> {
    try {
      await this.#o.store.vms.transition(vm.id, {
        from: [vm.state],
        to,
        action,
        reason,
        expectedVersion: vm.version,
        patch: { stateReason: stateReason ?? reason, ...(endOperation ? { operation: null } : {}) },
      });
      this.#o.logger.info({ vmId: vm.id, from: vm.state, to, reason }, 'vm state (monitor)');
    } catch (err) {
      if (!(err instanceof StaleStateError)) throw err;
    }
  }

  start(): void {
    this.#since = Date.now();
    this.#timer = setInterval(() => {
      void this.checkSilence().catch((err: unknown) => this.#o.logger.error({ err }, 'silence check failed'));
    }, this.#o.heartbeatIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
