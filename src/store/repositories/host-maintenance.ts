import type { HostMaintenanceState, HostsTable } from '../schema.js';
import { fromJson } from '../store-context.js';

/** What becomes of one VM of a host going into maintenance. */
export interface MaintenanceVm {
  readonly name: string;
  /** `live` or `cold`: migrated away that way; `leave`: stays (powered off or suspended, `--powered-off leave`). */
  readonly action: 'live' | 'cold' | 'leave';
  /** `queued`/`moving`: on its way; `moved`/`left`: done; `blocked`: cannot move (see `reason`); `failed`: its migration failed. */
  readonly status: 'queued' | 'moving' | 'moved' | 'left' | 'blocked' | 'failed';
  readonly migrationId?: string;
  readonly to?: string;
  readonly reason?: string;
  /** Migrations started for it by this maintenance (a failed one is tried once more). */
  readonly attempts?: number;
}

/** A host's maintenance: its options and the evacuation's journal, one entry per VM it had. */
export interface HostMaintenance {
  readonly state: HostMaintenanceState;
  /** What becomes of powered-off and suspended VMs: cold-migrated away, or left on the host. */
  readonly poweredOff: 'move' | 'leave';
  readonly since: string;
  readonly by: string;
  readonly vms: Readonly<Record<string, MaintenanceVm>>;
}

export function maintenanceOf(r: Pick<HostsTable, 'maintenance_state' | 'maintenance'>): HostMaintenance | null {
  if (r.maintenance_state === null || r.maintenance_state === undefined) return null;
  const doc = fromJson<Omit<HostMaintenance, 'state'> | null>(r.maintenance, null);
  return { poweredOff: 'move', since: '', by: '', vms: {}, ...doc, state: r.maintenance_state };
}
