import type { Logger } from 'pino';
import type { AgentVmSpecInput } from '../contract/agent-api.js';
import type { AgentClient } from '../client/agent-client.js';
import { InvalidStateError } from '../core/invalid-state-error.js';
import type { VmState } from '../core/vm-state.js';
import { ValidationError } from '../errors/validation-error.js';
import { parseIpv4 } from '../network/ipv4.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Network } from '../store/repositories/networks-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import type { JsonObject } from '../store/store-context.js';
import { ConflictError, NotFoundError } from '../store/store-errors.js';
import type { Catalog } from './catalog.js';
import { subnetSpan } from './network-rules.js';
import { agentVmId } from './agent-vm-id.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { hostViewOf } from './host-view-of.js';
import { InvariantError } from '../errors/invariant-error.js';

type AgentNic = NonNullable<AgentVmSpecInput['nics']>[number];
type IndexedNic = AgentNic & { readonly index: number };
/** A NIC of the VM with the network it has a lease on (null: none). */
interface NicEntry {
  readonly nic: IndexedNic;
  readonly networkId: string | null;
  /** The spec names the index (else it is the NIC's position, as for the NICs a VM was created with). */
  readonly explicit: boolean;
}

/** The states a VM's NICs may change in: hot-plugged while it runs, in its spec (and config drive) while it is off. */
export const NIC_CHANGE_STATES: readonly VmState[] = ['running', 'poweroff'];
const MAX_NICS = 8;

export interface VmNicsOptions {
  readonly store: Store;
  readonly catalog: Catalog;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
}

/** The VM's NICs, each with its index (a NIC without one has its position: the VM was created so) and its network. */
function entriesOf(spec: ControllerVmSpec): NicEntry[] {
  const networks = spec.nicNetworks ?? [];
  return (spec.agent.nics ?? []).map((n, i) => ({ nic: { ...n, index: n.index ?? i }, networkId: networks[i] ?? null, explicit: n.index !== undefined }));
}

/** The spec with these NICs, by index; an index is written out unless the NIC had none and its position still gives it (an undo restores the spec exactly). */
function withEntries(spec: ControllerVmSpec, entries: readonly NicEntry[]): JsonObject {
  const sorted = [...entries].sort((a, b) => a.nic.index - b.nic.index);
  const nics = sorted.map((e, i): AgentNic => {
    if (e.explicit || e.nic.index !== i) return e.nic;
    const { index: _index, ...rest } = e.nic;
    return rest;
  });
  const next: ControllerVmSpec = { ...spec, agent: { ...spec.agent, nics }, nicNetworks: sorted.map((e) => e.networkId) };
  return next as unknown as JsonObject;
}

const specOf = (vm: Vm): ControllerVmSpec => vm.spec as unknown as ControllerVmSpec;
const hostAddress = (cidr: string): string => cidr.split('/')[0] ?? cidr;

/**
 * NICs attached to and detached from a VM that exists (issue 4). The lease
 * and the VM's spec change in one store transaction before the agent is
 * asked; if the agent fails, that change is undone. A detached NIC's address
 * goes back to its network only after the agent let go of the NIC, so that
 * no other VM can be given an address a guest still holds.
 */
export class VmNics {
  readonly #o: VmNicsOptions;

  constructor(o: VmNicsOptions) {
    this.#o = o;
  }

  /** A NIC on `network` (a lease: `address`, else the lowest free one; the MAC is the lease's). Returns the VM as it is then. */
  async attach(vm: Vm, req: { network: string; address?: string | undefined }): Promise<Vm> {
    this.#checkState(vm, 'nic-attach', 'attach a NIC to');
    const net = await this.#o.catalog.findNetwork(req.network).catch((err: unknown) => {
      if (err instanceof NotFoundError) throw new ValidationError('NIC', [{ field: 'network', message: `no network ${req.network}` }]);
      throw err;
    });
    if (req.address !== undefined) await this.#checkAddress(net, req.address, vm);
    if (entriesOf(specOf(vm)).length >= MAX_NICS) throw new ConflictError('vm', 'name', vm.name, `already has ${MAX_NICS} NICs, the most a VM may have`);
    const host = await this.#hostOf(vm);
    // The same rule as placement's network filter: a TAP can only join a bridge the host has, else the agent fails
    // halfway (or the VM could not start again there).
    const bridges = hostViewOf(host).networks;
    if (!bridges.includes(net.bridge)) {
      throw new ConflictError('network', 'name', net.name, `needs bridge ${net.bridge} on the VM's host ${host.name}, which it does not report (its bridges: ${bridges.length > 0 ? bridges.join(', ') : 'none'})`);
    }
    const agent = this.#o.agentFor(host);
    const prefix = net.cidr.split('/')[1] ?? '32';
    let added: IndexedNic | undefined;
    const { vm: withNic, lease } = await this.#o.store.vms
      .reviseSpec(vm.id, {
        action: 'nic-attach',
        from: NIC_CHANGE_STATES,
        take: { networkId: net.id, address: req.address },
        // Decided on the row as it is under lock, so that two attaches at once get different indexes.
        spec: (cur, l) => {
          if (!l) throw new InvariantError('no lease taken');
          const entries = entriesOf(specOf(cur));
          if (entries.length >= MAX_NICS) throw new ConflictError('vm', 'name', cur.name, `already has ${MAX_NICS} NICs, the most a VM may have`);
          let index = 0;
          while (entries.some((e) => e.nic.index === index)) index++;
          added = {
            mac: l.mac,
            address: `${l.address}/${prefix}`,
            ...(net.gateway !== null ? { gateway: net.gateway } : {}),
            ...(net.dns.length > 0 ? { dns: [...net.dns] } : {}),
            bridge: net.bridge,
            ...(net.vlan !== null ? { vlan: net.vlan } : {}),
            index,
          };
          return withEntries(specOf(cur), [...entries, { nic: added, networkId: net.id, explicit: true }]);
        },
      })
      .catch((err: unknown) => {
        // Lost a race for the address after the checks above.
        if (err instanceof NotFoundError && err.resource === 'lease') throw new ValidationError('NIC', [{ field: 'address', message: `${req.address} is not an address network ${net.name} leases` }]);
        throw err;
      });
    if (!added || !lease) throw new InvariantError('the NIC was not recorded');
    const nic = added;
    try {
      await agent.attachNic(agentVmId(vm.id), { ...nic, index: nic.index });
    } catch (err) {
      await this.#o.store.vms
        .reviseSpec(vm.id, {
          action: 'nic-attach-undone',
          release: { networkId: net.id, address: lease.address },
          spec: (cur) => withEntries(specOf(cur), entriesOf(specOf(cur)).filter((e) => !(e.nic.index === nic.index && e.nic.mac === nic.mac))),
        })
        .catch((undoErr: unknown) => this.#o.logger.error({ vmId: vm.id, err: undoErr }, 'undoing a NIC attach in the store failed'));
      this.#o.logger.warn({ vmId: vm.id, index: nic.index, address: lease.address, err }, 'NIC attach failed on the agent; undone');
      throw err;
    }
    this.#o.logger.info({ vmId: vm.id, index: nic.index, network: net.name, address: nic.address, mac: nic.mac, state: vm.state }, 'NIC attached');
    return this.#o.store.vms.get(withNic.id);
  }

  /** Removes NIC `index`; its lease is freed once the agent has let go of it. Returns the VM as it is then. */
  async detach(vm: Vm, index: number): Promise<Vm> {
    this.#checkState(vm, 'nic-detach', 'detach a NIC from');
    const missing = (v: Vm): NotFoundError => new NotFoundError('nic', `${index} of VM ${v.name}`);
    if (!entriesOf(specOf(vm)).some((e) => e.nic.index === index)) throw missing(vm);
    const agent = await this.#agentOf(vm);
    let removed: NicEntry | undefined;
    // The lease stays the VM's for now: the guest has the address until the agent has unplugged the NIC.
    await this.#o.store.vms.reviseSpec(vm.id, {
      action: 'nic-detach',
      from: NIC_CHANGE_STATES,
      spec: (cur) => {
        const entries = entriesOf(specOf(cur));
        removed = entries.find((e) => e.nic.index === index);
        if (!removed) throw missing(cur);
        return withEntries(specOf(cur), entries.filter((e) => e !== removed));
      },
    });
    if (!removed) throw new InvariantError('the NIC was not removed');
    const gone = removed;
    try {
      await agent.detachNic(agentVmId(vm.id), index);
    } catch (err) {
      await this.#o.store.vms
        .reviseSpec(vm.id, { action: 'nic-detach-undone', spec: (cur) => withEntries(specOf(cur), [...entriesOf(specOf(cur)).filter((e) => e.nic.index !== index), gone]) })
        .catch((undoErr: unknown) => this.#o.logger.error({ vmId: vm.id, err: undoErr }, 'undoing a NIC detach in the store failed'));
      this.#o.logger.warn({ vmId: vm.id, index, err }, 'NIC detach failed on the agent; undone');
      throw err;
    }
    if (gone.networkId !== null && gone.nic.address !== undefined) {
      await this.#o.store.vms.reviseSpec(vm.id, { action: 'nic-detach', release: { networkId: gone.networkId, address: hostAddress(gone.nic.address) } });
    }
    this.#o.logger.info({ vmId: vm.id, index, address: gone.nic.address, mac: gone.nic.mac }, 'NIC detached');
    return this.#o.store.vms.get(vm.id);
  }

  #checkState(vm: Vm, action: string, verb: string): void {
    // An operation in flight owns the VM (the view offers no action then either).
    if (!NIC_CHANGE_STATES.includes(vm.state) || vm.operation !== null) throw new InvalidStateError(action, vm.state, NIC_CHANGE_STATES, verb);
  }

  async #agentOf(vm: Vm): Promise<AgentClient> {
    return this.#o.agentFor(await this.#hostOf(vm));
  }

  async #hostOf(vm: Vm): Promise<Host> {
    if (vm.hostId === null) throw new InvalidStateError('nic', vm.state, NIC_CHANGE_STATES, 'change the NICs of');
    return this.#o.store.hosts.get(vm.hostId);
  }

  /** An address the caller asked for: one the network leases, and free. */
  async #checkAddress(net: Network, address: string, vm: Vm): Promise<void> {
    const n = parseIpv4(address);
    const span = subnetSpan(net.cidr);
    if (n === undefined) throw new ValidationError('NIC', [{ field: 'address', message: `${address} is not an IPv4 address` }]);
    if (span && (n < span.first || n >= span.end)) throw new ValidationError('NIC', [{ field: 'address', message: `${address} is outside network ${net.name} (${net.cidr})` }]);
    const lease = await this.#o.store.leases.get(net.id, address).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    if (!lease) throw new ValidationError('NIC', [{ field: 'address', message: `${address} is not an address network ${net.name} leases (its gateway, or outside its range)` }]);
    if (lease.state === 'held') throw new ConflictError('lease', 'address', address, `is held on network ${net.name}`);
    if (lease.state === 'leased') throw new ConflictError('lease', 'address', address, `is already leased${lease.vmId === vm.id ? ' to this VM' : ' to another VM'} on network ${net.name}`);
  }
}
