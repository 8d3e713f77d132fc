import { applyEvent, type AgentVmReport as CoreReport, type VmEvent } from '../core/vm-events.js';
import type { AgentVmReport, HostReport } from '../contract/agent-api.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { StaleStateError } from '../store/store-errors.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import type { JsonObject } from '../store/store-context.js';
import { agentVmId, vmIdOfAgentId } from './agent-vm-id.js';
import { HostTokenIndex } from './host-token-index.js';
import { HeartbeatRecorder } from './heartbeat-recorder.js';
import { MASS_SILENCE_DEFAULTS, type HostMonitorOptions } from './host-monitor-options.js';
import { sameDescription } from './same-description.js';
import { beatSignature } from './beat-signature.js';
import { LeftoverReleaser } from './leftover-releaser.js';

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
  /** When the current episode of most hosts silent at once began (`#holdMassSilence`). */
  #massSince: number | undefined;
  /**
   * A running VM that a report says is off or crashed, by VM id: acted on only
   * when the next report says the same. One sample taken while the agent is
   * busy starting VMs can be wrong; two consecutive ones are not a coincidence.
   */
  readonly #suspects = new Map<string, string>();
  readonly #tokens: HostTokenIndex;
  /**
   * Heartbeats being processed, by host id. A host whose beat is in here is
   * alive, however long the beat waits for the store: on a controller busy
   * admitting thousands of VMs it can wait many seconds, its agent sends no
   * other beat meanwhile, and a host must not be declared lost for the
   * controller's own backlog (the 200-host bench lost a hundred booting VMs
   * that way). Held from the moment the route has the beat (`hold`), before
   * its host is read from the store: that read alone waited longer than the
   * silence limit behind 200 API clients on SQLite's one connection.
   */
  readonly #processing = new Map<string, number>();
  readonly #recorder: HeartbeatRecorder;
  readonly #leftovers: LeftoverReleaser;
  /**
   * By host id, the monitoring data last written for it (as JSON): data the
   * agent reports unchanged is not written again. Only this controller's
   * writes are known here, so it is forgotten when the monitor starts or
   * stops (another controller may have led meanwhile).
   */
  readonly #usageWritten = new Map<string, string>();
  /**
   * By host id, the signature (`beatSignature`) of its last beat that was
   * quiet: every bound VM reconciled without a change, a suspicion, a
   * firewall to push, or a copy of another host's VM to look at. A beat with
   * the same signature would do nothing either, so its VMs are not read in
   * full nor looked at — at a thousand hosts, 200 beats a second, that was
   * most of a heartbeat's cost. Forgotten with the usage above.
   */
  readonly #quiet = new Map<string, string>();

  constructor(o: HostMonitorOptions) {
    this.#o = o;
    this.#tokens = new HostTokenIndex(o.store.hosts);
    this.#recorder = new HeartbeatRecorder(o.store.hosts, { windowMs: o.writeWindowMs, failpoints: o.failpoints });
    this.#leftovers = new LeftoverReleaser(o);
  }

  /** The hosts whose agent token this is (heartbeats and image fetches authenticate with it); empty for an unknown token. */
  hostsOfToken(token: string, reload = false): Promise<Host[]> {
    return this.#tokens.find(token, reload);
  }

  /** The first host with this token, or undefined. */
  async hostOfToken(token: string): Promise<Host | undefined> {
    return (await this.#tokens.find(token))[0];
  }

  /** Whether the token is indexed (from memory: no store read; a hit is confirmed when the beat's host is read). */
  knowsToken(token: string): boolean {
    return this.#tokens.indexed(token) !== undefined;
  }

  /**
   * Counts a beat as heard from now until the returned function is called:
   * the host of this token and name as last indexed, found without the store
   * (see `#processing`). Nothing is held for a name the index does not have
   * under the token (the beat is then refused or read afresh).
   */
  hold(token: string, name: string): () => void {
    const id = this.#tokens.indexed(token)?.find((h) => h.name === name)?.id;
    if (id === undefined) return () => {};
    this.#enter(id);
    let held = true;
    return () => {
      if (held) this.#leave(id);
      held = false;
    };
  }

  async heartbeat(host: Host, report: HostReport): Promise<void> {
    this.#enter(host.id);
    try {
      await this.#heartbeat(host, report);
    } finally {
      this.#leave(host.id);
    }
  }

  #enter(hostId: string): void {
    this.#processing.set(hostId, (this.#processing.get(hostId) ?? 0) + 1);
  }

  #leave(hostId: string): void {
    const left = (this.#processing.get(hostId) ?? 1) - 1;
    if (left > 0) this.#processing.set(hostId, left);
    else this.#processing.delete(hostId);
  }

  async #heartbeat(host: Host, report: HostReport): Promise<void> {
    const { store } = this.#o;
    if (this.#o.admitHeartbeat && !(await this.#o.admitHeartbeat(host, report))) {
      this.#quiet.delete(host.id);
      return;
    }
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
    const enabling = host.state === 'init' || host.state === 'error';
    // Enabled before the beat's batched write (which may wait for other hosts'): a host HA has just let back in
    // (fencing `ok` again) must not look silent in that wait, or HA's next pass suspects it anew.
    if (enabling) {
      await store.hosts.setState(host.id, 'enabled', host.state === 'error' ? 'heartbeats resumed' : 'first heartbeat');
      this.#o.logger.info({ hostId: host.id, from: host.state }, 'host enabled');
    }
    await this.#record(host.id, {
      load: report.usage.load,
      usedMemoryMiB: report.usage.usedMemoryMiB,
      usedDiskMiB: report.usage.usedDiskMiB,
      cpuModels: report.cpuModels,
      kvm: report.kvm,
      ...(report.bridges !== undefined ? { bridges: report.bridges } : {}),
      ...(report.migration !== undefined ? { migration: { ...report.migration } } : {}),
    });
    // Room appeared: VMs waiting for a host may fit now (placed with this beat's figures written).
    if (enabling) await this.#o.orchestrator.schedulePending();
    const signature = beatSignature(await store.vms.stampsOnHost(host.id), report.vms);
    if (!enabling && this.#quiet.get(host.id) === signature) return;
    this.#quiet.delete(host.id);
    const byAgentId = new Map(report.vms.map((v) => [v.id, v]));
    const takenAt = Date.parse(report.at);
    const bound = await store.vms.list({ hostId: host.id });
    let quiet = true;
    for (const vm of bound) {
      if (vm.operation !== null) continue; // the operation in flight owns the VM (when it ends, the VM's version changes)
      // So does a call of this controller still on its way (an operation the silence check ended in the store).
      if (this.#o.carriedOut?.(vm.id) === true) {
        quiet = false;
        continue;
      }
      // A report taken before the VM's last change (a start that had not returned yet) says nothing about its state now.
      if (!(takenAt > Date.parse(vm.updatedAt))) {
        quiet = false;
        continue;
      }
      if (!(await this.#reconcile(vm, byAgentId.get(agentVmId(vm.id))))) quiet = false;
    }
    // The VMs bound here are known already: only the copies of other hosts' VMs are looked up, not every VM reported.
    const mine = new Set(bound.map((v) => agentVmId(v.id)));
    if (this.#o.afterHeartbeat?.(host, report, bound) === true) quiet = false;
    const others = report.vms.filter((r) => !mine.has(r.id));
    // A copy of another host's VM depends on that VM's record, which this host's signature does not cover.
    if (others.some((r) => vmIdOfAgentId(r.id) !== undefined)) quiet = false;
    await this.#leftovers.release(host, others);
    if (quiet) this.#quiet.set(host.id, signature);
  }

  /** The beat's time, and its monitoring data when it differs from what was last written for the host. */
  async #record(hostId: string, usage: JsonObject): Promise<void> {
    const text = JSON.stringify(usage);
    const same = this.#usageWritten.get(hostId) === text;
    this.#usageWritten.set(hostId, text);
    try {
      await this.#recorder.record({ id: hostId, ...(same ? {} : { usage }) });
    } catch (err) {
      // Not known to be written: the next beat writes its data whatever it is.
      this.#usageWritten.delete(hostId);
      throw err;
    }
  }

  /** Settles the VM by the agent's report; answers true when there was nothing to do (no change, no suspicion). */
  async #reconcile(vm: Vm, r: AgentVmReport | undefined): Promise<boolean> {
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
        if (seen === 'running' || seen === 'paused') {
          this.#suspects.delete(vm.id);
          return true;
        }
        this.#suspects.set(vm.id, seen);
        return false;
      }
      this.#suspects.delete(vm.id);
      if (r === undefined) event = { type: 'host-back', report: 'missing' };
      else if (r.state === 'poweroff') event = { type: 'process-exited', clean: true };
      else if (r.state === 'crashed' || r.state === 'error') event = { type: 'process-exited', clean: false };
    }
    if (!event) return true;
    // A running VM whose host lost it entirely, or a failed one found running, is settled as if its host came back.
    const from = event.type === 'host-back' && (vm.state === 'running' || vm.state === 'failed') ? 'unknown' : vm.state;
    const out = applyEvent(from, event);
    if (!out.changed && out.state === vm.state) return true;
    const reason =
      event.type === 'process-exited' ? (event.clean ? 'the guest powered off' : `QEMU exited unexpectedly${r?.reason ? `: ${r.reason}` : ''}`)
      : `the agent reports ${r?.state ?? 'no such VM'}`;
    await this.#o.failpoints?.hit('heartbeat.reconcile');
    await this.#transition(vm, out.state, 'monitor', reason, out.failedPhase !== undefined ? `${out.failedPhase}: ${reason}` : undefined);
    return false;
  }

  /** Marks hosts that missed their heartbeats as `error` and their VMs `unknown`. */
  async checkSilence(now = Date.now()): Promise<void> {
    const { store } = this.#o;
    const limit = this.#o.heartbeatIntervalMs * (this.#o.missedBeats ?? 3);
    const startedAt = Date.now();
    // Silent means unheard for longer than the limit, whatever else is counted: only those hosts are read.
    const listed = await store.hosts.heardBefore(new Date(now - limit));
    if (await this.#holdMassSilence(listed, now, limit)) return;
    for (const entry of listed) {
      // Read again and judged at the time that has passed since: the list is as the store was when it was read, and
      // a host judged after the writes for the hosts before it (each waiting its turn for the store, seconds on a busy
      // controller) may have been heard meanwhile — its beat written and no longer held. Judged on the list alone, it
      // was declared lost with a fresh beat stored (the 300-host bench lost 4 hosts' VMs in one pass that way).
      const host = await findOrUndefined(store.hosts.get(entry.id));
      if (host === undefined || host.state !== 'enabled' || this.#processing.has(host.id)) continue;
      const at = now + (Date.now() - startedAt);
      const silentFor = this.#silentFor(host, at, limit);
      if (silentFor === undefined) continue;
      const why = `no heartbeat for ${Math.round(silentFor / 1000)} s`;
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

  /** How long the host has been silent at `at`, when that is past its limit (the start-up grace for one not heard since this start). */
  #silentFor(host: { lastHeartbeatAt: string | null; createdAt: string }, at: number, limit: number): number | undefined {
    const heard = host.lastHeartbeatAt === null ? Date.parse(host.createdAt) : Date.parse(host.lastHeartbeatAt);
    const last = Math.max(this.#since, heard);
    const notYetHeard = heard < this.#since;
    return at - last <= (notYetHeard ? Math.max(limit, this.#o.startupGraceMs ?? 30_000) : limit) ? undefined : at - last;
  }

  /**
   * Whether this pass declares nobody lost because most hosts fell silent at
   * once. Hosts fail one by one; when most of them stop being heard together,
   * the common cause is on this side — the controller starved of CPU, its
   * store or its network — and declaring them all lost would cut every
   * operation in flight and leave VMs `unknown`, then `poweroff` or `lost`
   * when the beats come back (the 1,000-host bench under load lost thousands
   * of healthy VMs so). As Kubernetes' node controller stops evicting in a
   * fully disrupted zone, the verdict waits, for `massSilence.holdMs` at most:
   * a silence that lasts that long is declared whatever its cause (a real
   * outage of most hosts is only later to be acted on). An event and a
   * warning say so once per episode.
   */
  async #holdMassSilence(listed: readonly { id: string; lastHeartbeatAt: string | null; createdAt: string }[], now: number, limit: number): Promise<boolean> {
    const o = { ...MASS_SILENCE_DEFAULTS, ...this.#o.massSilence };
    const silent = listed.filter((h) => !this.#processing.has(h.id) && this.#silentFor(h, now, limit) !== undefined);
    if (silent.length < o.minHosts) {
      this.#massSince = undefined;
      return false;
    }
    const enabled = new Set((await this.#o.store.hosts.list({ state: 'enabled' })).map((h) => h.id));
    const count = silent.filter((h) => enabled.has(h.id)).length;
    if (count < o.minHosts || count < o.fraction * enabled.size) {
      this.#massSince = undefined;
      return false;
    }
    if (this.#massSince === undefined) {
      this.#massSince = now;
      const why = `${count} of ${enabled.size} hosts fell silent at once: taken as this controller's trouble (CPU, store or network), not theirs; none declared lost for up to ${Math.round(o.holdMs / 1000)} s`;
      this.#o.logger.warn({ silent: count, enabled: enabled.size, holdMs: o.holdMs }, why);
      await this.#o.store.events.append({ kind: 'controller.mass-silence', resource: 'controller', resourceId: 'hosts', data: { silent: count, enabled: enabled.size, holdMs: o.holdMs } }).catch(() => {});
    }
    return now - this.#massSince < o.holdMs;
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
    this.#forget();
    this.#timer = setInterval(() => {
      void this.checkSilence().catch((err: unknown) => this.#o.logger.error({ err }, 'silence check failed'));
    }, this.#o.heartbeatIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#forget();
  }

  /** What this controller wrote and saw: another one may lead between a stop and the next start. */
  #forget(): void {
    this.#usageWritten.clear();
    this.#quiet.clear();
  }
}
