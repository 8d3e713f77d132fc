import type { Store } from '../store/open-store.js';
import type { StoreEvent } from '../store/repositories/events-repository.js';
import type { User } from '../store/repositories/users-repository.js';
import type { Catalog } from './catalog.js';

/**
 * Who may read an event, decided per resource kind. Admins read every event.
 * A plain user reads those about their own VMs (and their migrations) and
 * volumes, and about the images they may see (their own and the shared
 * catalog, as Catalog.visibleTo says). Host events (agent addresses, the
 * cloud's inventory) and anything of a kind not listed here are admins' only:
 * a new event kind stays private until someone decides otherwise.
 */
export class EventAudience {
  constructor(private readonly store: Store, private readonly catalog: Catalog) {}

  /** The events of `events` that `user` may read, in order. Lookups are cached for the batch. */
  async filter(user: User, events: readonly StoreEvent[]): Promise<StoreEvent[]> {
    if (user.role === 'admin') return [...events];
    const vmOwners = new Map<string, Promise<string | undefined>>();
    const vmOwner = (id: string): Promise<string | undefined> => {
      let p = vmOwners.get(id);
      if (!p) vmOwners.set(id, (p = this.store.vms.get(id).then((v) => v.ownerId, () => undefined)));
      return p;
    };
    const images = new Map<string, Promise<boolean>>();
    const imageVisible = (id: string): Promise<boolean> => {
      let p = images.get(id);
      if (!p) {
        p = this.store.images.get(id).then(async (img) => (await this.catalog.visibleTo(user, [img])).length > 0, () => false);
        images.set(id, p);
      }
      return p;
    };
    const visible = async (e: StoreEvent): Promise<boolean> => {
      switch (e.resource) {
        case 'vm':
          return (await vmOwner(e.resourceId)) === user.id;
        case 'migration':
          return typeof e.data['vmId'] === 'string' && (await vmOwner(e.data['vmId'])) === user.id;
        case 'volume': {
          // A deleted volume's row is gone; its last event carries the owner.
          const owner = await this.store.volumes.get(e.resourceId).then((v) => v.ownerId, () => e.data['ownerId']);
          return owner === user.id;
        }
        case 'image':
          return imageVisible(e.resourceId);
        default:
          return false;
      }
    };
    const keep = await Promise.all(events.map(visible));
    return events.filter((_, i) => keep[i]);
  }
}
