import type { VmDetailView, VmView } from '../contract/vm-schemas.js';
import type { VolumeView } from '../contract/storage-schemas.js';
import type { NetworkView } from '../contract/network-schemas.js';
import type { TemplateView } from '../contract/template-schemas.js';
import type { LinkInstance, ResourceInstance } from './occi-instance.js';
import {
  COMPUTE, COMPUTE_ACTION, IPNETWORK, IPNETWORKINTERFACE, identifierOf, NETWORK, NETWORKINTERFACE, NUBO_ACTION, STORAGE, STORAGELINK, type ComputeState,
} from './occi-model.js';
import { osTplMixin, resourceTplMixin, sizeOf } from './occi-templates.js';
import { CLUSTER_ATTRIBUTE, zoneIdentifier } from './occi-zones.js';

/**
 * nubo's records as OCCI entities: a VM is a compute, a volume a storage, a
 * network a network; an attached volume is a storagelink (its id is the
 * volume's: a volume is attached to one VM at most), a NIC a networkinterface
 * (`<vm id>.nic<index>`). `base` is the OCCI root's path (`/occi/1.2`).
 */

export const MIB_PER_GIB = 1024;

/** nubo's VM states in OCCI's four (GFD.224 §3.1.1). */
export function computeState(state: VmView['state']): ComputeState {
  switch (state) {
    // Still running until it is off or saved: shutdown and saving end in inactive and suspended.
    case 'running': case 'migrating': case 'shutdown': case 'saving': return 'active';
    case 'suspended': return 'suspended';
    case 'failed': case 'unknown': return 'error';
    default: return 'inactive';
  }
}

/** The OCCI actions a VM's allowed native actions make possible now. */
export function computeActions(v: Pick<VmView, 'state' | 'allowedActions'>): string[] {
  const can = new Set(v.allowedActions);
  const out: string[] = [];
  if (can.has('start') || can.has('resume')) out.push(`${COMPUTE_ACTION}start`);
  if (can.has('poweroff') || can.has('poweroff-hard')) out.push(`${COMPUTE_ACTION}stop`);
  if (can.has('reboot') || can.has('reboot-hard')) out.push(`${COMPUTE_ACTION}restart`);
  if (can.has('suspend')) out.push(`${COMPUTE_ACTION}suspend`);
  if (v.state === 'running' || v.state === 'poweroff') out.push(`${NUBO_ACTION}migrate`);
  return out;
}

export const computeLocation = (base: string, id: string): string => `${base}/compute/${id}`;
export const storageLocation = (base: string, id: string): string => `${base}/storage/${id}`;
export const networkLocation = (base: string, id: string): string => `${base}/network/${id}`;
export const storageLinkLocation = (base: string, volumeId: string): string => `${base}/link/storagelink/${volumeId}`;
export const networkInterfaceId = (vmId: string, index: number): string => `${vmId}.nic${index}`;

/** `<vm id>.nic<index>` back into its parts. */
export function parseNetworkInterfaceId(id: string): { vmId: string; index: number } | undefined {
  const m = /^(.+)\.nic(\d)$/.exec(id);
  return m ? { vmId: m[1]!, index: Number(m[2]) } : undefined;
}

export function storageLink(base: string, v: VolumeView & { vm: string }): LinkInstance {
  return {
    kind: identifierOf(STORAGELINK), mixins: [], id: v.id, title: v.name, location: storageLinkLocation(base, v.id),
    source: { location: computeLocation(base, v.vm), kind: identifierOf(COMPUTE) }, target: { location: storageLocation(base, v.id), kind: identifierOf(STORAGE) },
    attributes: {
      'occi.core.id': v.id, 'occi.core.title': v.name, 'occi.core.source': computeLocation(base, v.vm), 'occi.core.target': storageLocation(base, v.id),
      ...(v.slot !== null ? { 'occi.storagelink.deviceid': `vol${v.slot}` } : {}), 'occi.storagelink.state': 'active',
    },
  };
}

/** A NIC as a networkinterface; its target is its network (by id, from `networkIds`), or none for a NIC on no network. */
export function networkInterface(base: string, vm: Pick<VmView, 'id' | 'state'>, nic: VmDetailView['nics'][number], networks: ReadonlyMap<string, NetworkView>): LinkInstance {
  const id = networkInterfaceId(vm.id, nic.index);
  const net = nic.network === null ? undefined : networks.get(nic.network);
  const target = net ? networkLocation(base, net.id) : `${base}/network/none`;
  const address = nic.address?.split('/')[0];
  return {
    kind: identifierOf(NETWORKINTERFACE), mixins: address !== undefined ? [identifierOf(IPNETWORKINTERFACE)] : [], id, location: `${base}/link/networkinterface/${id}`,
    source: { location: computeLocation(base, vm.id), kind: identifierOf(COMPUTE) }, target: { location: target, kind: identifierOf(NETWORK) },
    attributes: {
      'occi.core.id': id, 'occi.core.source': computeLocation(base, vm.id), 'occi.core.target': target,
      'occi.networkinterface.interface': `nic${nic.index}`, 'occi.networkinterface.mac': nic.mac,
      'occi.networkinterface.state': computeState(vm.state) === 'active' ? 'active' : 'inactive',
      ...(address !== undefined ? { 'occi.networkinterface.address': address, 'occi.networkinterface.allocation': 'static' } : {}),
      ...(net?.gateway ? { 'occi.networkinterface.gateway': net.gateway } : {}),
    },
  };
}

export interface ComputeContext {
  readonly base: string;
  /** Templates by name (the VM view names its template). */
  readonly templates: ReadonlyMap<string, Pick<TemplateView, 'id' | 'name' | 'vcpus' | 'memoryMiB'>>;
  /** Networks by name (a NIC names its network). */
  readonly networks: ReadonlyMap<string, NetworkView>;
  /** Volumes attached to this VM. */
  readonly volumes: readonly VolumeView[];
}

export function compute(v: VmView & { nics?: VmDetailView['nics'] }, c: ComputeContext): ResourceInstance {
  const tpl = v.template === null ? undefined : c.templates.get(v.template);
  const size = sizeOf(v.vcpus, v.memoryMiB);
  const cluster = v.cluster ?? null;
  const zone = cluster === null ? undefined : zoneIdentifier(cluster);
  const mixins = [...(tpl ? [identifierOf(osTplMixin(tpl))] : []), ...(size ? [identifierOf(resourceTplMixin(size))] : []), ...(zone !== undefined ? [zone] : [])];
  const links = [
    ...c.volumes.filter((x): x is VolumeView & { vm: string } => x.vm === v.id).map((x) => storageLink(c.base, x)),
    // A NIC on no network links to nothing: it is not a networkinterface.
    ...(v.nics ?? []).filter((n) => n.network !== null && c.networks.has(n.network)).map((n) => networkInterface(c.base, v, n, c.networks)),
  ];
  return {
    kind: identifierOf(COMPUTE), mixins, id: v.id, title: v.name, location: computeLocation(c.base, v.id),
    attributes: {
      'occi.core.id': v.id, 'occi.core.title': v.name,
      'occi.compute.architecture': 'x64', 'occi.compute.cores': v.vcpus, 'occi.compute.hostname': v.name,
      'occi.compute.memory': v.memoryMiB / MIB_PER_GIB, 'occi.compute.state': computeState(v.state),
      'occi.compute.state.message': v.stateReason === null ? v.state : `${v.state}: ${v.stateReason}`,
      ...(cluster !== null ? { [CLUSTER_ATTRIBUTE]: cluster } : {}),
    },
    actions: computeActions(v), links,
  };
}

export function storage(base: string, v: VolumeView): ResourceInstance {
  return {
    kind: identifierOf(STORAGE), mixins: [], id: v.id, title: v.name, location: storageLocation(base, v.id),
    attributes: {
      'occi.core.id': v.id, 'occi.core.title': v.name, 'occi.storage.size': v.sizeMiB / MIB_PER_GIB,
      'occi.storage.state': 'online', 'occi.storage.state.message': v.state,
    },
    actions: [], links: [],
  };
}

export function network(base: string, n: NetworkView): ResourceInstance {
  return {
    kind: identifierOf(NETWORK), mixins: [identifierOf(IPNETWORK)], id: n.id, title: n.name, location: networkLocation(base, n.id),
    attributes: {
      'occi.core.id': n.id, 'occi.core.title': n.name, ...(n.vlan !== null ? { 'occi.network.vlan': n.vlan } : {}), 'occi.network.label': n.bridge,
      'occi.network.state': 'active', 'occi.network.state.message': `${n.addresses.free} of ${n.addresses.total} addresses free`,
      'occi.network.address': n.cidr, ...(n.gateway !== null ? { 'occi.network.gateway': n.gateway } : {}), 'occi.network.allocation': 'static',
    },
    actions: [], links: [],
  };
}
