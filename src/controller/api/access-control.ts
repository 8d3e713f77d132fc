import { decide, type AccessAction, type AccessDecision, type Actor, type ResourceFacts, type ResourceKind } from '../../core/access.js';
import type { Store } from '../../store/open-store.js';
import type { User } from '../../store/repositories/users-repository.js';
import { NotFoundError } from '../../store/store-errors.js';
import { ForbiddenError } from './forbidden-error.js';

/** A resource as the checks need it: its id, and its owner where the kind has one. */
export interface Checked {
  readonly id: string;
  readonly ownerId?: string | undefined;
}

const SHARED_KINDS = new Set<ResourceKind>(['image', 'template', 'network']);
const OWNED_KINDS = new Set<ResourceKind>(['vm', 'volume', 'migration', 'image', 'template', 'lease']);

/**
 * The one enforcement point: the facts a decision needs (the caller's groups,
 * the owner's role and groups, the resource's shares) gathered from the store
 * and handed to core/access.ts. Refusals are thrown here — NotFoundError when
 * the caller may not know the resource exists, ForbiddenError when they may —
 * so a route gets a resource through `check`/`filter` and cannot forget a rule.
 * One per request (lookups are cached for its life; a revoked membership
 * counts from the next request).
 */
export class Access {
  #actor: Promise<Actor> | undefined;
  readonly #owners = new Map<string, Promise<{ role: User['role'] | undefined; groups: string[] }>>();

  constructor(private readonly store: Store, readonly user: User) {}

  actor(): Promise<Actor> {
    this.#actor ??= this.store.groups.membershipsOf(this.user.id).then((ms) => ({
      id: this.user.id, role: this.user.role, memberships: ms.map((m) => ({ groupId: m.groupId, admin: m.admin })),
    }));
    return this.#actor;
  }

  get isAdmin(): boolean {
    return this.user.role === 'admin';
  }

  #owner(id: string): Promise<{ role: User['role'] | undefined; groups: string[] }> {
    let p = this.#owners.get(id);
    if (!p) {
      p = Promise.all([
        this.store.users.get(id).then((u) => u.role, () => undefined),
        this.store.groups.membershipsOf(id).then((ms) => ms.map((m) => m.groupId)),
      ]).then(([role, groups]) => ({ role, groups }));
      this.#owners.set(id, p);
    }
    return p;
  }

  /** What core/access needs to know of each item (shares read in one query for the batch). */
  async facts(kind: ResourceKind, items: readonly Checked[]): Promise<ResourceFacts[]> {
    const shares = SHARED_KINDS.has(kind) ? await this.store.shares.groupsOf(kind as 'image' | 'template' | 'network', items.map((i) => i.id)) : new Map<string, string[]>();
    return Promise.all(items.map(async (i): Promise<ResourceFacts> => {
      const ownerId = kind === 'user' || kind === 'user-quota' ? i.id : OWNED_KINDS.has(kind) ? i.ownerId : undefined;
      const owner = ownerId === undefined ? undefined : await this.#owner(ownerId);
      return {
        kind, ownerId, ownerRole: owner?.role, ownerGroups: owner?.groups, sharedWith: shares.get(i.id) ?? [],
        ...(kind === 'group' || kind === 'group-quota' ? { groupId: i.id } : {}),
      };
    }));
  }

  async decide(action: AccessAction, kind: ResourceKind, item: Checked): Promise<AccessDecision> {
    if (this.isAdmin) return 'allow';
    const [facts] = await this.facts(kind, [item]);
    return decide(await this.actor(), action, facts!);
  }

  /**
   * The item, when the caller may do `action` to it.
   * @throws NotFoundError (as if it did not exist) or ForbiddenError (`what` says what was refused)
   */
  async check<T extends Checked>(action: AccessAction, kind: ResourceKind, item: T, what = `${action} of ${kind} ${item.id}`): Promise<T> {
    const d = await this.decide(action, kind, item);
    if (d === 'hidden') throw new NotFoundError(kind, item.id);
    if (d === 'forbidden') throw new ForbiddenError(what, 'is not allowed to this user');
    return item;
  }

  /** The items the caller may do `action` to, in order. */
  async filter<T extends Checked>(action: AccessAction, kind: ResourceKind, items: readonly T[]): Promise<T[]> {
    if (this.isAdmin) return [...items];
    const actor = await this.actor();
    const facts = await this.facts(kind, items);
    return items.filter((_, i) => decide(actor, action, facts[i]!) === 'allow');
  }

  /** Whether the caller may make a new one of the kind. @throws ForbiddenError */
  async checkCreate(kind: ResourceKind, what: string): Promise<void> {
    if (decide(await this.actor(), 'create', { kind, collection: true }) !== 'allow') throw new ForbiddenError(what);
  }
}

/** Makes one Access per caller; what the routes, the catalog and the event audience share. */
export class AccessControl {
  constructor(private readonly store: Store) {}

  forUser(user: User): Access {
    return new Access(this.store, user);
  }
}
