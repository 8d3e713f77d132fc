import type { CreateVmBody } from '../contract/vm-schemas.js';
import type { CreateNetworkBody } from '../contract/network-schemas.js';
import type { VmApiAction } from '../contract/vm-schemas.js';
import { badRequest, OcciError } from './occi-error.js';
import type { AttributeValue, CategoryRef, SentAction, SentEntity } from './occi-instance.js';
import {
  ACTIONS, attributesOfKind, COMPUTE, UNSUPPORTED_ACTIONS, type Action, identifierOf, IPNETWORK, KINDS, NETWORK, NETWORKINTERFACE, STORAGE, STORAGELINK, type AttributeDefinition, type Kind, type Mixin,
} from './occi-model.js';
import { MIB_PER_GIB } from './occi-entities.js';
import type { ResourceSize } from './occi-templates.js';
import { CLUSTER_ATTRIBUTE, zoneIdentifier } from './occi-zones.js';

/**
 * What a client's create, update or action asks of nubo, checked against the
 * model before anything is called: the kind must be the collection's, every
 * mixin known and applicable, every attribute defined for the kind or its
 * mixins, of its type, and one nubo takes. The result is the native API's
 * request; a refusal names the category or attribute and why.
 */

export type Collection = 'compute' | 'storage' | 'network' | 'storagelink' | 'networkinterface';
export const COLLECTION_KINDS: Readonly<Record<Collection, Kind>> = { compute: COMPUTE, storage: STORAGE, network: NETWORK, storagelink: STORAGELINK, networkinterface: NETWORKINTERFACE };

export interface TemplateMixins {
  /** os_tpl mixins by identifier, with the template name each stands for. */
  readonly osTpls: ReadonlyMap<string, { readonly mixin: Mixin; readonly template: string }>;
  /** resource_tpl mixins by identifier, with their size. */
  readonly resourceTpls: ReadonlyMap<string, { readonly mixin: Mixin; readonly size: ResourceSize }>;
  /** Every other mixin the model has, by identifier. */
  readonly others: ReadonlyMap<string, Mixin>;
  /** availability_zone mixins by identifier, with the cluster each stands for (occi-zones.ts). */
  readonly zones?: ReadonlyMap<string, { readonly mixin: Mixin; readonly cluster: string }> | undefined;
}

/** The one cluster a compute's availability_zone mixins ask for, if any. */
function zoneOf(mixins: readonly Mixin[], tpl: TemplateMixins): string | undefined {
  const zones = mixins.flatMap((m) => {
    const z = tpl.zones?.get(identifierOf(m));
    return z === undefined ? [] : [z.cluster];
  });
  if (zones.length > 1) throw badRequest(`at most one availability_zone mixin (a compute is placed in one cluster), ${zones.length} given`);
  return zones[0];
}

export type CreatePlan =
  | { readonly collection: 'compute'; readonly body: CreateVmBody }
  | { readonly collection: 'storage'; readonly body: { readonly name: string; readonly sizeMiB: number } }
  | { readonly collection: 'network'; readonly body: CreateNetworkBody }
  | { readonly collection: 'storagelink'; readonly vmId: string; readonly volumeId: string }
  | { readonly collection: 'networkinterface'; readonly vmId: string; readonly networkId: string };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const VOLUME_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A location the client sent (a path under the OCCI root, or a full URL) as its collection and id. */
export function parseLocation(location: string, base: string): { collection: string; id: string } | undefined {
  let path = location;
  if (/^https?:\/\//i.test(path)) {
    try {
      path = new URL(path).pathname;
    } catch {
      return undefined;
    }
  }
  if (!path.startsWith(`${base}/`)) return undefined;
  const parts = path.slice(base.length + 1).split('/');
  if (parts.length === 2 && ['compute', 'storage', 'network'].includes(parts[0]!) && parts[1] !== '') return { collection: parts[0]!, id: decodeURIComponent(parts[1]!) };
  if (parts.length === 3 && parts[0] === 'link' && ['storagelink', 'networkinterface'].includes(parts[1]!) && parts[2] !== '') return { collection: parts[1]!, id: decodeURIComponent(parts[2]!) };
  return undefined;
}

function expect(location: string | undefined, collection: string, base: string, what: string): string {
  if (location === undefined) throw badRequest(`${what} is required`, { attribute: what });
  const l = parseLocation(location, base);
  if (l?.collection !== collection) throw badRequest(`${what}: ${JSON.stringify(location)} is not a ${collection} location (${base}/${collection}/<id>)`, { attribute: what });
  return l.id;
}

/** The one kind among the categories, which must be the collection's; the rest are mixins, each known and applicable. */
function checkCategories(categories: readonly CategoryRef[], kind: Kind, tpl: TemplateMixins): Mixin[] {
  const kinds = categories.filter((c) => c.class === 'kind' || (c.class === undefined && KINDS.some((k) => identifierOf(k) === identifierOf(c))));
  if (kinds.length === 0) throw badRequest(`no kind given: the entity must name kind ${identifierOf(kind)}`);
  if (kinds.length > 1) throw badRequest(`${kinds.length} kinds given: an entity has one`);
  const k = identifierOf(kinds[0]!);
  if (!KINDS.some((x) => identifierOf(x) === k)) throw badRequest(`unknown kind ${k}`, { category: k });
  if (k !== identifierOf(kind)) throw badRequest(`kind ${k} cannot be created in the ${kind.term} collection (${kind.location})`, { category: k });
  const mixins: Mixin[] = [];
  for (const c of categories) {
    if (c === kinds[0]) continue;
    if (c.class === 'action') throw badRequest(`Category ${identifierOf(c)} is an action: an entity names a kind and mixins`, { category: identifierOf(c) });
    const id = identifierOf(c);
    const m = tpl.osTpls.get(id)?.mixin ?? tpl.resourceTpls.get(id)?.mixin ?? tpl.zones?.get(id)?.mixin ?? tpl.others.get(id);
    if (!m) throw badRequest(`unknown mixin ${id}`, { category: id });
    if (!m.applies.includes(k) && !m.applies.some((a) => a === identifierOf(kind))) throw badRequest(`mixin ${id} does not apply to kind ${k}`, { category: id });
    mixins.push(m);
  }
  return mixins;
}

/** Each attribute must be defined for the kind or a mixin, of its type; only `settable` ones may be given. */
function checkAttributes(attrs: Readonly<Record<string, AttributeValue>>, kind: Kind, mixins: readonly Mixin[], settable: readonly string[]): void {
  const defs = new Map<string, AttributeDefinition>([...attributesOfKind(kind), ...mixins.flatMap((m) => m.attributes)].map((d) => [d.name, d]));
  for (const [name, v] of Object.entries(attrs)) {
    const d = defs.get(name);
    if (!d) throw badRequest(`unknown attribute ${name}: kind ${kind.term}${mixins.length > 0 ? ' and its mixins define' : ' defines'} no such attribute`, { attribute: name });
    if (!settable.includes(name)) throw badRequest(`attribute ${name} cannot be set: nubo sets it`, { attribute: name });
    if (typeof v !== d.type) throw badRequest(`attribute ${name} must be a ${d.type}, not ${JSON.stringify(v)}`, { attribute: name });
    if (d.values !== undefined && !d.values.includes(String(v))) throw badRequest(`attribute ${name} must be one of ${d.values.join(', ')}`, { attribute: name });
  }
}

function wholeMiB(name: string, gib: number, min: number): number {
  const mib = gib * MIB_PER_GIB;
  if (!Number.isInteger(mib) || mib < min) throw badRequest(`attribute ${name} must be a whole number of MiB in GiB (e.g. 0.125 for 128 MiB), at least ${min} MiB; got ${gib}`, { attribute: name });
  return mib;
}

function title(attrs: Readonly<Record<string, AttributeValue>>, re: RegExp, rule: string, required: boolean): string | undefined {
  const t = attrs['occi.core.title'];
  if (t === undefined) {
    if (required) throw badRequest('attribute occi.core.title (the name) is required', { attribute: 'occi.core.title' });
    return undefined;
  }
  if (typeof t !== 'string' || !re.test(t)) throw badRequest(`attribute occi.core.title ${rule}`, { attribute: 'occi.core.title' });
  return t;
}

/** A compute's id chosen by the client (PUT at its location): a UUID, as nubo's own ids. */
export const CLIENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `occi.core.id`, when sent, must be the location's id. */
function checkSentId(a: Readonly<Record<string, AttributeValue>>, id: string): void {
  const sent = a['occi.core.id'];
  if (sent !== undefined && sent !== id) throw badRequest(`attribute occi.core.id ${JSON.stringify(sent)} is not the id of the location it is sent to (${id})`, { attribute: 'occi.core.id' });
}

/**
 * A create: POST to the kind's location (nubo chooses the id), or — a compute
 * only — PUT at `/compute/<id>` with `id` the client's (a UUID).
 */
export function planCreate(sent: SentEntity, collection: Collection, base: string, tpl: TemplateMixins, id?: string): CreatePlan {
  const kind = COLLECTION_KINDS[collection];
  const mixins = checkCategories(sent.categories, kind, tpl);
  const a = sent.attributes;
  if (id !== undefined && collection !== 'compute') throw badRequest(`only a compute is created at a location the client chooses; POST a ${collection} to ${base}${kind.location}`);
  switch (collection) {
    case 'compute': {
      if (id !== undefined) {
        if (!CLIENT_ID.test(id)) throw badRequest(`a compute's id is a UUID: ${JSON.stringify(id)} is not one (PUT at ${base}/compute/<uuid>, or POST to ${base}/compute/ and nubo chooses)`, { attribute: 'occi.core.id' });
        checkSentId(a, id);
      }
      checkAttributes(a, kind, mixins, ['occi.core.title', 'occi.core.summary', 'occi.compute.cores', 'occi.compute.memory', 'occi.compute.hostname', ...(id !== undefined ? ['occi.core.id'] : [])]);
      const os = mixins.filter((m) => tpl.osTpls.has(identifierOf(m)));
      if (os.length !== 1) throw badRequest(`a compute is created from exactly one os_tpl mixin (a template; see ${base}/-/), ${os.length} given`);
      const sizes = mixins.filter((m) => tpl.resourceTpls.has(identifierOf(m)));
      if (sizes.length > 1) throw badRequest(`at most one resource_tpl mixin, ${sizes.length} given`);
      const size = sizes[0] ? tpl.resourceTpls.get(identifierOf(sizes[0]))!.size : undefined;
      const name = title(a, NAME, 'must be 1-63 letters, digits and ._-, starting with a letter or digit', false);
      const cores = a['occi.compute.cores'];
      if (cores !== undefined && (!Number.isInteger(cores) || (cores as number) < 1 || (cores as number) > 64)) throw badRequest('attribute occi.compute.cores must be a whole number 1-64', { attribute: 'occi.compute.cores' });
      const memory = a['occi.compute.memory'] === undefined ? undefined : wholeMiB('occi.compute.memory', a['occi.compute.memory'] as number, 16);
      // A link's kind, when not given, follows its target: a storage is linked by a storagelink, a network by a networkinterface.
      const kindOf = (l: SentEntity['links'][number]): string | undefined => l.kind ?? (parseLocation(l.target ?? '', base)?.collection === 'storage' ? identifierOf(STORAGELINK) : identifierOf(NETWORKINTERFACE));
      const nics: { network: string }[] = [];
      const volumes: string[] = [];
      for (const [i, l] of sent.links.entries()) {
        const k = kindOf(l);
        if (k === identifierOf(STORAGELINK)) volumes.push(expect(l.target, 'storage', base, `link ${i} target`));
        else if (k === identifierOf(NETWORKINTERFACE)) nics.push({ network: expect(l.target, 'network', base, `link ${i} target`) });
        else throw badRequest(`link ${i}: a compute is created with networkinterface and storagelink links only, not ${k}`);
      }
      const vcpus = cores !== undefined ? (cores as number) : size?.vcpus;
      const memoryMiB = memory ?? size?.memoryMiB;
      const cluster = zoneOf(mixins, tpl);
      return {
        collection,
        body: {
          ...(id !== undefined ? { id: id.toLowerCase() } : {}),
          template: tpl.osTpls.get(identifierOf(os[0]!))!.template, ...(name !== undefined ? { name } : {}),
          ...(vcpus !== undefined ? { vcpus } : {}), ...(memoryMiB !== undefined ? { memoryMiB } : {}), ...(nics.length > 0 ? { nics } : {}),
          ...(cluster !== undefined ? { cluster } : {}), ...(volumes.length > 0 ? { volumes } : {}),
        },
      };
    }
    case 'storage': {
      checkAttributes(a, kind, mixins, ['occi.core.title', 'occi.core.summary', 'occi.storage.size']);
      if (sent.links.length > 0) throw badRequest('a storage is created without links (link it from a compute with a storagelink)');
      const name = title(a, VOLUME_NAME, 'must be 1-63 chars of a-z, 0-9 and - (a volume name)', true)!;
      const size = a['occi.storage.size'];
      if (size === undefined) throw badRequest('attribute occi.storage.size (GiB) is required', { attribute: 'occi.storage.size' });
      return { collection, body: { name, sizeMiB: wholeMiB('occi.storage.size', size as number, 1) } };
    }
    case 'network': {
      if (!mixins.includes(IPNETWORK)) throw badRequest(`a network is created with the ipnetwork mixin (${identifierOf(IPNETWORK)}) and its occi.network.address`);
      checkAttributes(a, kind, mixins, ['occi.core.title', 'occi.core.summary', 'occi.network.vlan', 'occi.network.address', 'occi.network.gateway', 'occi.network.allocation']);
      if (sent.links.length > 0) throw badRequest('a network is created without links');
      const name = title(a, NAME, 'must be 1-63 letters, digits and ._-, starting with a letter or digit', true)!;
      const cidr = a['occi.network.address'];
      if (cidr === undefined) throw badRequest('attribute occi.network.address (CIDR) is required', { attribute: 'occi.network.address' });
      if (a['occi.network.allocation'] === 'dynamic') throw badRequest('attribute occi.network.allocation: nubo leases addresses (static)', { attribute: 'occi.network.allocation' });
      const vlan = a['occi.network.vlan'];
      if (vlan !== undefined && (!Number.isInteger(vlan) || (vlan as number) < 1 || (vlan as number) > 4094)) throw badRequest('attribute occi.network.vlan must be 1-4094', { attribute: 'occi.network.vlan' });
      const gateway = a['occi.network.gateway'];
      return { collection, body: { name, cidr: cidr as string, ...(gateway !== undefined ? { gateway: gateway as string } : {}), ...(vlan !== undefined ? { vlan: vlan as number } : {}) } };
    }
    case 'storagelink':
    case 'networkinterface': {
      checkAttributes(a, kind, mixins, ['occi.core.title', 'occi.core.source', 'occi.core.target']);
      const source = sent.source ?? (a['occi.core.source'] as string | undefined);
      const target = sent.target ?? (a['occi.core.target'] as string | undefined);
      const vmId = expect(source, 'compute', base, 'occi.core.source');
      if (collection === 'storagelink') return { collection, vmId, volumeId: expect(target, 'storage', base, 'occi.core.target') };
      return { collection, vmId, networkId: expect(target, 'network', base, 'occi.core.target') };
    }
  }
}

/** A partial update (POST to a compute): its cores and memory, through a resize; nothing else of an entity changes in place. */
export function planComputeUpdate(sent: SentEntity, current: { vcpus: number; memoryMiB: number }): { vcpus: number; memoryMiB: number } {
  if (sent.links.length > 0) throw badRequest('links are changed by creating or deleting storagelinks and networkinterfaces, not by an update');
  for (const c of sent.categories) if (identifierOf(c) !== identifierOf(COMPUTE)) throw badRequest(`mixins cannot be changed on an existing compute (${identifierOf(c)})`, { category: identifierOf(c) });
  checkAttributes(sent.attributes, COMPUTE, [], ['occi.compute.cores', 'occi.compute.memory']);
  const cores = sent.attributes['occi.compute.cores'];
  const memory = sent.attributes['occi.compute.memory'];
  if (cores === undefined && memory === undefined) throw badRequest('an update of a compute changes occi.compute.cores and/or occi.compute.memory; neither given');
  if (cores !== undefined && (!Number.isInteger(cores) || (cores as number) < 1 || (cores as number) > 64)) throw badRequest('attribute occi.compute.cores must be a whole number 1-64', { attribute: 'occi.compute.cores' });
  return { vcpus: (cores as number | undefined) ?? current.vcpus, memoryMiB: memory === undefined ? current.memoryMiB : wholeMiB('occi.compute.memory', memory as number, 16) };
}

/**
 * A full replace (PUT at an existing compute's location, GFD.223): the sent
 * rendering must describe the compute as it is in what cannot change — its
 * kind, its os_tpl (the template it was made from), its title (nubo's name),
 * its id and its links (changed by creating and deleting links) — and may
 * give other cores and memory (a resource_tpl, or the attributes, which win),
 * carried out as a resize. Neither given: the size stays. Returns the new
 * size, or undefined when nothing changes (a retried PUT changes nothing).
 */
export function planComputeReplace(
  sent: SentEntity,
  current: {
    readonly id: string; readonly title: string; readonly osTpl: string | undefined; readonly vcpus: number; readonly memoryMiB: number;
    readonly links: readonly { readonly kind: string; readonly target: string }[];
    /** Its rendered attributes: nubo's own (its state …) may be sent back unchanged, as a GET rendered them. */
    readonly attributes?: Readonly<Record<string, AttributeValue>>;
  },
  base: string, tpl: TemplateMixins,
): { vcpus: number; memoryMiB: number } | undefined {
  const mixins = checkCategories(sent.categories, COMPUTE, tpl);
  const settable = ['occi.core.id', 'occi.core.title', 'occi.core.summary', 'occi.compute.cores', 'occi.compute.memory', 'occi.compute.hostname'];
  // A rendering fetched by GET and PUT back carries nubo's attributes: as they are they change nothing; changed, checkAttributes refuses them.
  const a = Object.fromEntries(Object.entries(sent.attributes).filter(([n, v]) => settable.includes(n) || current.attributes?.[n] !== v));
  checkSentId(a, current.id);
  checkAttributes(a, COMPUTE, mixins, settable);
  const os = mixins.filter((m) => tpl.osTpls.has(identifierOf(m)));
  if (os.length !== 1) throw badRequest(`a compute is described with exactly one os_tpl mixin (its template), ${os.length} given`);
  const conflict = (message: string, details: Record<string, unknown>): OcciError => new OcciError(409, message, details);
  if (identifierOf(os[0]!) !== current.osTpl) throw conflict(`the os_tpl of compute ${current.id} is ${current.osTpl ?? 'none'} and cannot change (${identifierOf(os[0]!)} given): delete it and create another`, { category: identifierOf(os[0]!) });
  const zone = zoneOf(mixins, tpl);
  const placedIn = current.attributes?.[CLUSTER_ATTRIBUTE];
  if (zone !== undefined && zone !== placedIn) {
    throw conflict(`compute ${current.id} is in availability zone ${typeof placedIn === 'string' ? placedIn : 'none'}; a replace does not move it to ${zone} (migrate it)`, { category: zoneIdentifier(zone) ?? zone });
  }
  const t = a['occi.core.title'];
  if (t !== undefined && t !== current.title) throw conflict(`the title of compute ${current.id} is ${JSON.stringify(current.title)} and cannot change`, { attribute: 'occi.core.title' });
  const h = a['occi.compute.hostname'];
  if (h !== undefined && h !== current.title) throw conflict(`the hostname of compute ${current.id} is ${JSON.stringify(current.title)} and cannot change`, { attribute: 'occi.compute.hostname' });
  const key = (l: { kind?: string; target: string }): string => `${l.kind ?? ''} ${parseLocation(l.target, base)?.id ?? l.target}`;
  const have = current.links.map(key).sort();
  // The text rendering's action references (`<…?action=stop>; rel=…#stop`) are Link lines too: not links of the compute.
  const links = sent.links.filter((l) => !l.target.includes('?action='));
  const want = links.map((l) => key({ kind: l.kind ?? (parseLocation(l.target, base)?.collection === 'storage' ? identifierOf(STORAGELINK) : identifierOf(NETWORKINTERFACE)), target: l.target })).sort();
  if (links.length > 0 && JSON.stringify(have) !== JSON.stringify(want)) {
    throw conflict(`the links of compute ${current.id} are changed by creating and deleting storagelinks and networkinterfaces, not by a replace (send its links as they are, or none)`, { member: 'links' });
  }
  const sizes = mixins.filter((m) => tpl.resourceTpls.has(identifierOf(m)));
  if (sizes.length > 1) throw badRequest(`at most one resource_tpl mixin, ${sizes.length} given`);
  const size = sizes[0] ? tpl.resourceTpls.get(identifierOf(sizes[0]))!.size : undefined;
  const cores = a['occi.compute.cores'];
  if (cores !== undefined && (!Number.isInteger(cores) || (cores as number) < 1 || (cores as number) > 64)) throw badRequest('attribute occi.compute.cores must be a whole number 1-64', { attribute: 'occi.compute.cores' });
  const memory = a['occi.compute.memory'] === undefined ? undefined : wholeMiB('occi.compute.memory', a['occi.compute.memory'] as number, 16);
  const vcpus = (cores as number | undefined) ?? size?.vcpus ?? current.vcpus;
  const memoryMiB = memory ?? size?.memoryMiB ?? current.memoryMiB;
  return vcpus === current.vcpus && memoryMiB === current.memoryMiB ? undefined : { vcpus, memoryMiB };
}

export type ActionPlan =
  | { readonly kind: 'vm-action'; readonly action: VmApiAction }
  | { readonly kind: 'migrate'; readonly to?: string };

/** The actions a kind has (the kind's `actions`, in the model's order). */
export const actionsOfKind = (kind: Kind): Action[] => ACTIONS.filter((a) => kind.actions.includes(identifierOf(a)));

/**
 * An action invocation checked against a kind: the `?action=` term must be one
 * of the kind's actions, the invocation's category (when it names one) that
 * same action, its attributes the action's own and of their types. An action
 * of the specification nubo has nothing to carry out with is refused with 501
 * naming it. Pure: nothing is done here.
 */
export function checkAction(kind: Kind, queryTerm: string, sent: SentAction): Action {
  const own = actionsOfKind(kind);
  const byTerm = own.find((a) => a.term === queryTerm);
  if (queryTerm === '') throw badRequest('?action= names no action', { action: queryTerm });
  if (!byTerm) throw badRequest(`unknown action ${JSON.stringify(queryTerm)}: a ${kind.term} has ${own.map((a) => a.term).join(', ')}`, { action: queryTerm });
  const action = sent.action === undefined ? byTerm : own.find((a) => identifierOf(a) === sent.action);
  if (!action) throw badRequest(`unknown action ${sent.action} for a ${kind.term}`, { action: sent.action });
  if (action !== byTerm) throw badRequest(`the invocation names ${identifierOf(action)} but the URL asks for ?action=${queryTerm}`, { action: sent.action });
  const defs = new Map(action.attributes.map((d) => [d.name, d]));
  for (const [name, v] of Object.entries(sent.attributes)) {
    const d = defs.get(name);
    if (!d) throw badRequest(`unknown attribute ${name} for action ${action.term}${defs.size > 0 ? ` (it takes ${[...defs.keys()].join(', ')})` : ' (it takes none)'}`, { attribute: name });
    if (typeof v !== d.type || (d.values !== undefined && !d.values.includes(String(v)))) throw badRequest(`attribute ${name} of ${action.term} must be ${d.values ? `one of ${d.values.join(', ')}` : `a ${d.type}`}`, { attribute: name });
  }
  if (UNSUPPORTED_ACTIONS.has(identifierOf(action))) {
    throw new OcciError(501, `action ${identifierOf(action)} (${action.term}) is not implemented by nubo: ${action.title}`, { action: identifierOf(action) });
  }
  return action;
}

/**
 * A compute action, checked (checkAction), as the native call for a VM in
 * `state` (a suspended VM is resumed by start).
 */
export function planComputeAction(queryTerm: string, sent: SentAction, state: string): ActionPlan {
  const action = checkAction(COMPUTE, queryTerm, sent);
  const method = sent.attributes.method as string | undefined;
  switch (action.term) {
    case 'start': return { kind: 'vm-action', action: state === 'suspended' ? 'resume' : 'start' };
    case 'stop': return { kind: 'vm-action', action: method === 'poweroff' ? 'poweroff-hard' : 'poweroff' };
    case 'restart': return { kind: 'vm-action', action: method === 'cold' ? 'reboot-hard' : 'reboot' };
    case 'suspend': return { kind: 'vm-action', action: 'suspend' };
    default: {
      const to = sent.attributes.host as string | undefined;
      return { kind: 'migrate', ...(to !== undefined ? { to } : {}) };
    }
  }
}
