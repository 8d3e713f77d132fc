/**
 * The OCCI 1.2 model nubo serves: the Core kinds (GFD.221: entity, resource,
 * link), the Infrastructure kinds and mixins (GFD.224: compute, storage,
 * network, storagelink, networkinterface, ipnetwork, ipnetworkinterface,
 * os_tpl, resource_tpl), the compute actions nubo can carry out and nubo's own
 * `migrate`. Pure data: the server adds one os_tpl mixin per template the
 * caller may use and one resource_tpl per size (occi-templates.ts).
 */

export const CORE = 'http://schemas.ogf.org/occi/core#';
export const INFRA = 'http://schemas.ogf.org/occi/infrastructure#';
export const COMPUTE_ACTION = 'http://schemas.ogf.org/occi/infrastructure/compute/action#';
export const NETWORK_SCHEME = 'http://schemas.ogf.org/occi/infrastructure/network#';
export const STORAGE_ACTION = 'http://schemas.ogf.org/occi/infrastructure/storage/action#';
export const NETWORK_ACTION = 'http://schemas.ogf.org/occi/infrastructure/network/action#';
export const NETWORKINTERFACE_SCHEME = 'http://schemas.ogf.org/occi/infrastructure/networkinterface#';
/** nubo's own categories: its actions and its templates as mixins. */
export const NUBO_ACTION = 'http://schemas.nubo.dev/occi/infrastructure/compute/action#';
export const NUBO_OS_TPL = 'http://schemas.nubo.dev/occi/os_tpl#';
export const NUBO_RESOURCE_TPL = 'http://schemas.nubo.dev/occi/resource_tpl#';
/** nubo's clusters (EC2's availability zones) as mixins of compute (occi-zones.ts). */
export const NUBO_AVAILABILITY_ZONE = 'http://schemas.nubo.dev/occi/availability_zone#';

export type AttributeType = 'string' | 'number' | 'boolean' | 'object' | 'array';

export interface AttributeDefinition {
  readonly name: string;
  readonly type: AttributeType;
  readonly mutable: boolean;
  readonly required: boolean;
  readonly description: string;
  readonly default?: string | number | boolean;
  /** The allowed values of an enumeration (rendered as a JSON Schema pattern). */
  readonly values?: readonly string[];
}

interface CategoryBase {
  readonly term: string;
  readonly scheme: string;
  readonly title: string;
  readonly attributes: readonly AttributeDefinition[];
}
export interface Kind extends CategoryBase {
  readonly class: 'kind';
  readonly parent?: string;
  /** Ends with '/', relative to the OCCI root. */
  readonly location: string;
  readonly actions: readonly string[];
}
export interface Mixin extends CategoryBase {
  readonly class: 'mixin';
  readonly depends: readonly string[];
  readonly applies: readonly string[];
  readonly location: string;
  readonly actions: readonly string[];
}
export interface Action extends CategoryBase {
  readonly class: 'action';
}
export type Category = Kind | Mixin | Action;

/** A category's identifier: its scheme followed by its term (GFD.221 §4.4). */
export const identifierOf = (c: { readonly scheme: string; readonly term: string }): string => c.scheme + c.term;

const attr = (name: string, type: AttributeType, description: string, o: { mutable?: boolean; required?: boolean; values?: readonly string[]; default?: string | number | boolean } = {}): AttributeDefinition => ({
  name, type, description, mutable: o.mutable ?? false, required: o.required ?? false,
  ...(o.values !== undefined ? { values: o.values } : {}), ...(o.default !== undefined ? { default: o.default } : {}),
});

const methodAttr = (values: readonly string[]): AttributeDefinition => attr('method', 'string', `one of ${values.join(', ')}`, { mutable: true, values });

export const COMPUTE_ACTIONS: readonly Action[] = [
  { class: 'action', term: 'start', scheme: COMPUTE_ACTION, title: 'Start the compute (a suspended one is resumed)', attributes: [] },
  { class: 'action', term: 'stop', scheme: COMPUTE_ACTION, title: 'Stop the compute (graceful and acpioff: the guest shuts down; poweroff: at once)', attributes: [methodAttr(['graceful', 'acpioff', 'poweroff'])] },
  { class: 'action', term: 'restart', scheme: COMPUTE_ACTION, title: 'Restart the compute (graceful and warm: the guest reboots; cold: reset)', attributes: [methodAttr(['graceful', 'warm', 'cold'])] },
  { class: 'action', term: 'suspend', scheme: COMPUTE_ACTION, title: 'Suspend the compute (its memory saved to disk)', attributes: [methodAttr(['hibernate', 'suspend'])] },
  {
    class: 'action', term: 'migrate', scheme: NUBO_ACTION, title: 'Migrate the compute to another host (live when running; the placement rules choose without a host)',
    attributes: [attr('host', 'string', 'the destination host (name or id)', { mutable: true })],
  },
];

/**
 * The storage and network actions of the Infrastructure specification. nubo's
 * volumes are always online and its networks always up, so `online` and `up`
 * succeed without a change; the others have no native counterpart and are
 * refused (501, naming the action): `UNSUPPORTED_ACTIONS`.
 */
export const STORAGE_ACTIONS: readonly Action[] = [
  { class: 'action', term: 'online', scheme: STORAGE_ACTION, title: 'Bring the storage online (a nubo volume always is: no change)', attributes: [] },
  { class: 'action', term: 'offline', scheme: STORAGE_ACTION, title: 'Take the storage offline (not supported by nubo)', attributes: [] },
  { class: 'action', term: 'backup', scheme: STORAGE_ACTION, title: 'Back the storage up (not supported by nubo)', attributes: [] },
  { class: 'action', term: 'snapshot', scheme: STORAGE_ACTION, title: 'Snapshot the storage (not supported by nubo: snapshot the compute instead)', attributes: [] },
  { class: 'action', term: 'resize', scheme: STORAGE_ACTION, title: 'Resize the storage (not supported by nubo)', attributes: [attr('size', 'number', 'the new size in GiB', { mutable: true })] },
];
export const NETWORK_ACTIONS: readonly Action[] = [
  { class: 'action', term: 'up', scheme: NETWORK_ACTION, title: 'Bring the network up (a nubo network always is: no change)', attributes: [] },
  { class: 'action', term: 'down', scheme: NETWORK_ACTION, title: 'Take the network down (not supported by nubo)', attributes: [] },
];
/** Actions of the specification nubo has nothing to carry out with, by identifier. */
export const UNSUPPORTED_ACTIONS: ReadonlySet<string> = new Set([
  ...['offline', 'backup', 'snapshot', 'resize'].map((t) => STORAGE_ACTION + t), NETWORK_ACTION + 'down',
]);

/** Every action the query interface lists. */
export const ACTIONS: readonly Action[] = [...COMPUTE_ACTIONS, ...STORAGE_ACTIONS, ...NETWORK_ACTIONS];

const COMPUTE_STATES = ['active', 'inactive', 'suspended', 'error'] as const;
export type ComputeState = (typeof COMPUTE_STATES)[number];

export const ENTITY: Kind = {
  class: 'kind', term: 'entity', scheme: CORE, title: 'Entity', location: '/entity/', actions: [],
  attributes: [
    attr('occi.core.id', 'string', 'the entity\'s identifier (nubo\'s id)'),
    attr('occi.core.title', 'string', 'the entity\'s name', { mutable: true }),
  ],
};
export const RESOURCE: Kind = {
  class: 'kind', term: 'resource', scheme: CORE, title: 'Resource', parent: identifierOf(ENTITY), location: '/resource/', actions: [],
  attributes: [attr('occi.core.summary', 'string', 'a summary of the resource')],
};
export const LINK: Kind = {
  class: 'kind', term: 'link', scheme: CORE, title: 'Link', parent: identifierOf(ENTITY), location: '/link/', actions: [],
  attributes: [
    attr('occi.core.source', 'string', 'the location of the resource the link goes from', { required: true }),
    attr('occi.core.target', 'string', 'the location of the resource the link goes to', { required: true }),
  ],
};

export const COMPUTE: Kind = {
  class: 'kind', term: 'compute', scheme: INFRA, title: 'Compute resource (a nubo VM)', parent: identifierOf(RESOURCE), location: '/compute/',
  actions: COMPUTE_ACTIONS.map(identifierOf),
  attributes: [
    attr('occi.compute.architecture', 'string', 'CPU architecture of the instance', { values: ['x86', 'x64'] }),
    attr('occi.compute.cores', 'number', 'number of virtual CPUs (changed only while the VM is powered off)', { mutable: true }),
    attr('occi.compute.hostname', 'string', 'the VM\'s name'),
    attr('occi.compute.memory', 'number', 'memory in GiB (a whole number of MiB; changed only while the VM is powered off)', { mutable: true }),
    attr('occi.compute.state', 'string', 'the compute\'s state', { values: COMPUTE_STATES }),
    attr('occi.compute.state.message', 'string', 'nubo\'s own state and its reason'),
  ],
};
export const STORAGE: Kind = {
  class: 'kind', term: 'storage', scheme: INFRA, title: 'Storage resource (a nubo volume)', parent: identifierOf(RESOURCE), location: '/storage/', actions: STORAGE_ACTIONS.map(identifierOf),
  attributes: [
    attr('occi.storage.size', 'number', 'size in GiB (a whole number of MiB)', { required: true }),
    attr('occi.storage.state', 'string', 'the storage\'s state', { values: ['online', 'offline', 'error'] }),
    attr('occi.storage.state.message', 'string', 'nubo\'s own state of the volume'),
  ],
};
export const NETWORK: Kind = {
  class: 'kind', term: 'network', scheme: INFRA, title: 'Network resource (a nubo network)', parent: identifierOf(RESOURCE), location: '/network/', actions: NETWORK_ACTIONS.map(identifierOf),
  attributes: [
    attr('occi.network.vlan', 'number', '802.1q VLAN identifier'),
    attr('occi.network.label', 'string', 'the bridge the network uses'),
    attr('occi.network.state', 'string', 'the network\'s state', { values: ['active', 'inactive', 'error'] }),
    attr('occi.network.state.message', 'string', 'how many addresses are free'),
  ],
};
export const STORAGELINK: Kind = {
  class: 'kind', term: 'storagelink', scheme: INFRA, title: 'Storage link (a volume attached to a VM)', parent: identifierOf(LINK), location: '/link/storagelink/', actions: [],
  attributes: [
    attr('occi.storagelink.deviceid', 'string', 'the device the guest sees (vol<slot>)'),
    attr('occi.storagelink.mountpoint', 'string', 'not set by nubo'),
    attr('occi.storagelink.state', 'string', 'the link\'s state', { values: ['active', 'inactive', 'error'] }),
  ],
};
export const NETWORKINTERFACE: Kind = {
  class: 'kind', term: 'networkinterface', scheme: INFRA, title: 'Network interface (a NIC of a VM)', parent: identifierOf(LINK), location: '/link/networkinterface/', actions: [],
  attributes: [
    attr('occi.networkinterface.interface', 'string', 'the NIC\'s name in nubo (nic<index>)'),
    attr('occi.networkinterface.mac', 'string', 'the NIC\'s MAC address'),
    attr('occi.networkinterface.state', 'string', 'the link\'s state', { values: ['active', 'inactive', 'error'] }),
  ],
};

export const KINDS: readonly Kind[] = [ENTITY, RESOURCE, LINK, COMPUTE, STORAGE, NETWORK, STORAGELINK, NETWORKINTERFACE];

export const IPNETWORK: Mixin = {
  class: 'mixin', term: 'ipnetwork', scheme: NETWORK_SCHEME, title: 'IP network', depends: [], applies: [identifierOf(NETWORK)], location: '/mixin/ipnetwork/', actions: [],
  attributes: [
    attr('occi.network.address', 'string', 'the network\'s subnet in CIDR notation', { required: true }),
    attr('occi.network.gateway', 'string', 'the gateway\'s address'),
    attr('occi.network.allocation', 'string', 'how guests get addresses (nubo leases them: static)', { values: ['dynamic', 'static'] }),
  ],
};
export const IPNETWORKINTERFACE: Mixin = {
  class: 'mixin', term: 'ipnetworkinterface', scheme: NETWORKINTERFACE_SCHEME, title: 'IP network interface', depends: [], applies: [identifierOf(NETWORKINTERFACE)], location: '/mixin/ipnetworkinterface/', actions: [],
  attributes: [
    attr('occi.networkinterface.address', 'string', 'the NIC\'s leased address'),
    attr('occi.networkinterface.gateway', 'string', 'the network\'s gateway'),
    attr('occi.networkinterface.allocation', 'string', 'nubo leases addresses: static', { values: ['dynamic', 'static'] }),
  ],
};
/** The parents of the template mixins (GFD.224 §3.6): a compute is made from one os_tpl and at most one resource_tpl. */
export const OS_TPL: Mixin = { class: 'mixin', term: 'os_tpl', scheme: INFRA, title: 'OS template', depends: [], applies: [identifierOf(COMPUTE)], location: '/mixin/os_tpl/', actions: [], attributes: [] };
export const RESOURCE_TPL: Mixin = { class: 'mixin', term: 'resource_tpl', scheme: INFRA, title: 'Resource template', depends: [], applies: [identifierOf(COMPUTE)], location: '/mixin/resource_tpl/', actions: [], attributes: [] };

export const STATIC_MIXINS: readonly Mixin[] = [IPNETWORK, IPNETWORKINTERFACE, OS_TPL, RESOURCE_TPL];

export const actionByIdentifier = (id: string): Action | undefined => ACTIONS.find((a) => identifierOf(a) === id);
export const kindByIdentifier = (id: string): Kind | undefined => KINDS.find((k) => identifierOf(k) === id);

/** Every attribute a kind has, its ancestors' first. */
export function attributesOfKind(kind: Kind): AttributeDefinition[] {
  const parent = kind.parent === undefined ? undefined : kindByIdentifier(kind.parent);
  return [...(parent ? attributesOfKind(parent) : []), ...kind.attributes];
}
