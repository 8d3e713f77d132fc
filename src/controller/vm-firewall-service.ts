import type { Logger } from 'pino';
import type { AgentClient } from '../client/agent-client.js';
import type { FirewallRuleWire, HostReport, VmFirewall } from '../contract/agent-api.js';
import { sameRules } from '../contract/same-rules.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { Store } from '../store/open-store.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import type { Failpoints } from '../util/failpoints.js';
import type { JsonObject } from '../store/store-context.js';
import { agentVmId } from './agent-vm-id.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';

export interface VmFirewallServiceOptions {
  readonly store: Store;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
  readonly failpoints?: Failpoints | undefined;
}

const PUSH_MS = 15_000;

/** The VM's firewall as stored in its spec (`vms.spec.agent.firewall`); undefined: none was ever set. */
export function firewallOf(vm: Pick<Vm, 'spec'>): VmFirewall | undefined {
  return (vm.spec as unknown as Partial<ControllerVmSpec>).agent?.firewall;
}

/**
 * The controller's side of the VMs' firewalls (EC2 security groups on the
 * hosts). A change is written to the VM's spec first — with a revision one
 * higher — so that every later boot, migration destination or HA restart
 * carries it; then it is pushed to the VM's host. A push that fails is not
 * retried here: the host's next heartbeat reports an older revision and gets
 * it again (`afterHeartbeat`), which also covers an agent that restarted.
 */
export class VmFirewallService {
  readonly #pushing = new Set<string>();

  constructor(private readonly o: VmFirewallServiceOptions) {}

  /** Sets what the VM may receive (null: no firewall); nothing is written when it allows the same already. */
  async set(vmId: string, rules: readonly FirewallRuleWire[] | null): Promise<void> {
    const { store } = this.o;
    const vm = await findOrUndefined(store.vms.get(vmId));
    if (!vm || vm.state === 'terminated') return;
    const had = firewallOf(vm);
    if (had !== undefined ? sameRules(had.rules, rules) : rules === null) return;
    let fw: VmFirewall | undefined;
    const { vm: revised } = await store.vms.reviseSpec(vmId, {
      action: 'firewall',
      spec: (cur) => {
        const spec = cur.spec as unknown as ControllerVmSpec;
        fw = { revision: (firewallOf(cur)?.revision ?? 0) + 1, rules: rules === null ? null : rules.map((r) => ({ ...r })) };
        return { ...spec, agent: { ...spec.agent, firewall: fw } } as unknown as JsonObject;
      },
    });
    this.o.logger.info({ vmId, revision: fw?.revision, rules: rules?.length ?? null }, 'vm firewall stored');
    await this.o.failpoints?.hit('firewall.stored');
    if (fw !== undefined && revised.hostId !== null) await this.#push(revised, revised.hostId, fw);
  }

  /**
   * After a host's heartbeat: each VM bound there whose firewall the host
   * holds at an older revision than the store (or not at all) is pushed
   * again, in the background — a heartbeat never waits for it. Answers
   * whether one was (the monitor then looks at the host's next beat in full).
   */
  afterHeartbeat(host: Host, report: HostReport, bound: readonly Vm[]): boolean {
    const held = new Map(report.vms.map((r) => [r.id, r]));
    let pushed = false;
    for (const vm of bound) {
      const fw = firewallOf(vm);
      const r = held.get(agentVmId(vm.id));
      if (fw === undefined || r === undefined || vm.state === 'terminated') continue;
      if ((r.firewallRevision ?? -1) >= fw.revision) continue;
      this.o.logger.warn({ vmId: vm.id, host: host.name, held: r.firewallRevision ?? null, revision: fw.revision }, 'a host holds an older firewall of a VM: pushed again');
      void this.#push(vm, host.id, fw);
      pushed = true;
    }
    return pushed;
  }

  async #push(vm: Vm, hostId: string, fw: VmFirewall): Promise<void> {
    const key = `${vm.id}/${hostId}/${fw.revision}`;
    if (this.#pushing.has(key)) return;
    this.#pushing.add(key);
    try {
      const host = await this.o.store.hosts.get(hostId);
      const r = await this.o.agentFor(host).setFirewall(agentVmId(vm.id), fw, { timeoutMs: PUSH_MS });
      this.o.logger.info({ vmId: vm.id, host: host.name, revision: r.revision, applied: r.applied }, 'vm firewall pushed');
    } catch (err) {
      this.o.logger.warn({ vmId: vm.id, hostId, revision: fw.revision, err: errorMessage(err) }, 'vm firewall push failed: the host gets it on its next heartbeat');
    } finally {
      this.#pushing.delete(key);
    }
  }
}
