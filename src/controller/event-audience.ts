import type { ResourceKind } from '../core/access.js';
import type { Store } from '../store/open-store.js';
import type { StoreEvent } from '../store/repositories/events-repository.js';
import type { User } from '../store/repositories/users-repository.js';
import type { Catalog } from './catalog.js';
import type { Checked } from './api/access-control.js';

/**
 * Who may read an event: whoever may read the resource it is about, as
 * core/access.ts decides (through Catalog.access) — admins all; a user their
 * own VMs (with their migrations), volumes and the images they may see (their
 * own, the public catalog, those shared with their groups); a group admin
 * also the group's members' VMs, migrations and volumes. Host events (agent
 * addresses, the cloud's inventory) and anything of a kind not listed here
 * are admins' only: a new event kind stays private until someone decides
 * otherwise.
 */
export class EventAudience {
  constructor(private readonly store: Store, private readonly catalog: Catalog) {}

  /** The events of `events` that `user` may read, in order. Lookups are cached for the batch. */
  async filter(user: User, events: readonly StoreEvent[]): Promise<StoreEvent[]> {
    if (user.role === 'admin') return [...events];
    const access = this.catalog.access.forUser(user);
    const cache = new Map<string, Promise<boolean>>();
    const readable = (kind: ResourceKind, id: string, lookup: () => Promise<Checked | undefined>, variant = ''): Promise<boolean> => {
      const key = `${kind}:${id}:${variant}`;
      let p = cache.get(key);
      if (!p) cache.set(key, (p = lookup().then(async (r) => r !== undefined && (await access.decide('read', kind, r)) === 'allow')));
      return p;
    };
    const vm = (id: string): Promise<boolean> => readable('vm', id, () => this.store.vms.get(id).catch(() => undefined));
    const visible = async (e: StoreEvent): Promise<boolean> => {
      switch (e.resource) {
        case 'vm':
          return vm(e.resourceId);
        case 'migration':
          return typeof e.data['vmId'] === 'string' && vm(e.data['vmId']);
        case 'volume':
          // A deleted volume's row is gone; its last event carries the owner.
          return readable('volume', e.resourceId, () => this.store.volumes.get(e.resourceId).catch(() =>
            typeof e.data['ownerId'] === 'string' ? { id: e.resourceId, ownerId: e.data['ownerId'] } : undefined), JSON.stringify(e.data['ownerId'] ?? null));
        case 'image':
          return readable('image', e.resourceId, () => this.store.images.get(e.resourceId).catch(() => undefined));
        case 'lease':
          // Every lease event carries its owner.
          return typeof e.data['ownerId'] === 'string' && readable('lease', e.resourceId, async () => ({ id: e.resourceId, ownerId: e.data['ownerId'] as string }));
        default:
          return false;
      }
    };
    const keep = await Promise.all(events.map(visible));
    return events.filter((_, i) => keep[i]);
  }
}
