import type { Host, HostMaintenance } from '../api-types';
import { useLive } from '../use-live';
import { ErrorBanner } from './error-banner';
import { Link } from './link';
import { StateBadge } from './state-badge';

type MaintenanceVm = HostMaintenance['vms'][number];

/** A VM's evacuation done for good: moved away, or left on the host on purpose. */
const settled = (v: MaintenanceVm): boolean => v.status === 'moved' || v.status === 'left';

/** What became of the VM, as the operator needs it: where it went, or why it cannot go. */
function outcome(v: MaintenanceVm): string {
  if (v.status === 'moved') return v.to !== null ? `to ${v.to}` : 'moved';
  return v.reason ?? '';
}

/** The headline of each state: what the host is doing and what, if anything, the operator has to do. */
function headline(m: HostMaintenance): string {
  const stuck = m.vms.filter((v) => v.status === 'blocked' || v.status === 'failed').length;
  switch (m.state) {
    case 'evacuating': return `Entering maintenance: ${m.vms.filter(settled).length} of ${m.vms.length} VMs done.`;
    // Blocked VMs are tried again every second: room may appear, or the operator moves, powers off or terminates them.
    case 'blocked': return `Entering maintenance is blocked: ${stuck} ${stuck === 1 ? 'VM cannot' : 'VMs cannot'} move. Make room elsewhere, move, power off or terminate ${stuck === 1 ? 'it' : 'them'}, or Enable the host to give up.`;
    case 'maintenance': return `In maintenance since ${m.since !== null ? new Date(m.since).toLocaleString() : '?'}${m.by !== null ? ` (by ${m.by})` : ''}: no VM runs here. Enable returns it to service.`;
    default: return 'In service.';
  }
}

/**
 * A host's maintenance as it happens (admins: the API answers 403 to anyone
 * else): the state, how many VMs are done, and each VM's fate — moving
 * (with its migration), moved and where, or blocked and why. Loaded again
 * on each of the host's `host.maintenance` events and each migration event,
 * so it follows the evacuation live.
 */
export function HostMaintenancePanel({ host }: { host: Host }) {
  const m = useLive((a, signal) => a.get<HostMaintenance>(`/hosts/${host.id}/maintenance`, signal), [host.id, host.maintenance],
    (e) => (e.resource === 'host' && e.resourceId === host.id) || e.resource === 'migration');
  const d = m.data;
  return (
    <section class="maintenance" aria-label={`Maintenance of ${host.name}`}>
      <ErrorBanner error={m.error} />
      {d && (
        <>
          <h4>Maintenance <StateBadge state={d.state} /></h4>
          <p role="status" data-testid="maintenance-status">{headline(d)}</p>
          {d.vms.length > 0 && d.state !== 'maintenance' && (
            <progress max={d.vms.length} value={d.vms.filter(settled).length} aria-label={`VMs done: ${d.vms.filter(settled).length} of ${d.vms.length}`} />
          )}
          {d.vms.length > 0 && (
            <table class="list" aria-label={`Evacuation of ${host.name}`}>
              <thead><tr><th>VM</th><th>How</th><th>Status</th><th>Where / why</th></tr></thead>
              <tbody>{d.vms.map((v) => (
                <tr key={v.vmId} data-vm={v.name}>
                  <td><Link href={`/vms/${v.vmId}`}>{v.name}</Link></td>
                  <td>{v.action}</td>
                  <td><StateBadge state={v.status} /></td>
                  <td>{outcome(v)}{v.status === 'moving' && <> <Link href="/migrations">migration</Link></>}</td>
                </tr>
              ))}</tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
