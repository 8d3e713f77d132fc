import { z } from 'zod';
import type { HostMaintenanceState } from '../schema.js';
import { appendEvent, inTransaction, toJson, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError } from '../store-errors.js';
import { validateInput } from '../validate-input.js';
import { maintenanceOf, type HostMaintenance, type MaintenanceVm } from './host-maintenance.js';
import { toHost, type Host } from './hosts-repository.js';

const beginSchema = z.object({ poweredOff: z.enum(['move', 'leave']), by: z.string().min(1).max(128) });

/**
 * A host's maintenance (0011): `begin` journals the decision (the host then
 * takes no new VMs), `recordVm` each VM's fate as the evacuation goes,
 * `finish` marks it done, `end` returns the host to service. Each change is
 * a `host.maintenance` event.
 */
export class HostMaintenanceRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** ConflictError (409) when the host is in maintenance already, naming which stage. */
  async begin(hostId: string, opts: { poweredOff: 'move' | 'leave'; by: string }, vms: Readonly<Record<string, MaintenanceVm>>): Promise<Host> {
    const v = validateInput('maintenance', beginSchema, opts);
    return this.#change(hostId, (cur) => {
      if (cur !== null) throw new ConflictError('host', 'id', hostId, cur.state === 'evacuating' ? 'is already being evacuated for maintenance' : 'is already in maintenance');
      return { state: 'evacuating', poweredOff: v.poweredOff, by: v.by, since: this.ctx.now(), vms };
    }, { to: 'evacuating', poweredOff: v.poweredOff });
  }

  /** Records what became of one VM (merged into the report). */
  async recordVm(hostId: string, vmId: string, entry: MaintenanceVm): Promise<Host> {
    return this.#change(hostId, (cur) => {
      if (cur === null) throw new ConflictError('host', 'id', hostId, 'is not in maintenance');
      return { ...cur, vms: { ...cur.vms, [vmId]: entry } };
    }, { vmId, ...entry });
  }

  async finish(hostId: string): Promise<Host> {
    return this.#change(hostId, (cur) => {
      if (cur === null) throw new ConflictError('host', 'id', hostId, 'is not in maintenance');
      return { ...cur, state: 'maintenance' };
    }, { to: 'maintenance' });
  }

  /** Back in service; ConflictError (409) when the host was not in maintenance. */
  async end(hostId: string): Promise<Host> {
    return this.#change(hostId, (cur) => {
      if (cur === null) throw new ConflictError('host', 'id', hostId, 'is not in maintenance');
      return null;
    }, { to: null });
  }

  /** Hosts whose evacuation has not finished: a restarted controller continues them. */
  async listEvacuating(): Promise<Host[]> {
    const rows = await this.ctx.db.selectFrom('hosts').selectAll().where('maintenance_state', '=', 'evacuating').orderBy('name').execute();
    return rows.map(toHost);
  }

  async #change(hostId: string, next: (cur: HostMaintenance | null) => HostMaintenance | null, data: Record<string, unknown>): Promise<Host> {
    return inTransaction(this.ctx, async (trx) => {
      const row = await trx.selectFrom('hosts').selectAll().where('id', '=', hostId).$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
      if (!row) throw new NotFoundError('host', hostId);
      const m = next(maintenanceOf(row));
      const state: HostMaintenanceState | null = m === null ? null : m.state;
      const doc = m === null ? null : (({ state: _s, ...rest }) => toJson(rest))(m);
      const updated = await trx.updateTable('hosts').set({ maintenance_state: state, maintenance: doc }).where('id', '=', hostId).returningAll().executeTakeFirstOrThrow();
      await appendEvent(this.ctx, trx, { kind: 'host.maintenance', resource: 'host', resourceId: hostId, data: JSON.parse(toJson(data)) as Record<string, never> });
      return toHost(updated);
    });
  }
}
