/**
 * Tenancy's one rule: may this caller do this to that? Pure — the controller
 * gathers the facts (who owns the thing, which groups the owner is in, which
 * groups it is shared with) and asks here; every route and the event stream
 * get their answer from `decide`, so no route carries a rule of its own.
 */

export type AccessRole = 'admin' | 'user';

export interface Membership {
  readonly groupId: string;
  /** A group admin manages the group's members and sees (and acts on) their resources. */
  readonly admin: boolean;
}

/** Who asks. */
export interface Actor {
  readonly id: string;
  readonly role: AccessRole;
  readonly memberships: readonly Membership[];
}

export const RESOURCE_KINDS = ['vm', 'volume', 'migration', 'image', 'template', 'network', 'host', 'user', 'group', 'user-quota', 'group-quota', 'usage', 'lease'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/**
 * - read: see it (lists, show, its events, its console log)
 * - use: build on it (a VM from a template, a template from an image, a NIC on a network)
 * - operate: change it (VM actions, snapshots, NICs, console attach, token management of a user)
 * - delete: remove it
 * - share: grant a group read+use
 * - manage: admin-level changes (a group's members, a user's role, host and network changes, migrations)
 * - create: make a new one of the kind (the resource is the collection)
 */
export const ACCESS_ACTIONS = ['read', 'use', 'operate', 'delete', 'share', 'manage', 'create'] as const;
export type AccessAction = (typeof ACCESS_ACTIONS)[number];

/** What the controller knows about the resource; a collection (for `create`) has no owner. */
export interface ResourceFacts {
  readonly kind: ResourceKind;
  /** The owning user (for a user and a user's quota: the user itself). Absent for admin-held kinds (networks, hosts) and collections. */
  readonly ownerId?: string | undefined;
  /** The owner's role: what an admin owns without sharing it is the cloud's public catalog. */
  readonly ownerRole?: AccessRole | undefined;
  /** The groups the owner belongs to (a group admin's reach). */
  readonly ownerGroups?: readonly string[] | undefined;
  /** The groups it is shared with (images, templates, networks). */
  readonly sharedWith?: readonly string[] | undefined;
  /** For a group (and a group's quota): its id (members read it, its admins manage it). */
  readonly groupId?: string | undefined;
  /** True when the resource is the kind's collection (create, list). */
  readonly collection?: boolean | undefined;
}

/** How the actor stands to the resource. Admins are decided before any relation. */
export type Relation = 'owner' | 'group-admin' | 'shared' | 'catalog' | 'member' | 'anyone';

/**
 * What each relation allows, per kind. Absent means nothing. Admins may do
 * everything and are not in the table; `manage` and `create` of admin-held
 * kinds appear nowhere, so only admins have them.
 */
export const ACCESS_RULES: Readonly<Record<ResourceKind, Partial<Record<Relation, readonly AccessAction[]>>>> = {
  vm: { owner: ['read', 'operate', 'delete'], 'group-admin': ['read', 'operate', 'delete'], anyone: ['create'] },
  volume: { owner: ['read', 'use', 'operate', 'delete'], 'group-admin': ['read', 'operate', 'delete'], anyone: ['create'] },
  // A migration is read through its VM; starting and cancelling one is an operator's decision.
  migration: { owner: ['read'], 'group-admin': ['read'] },
  image: { owner: ['read', 'use', 'delete', 'share'], 'group-admin': ['read'], shared: ['read', 'use'], catalog: ['read', 'use'] },
  template: { owner: ['read', 'use', 'operate', 'delete', 'share'], 'group-admin': ['read'], shared: ['read', 'use'], catalog: ['read', 'use'], anyone: ['create'] },
  network: { shared: ['read', 'use'], catalog: ['read', 'use'] },
  // Every user sees the hosts (capacity, state); their agent addresses are trimmed by the view.
  host: { anyone: ['read'] },
  // A user reads their own account and manages its tokens and ssh keys, never its role.
  user: { owner: ['read', 'operate'], 'group-admin': ['read'] },
  group: { member: ['read'], 'group-admin': ['read', 'manage'] },
  // Limits are set by admins alone: no one raises their own, nor a group admin their group's.
  'user-quota': { owner: ['read'], 'group-admin': ['read'] },
  // Members read their group's limits and total (a refusal names them anyway), not each other's use.
  'group-quota': { member: ['read'], 'group-admin': ['read'] },
  // A showback report of one user (ownerId: that user) or of one group (groupId): the user and their group admins; a group's, its group admins — a plain member never reads what others spent.
  usage: { owner: ['read'], 'group-admin': ['read'] },
  // A capacity lease is its owner's, as a VM is: read and cancel (operate) by the owner and their group admins.
  lease: { owner: ['read', 'operate'], 'group-admin': ['read', 'operate'], anyone: ['create'] },
};

/** allow; forbidden (403: the caller may see it, not do this); hidden (404: the caller may not know it exists). */
export type AccessDecision = 'allow' | 'forbidden' | 'hidden';

/** The relations the actor has to the resource. */
export function relationsOf(actor: Actor, r: ResourceFacts): Relation[] {
  const out: Relation[] = ['anyone'];
  if (r.collection === true) return out;
  if (r.ownerId !== undefined && r.ownerId === actor.id) out.push('owner');
  const adminOf = new Set(actor.memberships.filter((m) => m.admin).map((m) => m.groupId));
  const memberOf = new Set(actor.memberships.map((m) => m.groupId));
  if (r.ownerId !== undefined && r.ownerId !== actor.id && (r.ownerGroups ?? []).some((g) => adminOf.has(g))) out.push('group-admin');
  if (r.groupId !== undefined) {
    if (memberOf.has(r.groupId)) out.push('member');
    if (adminOf.has(r.groupId)) out.push('group-admin');
  }
  const shared = r.sharedWith ?? [];
  if (shared.some((g) => memberOf.has(g))) out.push('shared');
  // Unshared, what admins hold (images, templates) or no one owns (networks) is everyone's; sharing narrows it to the groups.
  if (shared.length === 0 && (r.kind === 'network' || ((r.kind === 'image' || r.kind === 'template') && r.ownerRole === 'admin'))) out.push('catalog');
  return out;
}

/** The actions the actor may take on the resource. */
export function allowedActions(actor: Actor, r: ResourceFacts): Set<AccessAction> {
  if (actor.role === 'admin') return new Set(ACCESS_ACTIONS);
  const rules = ACCESS_RULES[r.kind];
  // `create` is asked of a collection only: holding one VM grants no right to make another.
  return new Set(relationsOf(actor, r).flatMap((rel) => rules[rel] ?? []).filter((a) => a !== 'create' || r.collection === true));
}

/**
 * May `actor` do `action` to `r`? A refusal of something the actor may not
 * even read is `hidden` (answered 404 — existence would leak); of something
 * they may read, or of a collection, `forbidden` (403).
 */
export function decide(actor: Actor, action: AccessAction, r: ResourceFacts): AccessDecision {
  const allowed = allowedActions(actor, r);
  if (allowed.has(action)) return 'allow';
  return r.collection === true || allowed.has('read') ? 'forbidden' : 'hidden';
}

export function can(actor: Actor, action: AccessAction, r: ResourceFacts): boolean {
  return decide(actor, action, r) === 'allow';
}
