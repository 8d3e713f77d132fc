import type { Logger } from 'pino';
import type { AgentClient } from '../client/agent-client.js';
import { RemoteError } from '../client/remote-error.js';
import type { HostReport } from '../contract/agent-api.js';
import { haStep, hostReturn, type HaTiming } from '../core/ha/ha-step.js';
import { planHaRestarts, type HaVmFacts } from '../core/ha/plan-ha-restarts.js';
import { shouldMoveAway } from '../core/ha/should-move-away.js';
import type { PlacementPolicy } from '../core/placement/placement-policy.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { Store } from '../store/open-store.js';
import type { HostFencing, HaRestart } from '../store/repositories/ha-repository.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import { StaleStateError } from '../store/store-errors.js';
import type { Failpoints } from '../util/failpoints.js';
import { agentVmId, vmIdOfAgentId } from './agent-vm-id.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { runFence, type LabFence } from './ha-fencer.js';
import { hostViewOf } from './host-view-of.js';

export interface HaServiceOptions {
  readonly store: Store;
  readonly agentFor: (host: Host) => AgentClient;
  readonly policy: PlacementPolicy;
  readonly logger: Logger;
  readonly labFence?: LabFence | undefined;
  readonly failpoints?: Failpoints | undefined;
  readonly tickMs: number;
  readonly timing?: Partial<HaTiming> | undefined;
  /** Proactive HA: moves a running VM off its degraded host (a live migration through the queue, destination chosen by placement). */
  readonly evacuate?: ((vmId: string, hostId: string) => Promise<unknown>) | undefined;
  /** The VMs whose migration is queued and not started yet (not queued twice). */
  readonly waitingMoves?: (() => Promise<readonly string[]>) | undefined;
  /** Places the VMs waiting in `pending` (a host healthy again is room that appeared). */
  readonly schedulePending?: (() => Promise<void>) | undefined;
}

/**
 * Carries out the HA decisions of core/ha for every host with a fence
 * method: suspects a silent host, fences it, and only once the fence
 * succeeded restarts its HA VMs elsewhere from the shared datastore. Each
 * step is written to the store (host_fencing, ha_restarts) before its side
 * effect, so a controller restarted at any point reads where it was and
 * goes on: a fence in flight is run again (fencing is idempotent), a
 * restart journaled is taken over and started again (both idempotent on the
 * agent) and committed once. A fenced host that comes back is held until
 * its stale copies are ended.
 */
export class HaService {
  readonly #o: HaServiceOptions;
  readonly #timing: HaTiming;
  readonly #fencing = new Map<string, Promise<void>>();
  readonly #returning = new Set<string>();
  readonly #degraded = new Map<string, string | null>();
  /** When a VM of a degraded host was last handed to `evacuate` (a refused move is retried after MOVE_RETRY_MS). */
  readonly #triedAt = new Map<string, number>();
  readonly #stopping = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | undefined;

  constructor(o: HaServiceOptions) {
    this.#o = o;
    this.#timing = { suspectGraceMs: o.tickMs, fenceRetryMs: 5_000, ...o.timing };
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), this.#o.tickMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#stopping.abort(new Error('the controller is stopping'));
    await this.#tick;
    await Promise.allSettled([...this.#fencing.values()]);
  }

  /** One pass over every host with a fence method; passes never overlap. */
  tick(now = Date.now()): Promise<void> {
    this.#tick ??= this.#pass(now).catch((err: unknown) => this.#o.logger.error({ err: errorMessage(err) }, 'HA pass failed')).finally(() => {
      this.#tick = undefined;
    });
    return this.#tick;
  }

  async #pass(now: number): Promise<void> {
    const { store } = this.#o;
    for (const f of await store.ha.listFencing()) {
      if (this.#stopping.signal.aborted) return;
      if (f.method === 'none' && f.state === 'ok') continue;
      const host = await store.hosts.get(f.hostId).catch(() => undefined);
      if (!host) continue;
      const open = f.state === 'recovering' && f.incident !== null ? (await store.ha.restarts({ incident: f.incident })).filter((r) => r.action === 'restart' && (r.state === 'planned' || r.state === 'restarting')) : [];
      const step = haStep({
        hostState: host.state, method: f.method, fencing: f.state, suspectedAt: time(f.suspectedAt), fencingAt: time(f.fencingAt),
        fenceInFlight: this.#fencing.has(host.id), openRestarts: open.length,
      }, now, this.#timing);
      try {
        await this.#act(step.kind, host, f, open);
      } catch (err) {
        if (err instanceof StaleStateError) continue; // a heartbeat or another pass moved it on
        this.#o.logger.error({ host: host.name, step: step.kind, err: errorMessage(err) }, 'HA step failed; retried on the next pass');
      }
    }
  }

  async #act(kind: ReturnType<typeof haStep>['kind'], host: Host, f: HostFencing, open: readonly HaRestart[]): Promise<void> {
    const { store, logger, failpoints } = this.#o;
    switch (kind) {
      case 'none':
        return;
      case 'suspect':
        await store.ha.step(host.id, ['ok'], 'suspected');
        logger.warn({ host: host.name }, 'HA: host suspected (no heartbeats)');
        return;
      case 'clear':
        await store.ha.step(host.id, ['suspected'], 'ok');
        logger.info({ host: host.name }, 'HA: host heartbeats again before it was fenced; suspicion cleared');
        return;
      case 'fence': {
        await store.ha.step(host.id, ['suspected', 'fencing'], 'fencing', { countAttempt: true });
        await failpoints?.hit('ha.fence');
        const run = this.#fence(host, f).finally(() => this.#fencing.delete(host.id));
        this.#fencing.set(host.id, run);
        return;
      }
      case 'plan':
        await this.#plan(host, f);
        return;
      case 'restart':
        for (const r of open) await this.#restart(r);
        return;
      case 'finish':
        await store.ha.step(host.id, ['recovering'], 'recovered');
        logger.warn({ host: host.name, incident: f.incident }, 'HA: recovery of the host\'s VMs done');
    }
  }

  async #fence(host: Host, f: HostFencing): Promise<void> {
    const { store, logger } = this.#o;
    logger.warn({ host: host.name, method: f.method }, 'HA: fencing the host');
    try {
      await runFence(host, f, this.#o.labFence, this.#stopping.signal);
    } catch (err) {
      logger.error({ host: host.name, err: errorMessage(err) }, 'HA: fence failed; its VMs are not restarted, the fence is retried');
      await store.ha.step(host.id, ['fencing'], 'fencing', { error: errorMessage(err) }).catch(() => {});
      return;
    }
    await this.#o.failpoints?.hit('ha.fenced');
    await store.ha.step(host.id, ['fencing'], 'fenced', { error: null });
    logger.warn({ host: host.name }, 'HA: host fenced');
    // Straight on to the restarts rather than a pass later: the time to recovery is what HA is judged by.
    void this.tick();
  }

  /** Decides every VM of the fenced host — restart where, or lost — and journals it all before one is touched. */
  async #plan(host: Host, f: HostFencing): Promise<void> {
    const { store, logger } = this.#o;
    const incident = f.incident ?? `${host.id}@${f.fencedAt ?? ''}`;
    const vms = await store.vms.list({ hostId: host.id });
    const ha = await store.ha.haVms(vms.map((v) => v.id));
    const decided = new Set((await store.ha.restarts({ incident })).map((r) => r.vmId));
    const facts: HaVmFacts[] = vms.map((vm) => {
      const spec = vm.spec as unknown as ControllerVmSpec;
      const datastore = spec.agent.disk.datastore === 'shared' ? 'shared' : 'local';
      return {
        id: vm.id, ha: ha.has(vm.id), datastore, state: vm.state, decided: decided.has(vm.id),
        // A restart stays in the fenced host's cluster (issue 18), as a chosen migration destination does.
        demand: { ...spec.demand, cluster: spec.demand.cluster ?? host.cluster, diskMiB: datastore === 'shared' ? 0 : spec.demand.diskMiB, networks: [...new Set((spec.agent.nics ?? []).flatMap((n) => (n.bridge !== undefined ? [n.bridge] : [])))], datastore },
      };
    });
    const hosts = (await store.hosts.list()).map(hostViewOf);
    const decisions = planHaRestarts(host.id, facts, hosts, this.#o.policy);
    await store.ha.planRecovery(host.id, incident, decisions.map((d) => (d.action === 'restart' ? { vmId: d.vmId, action: d.action, targetHostId: d.targetHostId, reason: d.reason } : d)));
    await this.#o.failpoints?.hit('ha.planned');
    for (const d of decisions) {
      logger.warn({ host: host.name, vmId: d.vmId, action: d.action, target: d.action === 'restart' ? d.targetHostId : undefined, reason: d.reason }, 'HA: decision');
      if (d.action !== 'lost') continue;
      const vm = vms.find((v) => v.id === d.vmId);
      if (vm) await store.vms.transition(vm.id, { from: [vm.state], to: vm.state, action: 'ha-lost', reason: d.reason, expectedVersion: vm.version, patch: { stateReason: `lost: ${d.reason}` } }).catch(() => {});
    }
    void this.tick();
  }

  /** One journaled restart: taken over and started on its target (both idempotent), then committed once. */
  async #restart(r: HaRestart): Promise<void> {
    const { store, logger, failpoints } = this.#o;
    const target = r.targetHostId === null ? undefined : await store.hosts.get(r.targetHostId).catch(() => undefined);
    const vm = await store.vms.get(r.vmId).catch(() => undefined);
    if (!vm || !target || vm.state === 'terminated') {
      await store.ha.markRestart(r.id, 'failed', `${r.reason}; given up: ${!vm || vm.state === 'terminated' ? 'the VM is gone' : 'its target host is gone'}`);
      return;
    }
    if (vm.hostId !== r.hostId) {
      // Committed already (a restart that died after its commit), or moved by someone else: nothing is started twice.
      await store.ha.markRestart(r.id, vm.hostId === r.targetHostId ? 'done' : 'failed');
      return;
    }
    if (r.state === 'planned') await store.ha.markRestart(r.id, 'restarting');
    await failpoints?.hit('ha.restart');
    const agent = this.#o.agentFor(target);
    const id = agentVmId(vm.id);
    const spec = vm.spec as unknown as ControllerVmSpec;
    try {
      await agent.takeOver(id, spec.agent, { signal: this.#stopping.signal });
      const report = await agent.start(id, { signal: this.#stopping.signal });
      if (report.state !== 'running') throw new Error(`the agent reports ${report.state}`);
    } catch (err) {
      if (err instanceof RemoteError && err.status >= 400 && err.status < 500) {
        const why = `${target.name} refused to restart it: ${errorMessage(err)}`;
        await store.ha.markRestart(r.id, 'failed', `${r.reason}; ${why}`);
        // Reported like a lost VM: it waits for its host, or an operator.
        await store.vms.transition(vm.id, { from: [vm.state], to: vm.state, action: 'ha-lost', reason: why, expectedVersion: vm.version, patch: { stateReason: `lost: ${why}` } }).catch(() => {});
        logger.error({ vmId: vm.id, target: target.name, err: errorMessage(err) }, 'HA: restart refused by its target');
        return;
      }
      throw err;
    }
    await failpoints?.hit('ha.restart.started');
    await store.ha.commitRestart(r, ['unknown', 'running']);
    logger.warn({ vmId: vm.id, from: r.hostId, to: target.name }, 'HA: VM restarted on another host');
  }

  /**
   * The monitor asks before it acts on a heartbeat: false holds the host (the
   * heartbeat is not acted on). A fenced host whose recovery is done has its
   * stale copies ended first; one still being fenced or recovered waits.
   * Also records the host's health and, when it turns degraded, moves its
   * running VMs away (proactive HA).
   */
  async admitHeartbeat(host: Host, report: HostReport): Promise<boolean> {
    await this.#health(host, report);
    if (host.state !== 'error' && host.state !== 'init') return true;
    const f = await this.#o.store.ha.fencing(host.id);
    const verdict = hostReturn(f.state);
    if (verdict === 'enable') return true;
    if (verdict === 'hold' || this.#returning.has(host.id)) return false;
    this.#returning.add(host.id);
    try {
      const stale: string[] = [];
      for (const r of report.vms) {
        const vmId = vmIdOfAgentId(r.id);
        if (vmId === undefined) continue;
        const vm = await this.#o.store.vms.get(vmId).catch(() => undefined);
        if (!vm || vm.hostId !== host.id) stale.push(r.id);
      }
      await this.#o.failpoints?.hit('ha.return');
      if (stale.length > 0) await this.#o.agentFor(host).releaseStale(stale, { signal: this.#stopping.signal, timeoutMs: 120_000 });
      await this.#o.store.ha.step(host.id, ['recovered'], 'ok');
      this.#o.logger.warn({ host: host.name, released: stale }, 'HA: fenced host is back; its stale copies ended, it may be enabled');
      return true;
    } catch (err) {
      this.#o.logger.error({ host: host.name, err: errorMessage(err) }, 'HA: could not end a returning host\'s stale copies; it stays out');
      return false;
    } finally {
      this.#returning.delete(host.id);
    }
  }

  /** Whether a journaled restart is putting the VM on this host right now (the monitor must not release that copy). */
  async restartsOnto(vmId: string, hostId: string): Promise<boolean> {
    return (await this.#o.store.ha.restarts({ vmId })).some((r) => r.targetHostId === hostId && (r.state === 'planned' || r.state === 'restarting'));
  }

  async #health(host: Host, report: HostReport): Promise<void> {
    const degraded = report.health?.degraded;
    if (degraded === undefined) return;
    if (this.#degraded.get(host.id) !== degraded) {
      // The decision (this host's VMs go) is journaled first: the host's row says degraded before any VM is moved.
      const changed = await this.#o.store.ha.setDegraded(host.id, degraded);
      this.#degraded.set(host.id, degraded);
      if (changed) {
        this.#o.logger.warn({ host: host.name, degraded }, degraded === null ? 'HA: host healthy again; it takes VMs' : 'HA: host degraded; its running VMs are moved away');
        // Only a recorded change is the step: a restarted controller learning each host's unchanged health must not stop here.
        await this.#o.failpoints?.hit('ha.degraded-recorded');
        // Nothing else wakes a VM that waits for this host: no operation ended, no host changed state.
        if (degraded === null) await this.#o.schedulePending?.();
      }
    }
    if (degraded !== null) await this.#moveAway(host);
  }

  /**
   * Level-triggered, so a restarted controller goes on where the last one
   * stopped: at every heartbeat of a degraded host, each running VM not
   * being moved already is handed to `evacuate`; one that could not be is
   * tried again after a pause, not at every beat.
   */
  async #moveAway(host: Host): Promise<void> {
    const vms = await this.#o.store.vms.list({ hostId: host.id, state: 'running' });
    const now = Date.now();
    const waiting = vms.length === 0 ? [] : await this.#o.waitingMoves?.() ?? [];
    for (const vm of vms) {
      if (!shouldMoveAway(vm, waiting, this.#triedAt.get(vm.id), now)) continue;
      this.#triedAt.set(vm.id, now);
      try {
        await this.#o.evacuate?.(vm.id, host.id);
        this.#o.logger.warn({ vmId: vm.id, host: host.name }, 'HA: VM moved off its degraded host');
      } catch (err) {
        this.#o.logger.error({ vmId: vm.id, host: host.name, err: errorMessage(err) }, 'HA: could not move a VM off a degraded host; tried again later');
      }
    }
  }
}

function time(iso: string | null): number | undefined {
  return iso === null ? undefined : Date.parse(iso);
}
