import type { Logger } from 'pino';
import { allowedFrom } from '../core/vm-actions.js';
import { chooseScaleIn, meanCpu, type ScalingMember } from '../core/autoscale/choose-scale-in.js';
import { decideScaling } from '../core/autoscale/decide-scaling.js';
import { memberWaiting } from '../core/autoscale/member-waiting.js';
import { checkScalingGroup, type ScalingPolicy } from '../core/autoscale/scaling-policy.js';
import type { Store } from '../store/open-store.js';
import { ScalingGroupsRepository, type ScalingGroupRecord, type ScalingMemberRecord } from '../store/repositories/scaling-groups-repository.js';
import type { User } from '../store/repositories/users-repository.js';
import type { Vm } from '../store/repositories/vm-row.js';
import type { JsonObject } from '../store/store-context.js';
import { errorMessage } from '../errors/nubo-error.js';
import { InvariantError } from '../errors/invariant-error.js';
import type { Failpoints } from '../util/failpoints.js';
import { PeriodicRounds } from '../util/periodic-rounds.js';
import type { Catalog } from './catalog.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import type { MetricsHistory } from './metrics-history.js';
import { recordNewVm } from './record-new-vm.js';
import type { VmOrchestrator } from './vm-orchestrator.js';
import { storeContextOf } from './drs-service.js';

export interface AutoscaleServiceOptions {
  readonly store: Store;
  readonly catalog: Catalog;
  readonly orchestrator: VmOrchestrator;
  readonly history: MetricsHistory;
  readonly logger: Logger;
  /** How often every group is evaluated (default 15 s). */
  readonly intervalMs?: number | undefined;
  /** The window a member's CPU samples are averaged over (default 30 s). */
  readonly cpuWindowMs?: number | undefined;
  /** A pushed custom metric older than this is not used (default 5 min). */
  readonly customMetricMaxAgeMs?: number | undefined;
  readonly failpoints?: Failpoints | undefined;
}

/** A member's VM is gone for the group once it is in one of these states: it is replaced. */
const LOST_STATES = new Set(['terminated', 'failed']);

/**
 * Autoscaling groups in the controller: every round, each group's members
 * are reconciled with their VMs, the policy's metric is read (the members'
 * CPU from the metrics history, or the pushed value), core/autoscale decides,
 * and the group is brought to its desired size. Every decision is journaled
 * before its effect: the new desired size and the history first, then a
 * member row with its VM's name, then the VM; a restarted controller finds
 * that VM by name or makes it, and never a second one. A quota refusal is
 * written to the history once (not every round) and the member row dropped.
 */
export class AutoscaleService {
  readonly repo: ScalingGroupsRepository;
  readonly #o: AutoscaleServiceOptions;
  readonly #rounds: PeriodicRounds;
  /** The metric each group was last evaluated with (for views). */
  readonly #lastMetric = new Map<string, number>();

  constructor(o: AutoscaleServiceOptions) {
    this.#o = o;
    this.repo = new ScalingGroupsRepository(storeContextOf(o.store));
    this.#rounds = new PeriodicRounds(() => this.evaluateAll(), o.intervalMs ?? 15_000, (err) => o.logger.error({ err: errorMessage(err) }, 'autoscaling round failed'));
  }

  start(): void {
    this.#rounds.start();
  }

  async stop(): Promise<void> {
    await this.#rounds.stop();
  }

  lastMetric(groupId: string): number | undefined {
    return this.#lastMetric.get(groupId);
  }

  /**
   * Checks the launch configuration by admitting a member without recording it, then creates the group.
   * @throws ValidationError naming the field (nothing is written)
   */
  async create(v: { name: string; template: string; min: number; max: number; desired?: number | undefined; policy: ScalingPolicy; launch: JsonObject }, owner: User): Promise<ScalingGroupRecord> {
    const bounds = { min: v.min, max: v.max, desired: v.desired ?? v.min };
    checkScalingGroup(bounds, v.policy);
    const admitted = await this.#o.catalog.admitVm({ template: v.template, name: `${v.name}-1`, ...v.launch }, owner);
    if (admitted.templateId === null) throw new InvariantError('a VM admitted from a template names no template');
    return this.repo.create({ name: v.name, ownerId: owner.id, templateId: admitted.templateId, ...bounds, policy: v.policy as unknown as JsonObject, launch: v.launch });
  }

  /** @throws ValidationError naming the field when the merged bounds or policy break a rule (nothing is written) */
  async set(g: ScalingGroupRecord, patch: { min?: number | undefined; max?: number | undefined; desired?: number | undefined; policy?: { readonly [K in keyof ScalingPolicy]?: ScalingPolicy[K] | undefined } | undefined }): Promise<ScalingGroupRecord> {
    const policy = { ...(g.policy as unknown as ScalingPolicy), ...Object.fromEntries(Object.entries(patch.policy ?? {}).filter(([, x]) => x !== undefined)) };
    const min = patch.min ?? g.min, max = patch.max ?? g.max;
    // A desired size not given follows the new bounds.
    const desired = patch.desired ?? Math.min(max, Math.max(min, g.desired));
    checkScalingGroup({ min, max, desired }, policy);
    const changes = Object.entries({ min: patch.min, max: patch.max, desired: patch.desired }).filter(([, x]) => x !== undefined).map(([k, x]) => `${k} ${String(x)}`);
    if (patch.policy) changes.push(`policy ${JSON.stringify(patch.policy)}`);
    return this.repo.update(g.id, { min, max, desired, policy: policy }, `set ${changes.join(', ') || 'nothing'}`);
  }

  /** Deletes the group and terminates its members' VMs. */
  async delete(g: ScalingGroupRecord): Promise<void> {
    const members = await this.repo.members(g.id);
    await this.repo.delete(g.id);
    for (const m of members) if (m.vmId !== null) await this.#terminate(m.vmId);
  }

  /** One member's CPU use in percent of its vCPUs, over the window; undefined without samples or when not running. */
  memberCpu(vm: Vm | undefined): number | undefined {
    if (vm === undefined || vm.state !== 'running') return undefined;
    const samples = this.#o.history.vm(vm.id, Date.now() - (this.#o.cpuWindowMs ?? 30_000)).samples;
    if (samples.length === 0) return undefined;
    const vcpus = (vm.spec as unknown as ControllerVmSpec).demand.vcpus;
    return samples.reduce((a, s) => a + s.cpuPercent, 0) / samples.length / Math.max(1, vcpus);
  }

  async evaluateAll(): Promise<void> {
    for (const g of await this.repo.list()) {
      await this.evaluate(g).catch(async (err: unknown) => {
        this.#o.logger.error({ groupId: g.id, err: errorMessage(err) }, 'autoscaling group evaluation failed');
        await this.#noteOnce(g.id, 'error', errorMessage(err));
      });
    }
  }

  /** One round for one group: reconcile members, decide, then create or terminate VMs to reach the desired size. */
  async evaluate(group: ScalingGroupRecord): Promise<void> {
    const g = await this.repo.get(group.id);
    const owner = await this.#o.store.users.get(g.ownerId);
    const vms = new Map((await this.#o.store.vms.list({ ownerId: g.ownerId })).map((v) => [v.id, v]));
    const live: { m: ScalingMemberRecord; vm: Vm | undefined }[] = [];
    // Members an earlier round left `creating` (a crash after their VM was made) and this one finished: members now.
    let finished = 0;
    for (const m of await this.repo.members(g.id)) {
      const vm = m.vmId !== null ? vms.get(m.vmId) : undefined;
      if (m.state === 'creating') {
        if (await this.#finishCreating(g, m, owner)) finished++;
        continue;
      }
      if (m.state === 'removing' || vm === undefined || LOST_STATES.has(vm.state)) {
        if (vm !== undefined && !LOST_STATES.has(vm.state)) await this.#terminate(vm.id, vm.state);
        if (vm === undefined || vm.state === 'terminated' || vm.state === 'failed') {
          // Only terminate-hard ends a failed VM (its epilog kills whatever QEMU is left and deletes its disks).
          if (vm?.state === 'failed') await this.#terminate(vm.id, vm.state, 'terminate-hard');
          await this.repo.removeMember(g.id, m.vmName, { kind: m.state === 'removing' ? 'vm-terminated' : 'vm-lost', message: `${m.vmName} ${m.state === 'removing' ? 'terminated' : `left the group (${vm?.state ?? 'gone'})`}` });
        }
        continue;
      }
      live.push({ m, vm });
      const waiting = memberWaiting({ vmName: m.vmName, vmState: vm.state, stateReason: vm.stateReason });
      if (waiting !== undefined) await this.#noteOnce(g.id, 'waiting', waiting);
    }
    const members: ScalingMember[] = live.map(({ m, vm }) => ({ vmId: m.vmName, createdAt: Date.parse(m.createdAt), cpu: this.memberCpu(vm) }));
    const policy = g.policy as unknown as ScalingPolicy;
    const fresh = g.customMetricAt !== null && Date.now() - Date.parse(g.customMetricAt) <= (this.#o.customMetricMaxAgeMs ?? 300_000);
    const metric = policy.metric === 'cpu' ? meanCpu(members) : fresh && g.customMetric !== null ? g.customMetric : undefined;
    if (metric !== undefined) this.#lastMetric.set(g.id, metric);
    else this.#lastMetric.delete(g.id);
    const d = decideScaling({ bounds: g, policy, metric, lastScaleAt: g.lastScaleAt === null ? undefined : Date.parse(g.lastScaleAt), now: Date.now() });
    let desired = g.desired;
    if (d.change !== 'none') {
      await this.repo.scale(g.id, g.desired, d.desired, d.change === 'out' ? 'scale-out' : 'scale-in', d.reason);
      this.#o.logger.info({ groupId: g.id, from: g.desired, to: d.desired, reason: d.reason }, 'scaling group resized');
      desired = d.desired;
      await this.#o.failpoints?.hit('autoscale.after-decision');
    }
    const creating = (await this.repo.members(g.id)).filter((m) => m.state === 'creating').length;
    // Without `finished`, the member a restarted controller adopted was not counted and a second VM was made for it.
    const have = live.length + finished + creating;
    for (let k = have; k < desired; k++) {
      const m = await this.repo.addMember(g.id);
      await this.#o.failpoints?.hit('autoscale.member-journaled');
      if (!(await this.#finishCreating(g, m, owner))) break;
    }
    if (have > desired) {
      for (const name of chooseScaleIn(members, have - desired)) {
        const vm = live.find((l) => l.m.vmName === name)?.vm;
        await this.repo.setMember(g.id, name, { state: 'removing' }, { kind: 'vm-removing', message: `${name} chosen for scale-in (least loaded, then newest)` });
        if (vm) await this.#terminate(vm.id, vm.state);
      }
    }
  }

  /** Finds the member's VM by its name (a restart between the journal and the VM) or makes it; false when it could not be made. */
  async #finishCreating(g: ScalingGroupRecord, m: ScalingMemberRecord, owner: User): Promise<boolean> {
    const existing = (await this.#o.store.vms.list({ ownerId: g.ownerId, name: m.vmName })).find((v) => v.state !== 'terminated');
    if (existing) {
      await this.repo.setMember(g.id, m.vmName, { vmId: existing.id, state: 'active' }, { kind: 'vm-created', message: `${m.vmName} created (adopted by name: the round that made it did not finish)` });
      return true;
    }
    let vm: Vm;
    try {
      const admitted = await this.#o.catalog.admitVm({ template: g.templateId, name: m.vmName, ...(g.launch as { userData?: string; vcpus?: number; memoryMiB?: number }) }, owner);
      vm = await recordNewVm({ store: this.#o.store, orchestrator: this.#o.orchestrator }, admitted, owner);
    } catch (err) {
      // Refused (quota, capacity of a network, a template gone): recorded once, and tried again next round.
      await this.repo.removeMember(g.id, m.vmName);
      await this.#noteOnce(g.id, 'refused', `${m.vmName} not created: ${errorMessage(err)}`);
      return false;
    }
    // From here the VM exists: a failure (or a crash) leaves the member `creating`, and the next round finds that VM by name — it is never made twice.
    await this.#o.failpoints?.hit('autoscale.vm-recorded');
    await this.repo.setMember(g.id, m.vmName, { vmId: vm.id, state: 'active' }, { kind: 'vm-created', message: `${m.vmName} created` });
    return true;
  }

  async #noteOnce(groupId: string, kind: string, message: string): Promise<void> {
    const [last] = await this.repo.history(groupId, 1);
    if (last?.kind === kind && last.message.replace(/-\d+ /, ' ') === message.replace(/-\d+ /, ' ')) return;
    await this.repo.note(groupId, kind, message);
  }

  /**
   * Asks for the member's VM to be terminated, unless a terminate already runs (`shutdown`, `epilog`) or its state
   * allows none yet (`boot`): the next round asks again — without this every round logged a refusal until it ended.
   */
  async #terminate(vmId: string, state?: string, action: 'terminate' | 'terminate-hard' = 'terminate'): Promise<void> {
    if (state !== undefined && !(allowedFrom(action) as readonly string[]).includes(state)) return;
    await this.#o.orchestrator.act(vmId, action).catch((err: unknown) => this.#o.logger.warn({ vmId, err: errorMessage(err) }, 'could not terminate a scaling group member yet'));
  }
}
