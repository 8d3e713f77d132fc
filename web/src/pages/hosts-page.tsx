import { useState } from 'preact/hooks';
import type { Host, Vm } from '../api-types';
import { ApiError } from '../api-error';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { ErrorBanner } from '../components/error-banner';
import { HostCard } from '../components/host-card';
import { HostMetricsCharts } from '../components/host-metrics';
import { Link } from '../components/link';
import { MigrateConfirm, type MigrateRequest } from '../components/migrate-confirm';
import { MaintenanceConfirm } from '../components/maintenance-confirm';
import { takesVms } from '../host-takes-vms';
import { HostMaintenancePanel } from '../components/host-maintenance-panel';

/** The drag's payload type: only drags of a VM from this page are drops a host accepts. */
const VM_DRAG = 'application/x-nubo-vm';

/**
 * Hosts with their capacity, metrics and VMs; enable/disable and maintenance
 * for admins (the API refuses them to anyone else): Maintenance asks first,
 * then the host's card follows its evacuation live until it is in
 * maintenance, and Enable returns it to service. An admin moves a running VM by dragging it
 * onto another host, or without a mouse by "Move" on the VM and "Move here"
 * on the host: both open the same confirmation and pre-check as the
 * Migrate tab.
 */
export function HostsPage() {
  const { api, isAdmin } = useSession();
  const hosts = useLive((a, signal) => a.get<Host[]>('/hosts', signal), [], (e) => e.resource === 'host' || e.resource === 'vm');
  const vms = useLive((a, signal) => a.get<Vm[]>('/vms', signal), [], (e) => e.resource === 'vm');
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [picked, setPicked] = useState<Vm | null>(null);
  const [dropTarget, setDropTarget] = useState<string | null>(null);
  const [asking, setAsking] = useState<MigrateRequest | null>(null);
  const [started, setStarted] = useState('');
  const [maintaining, setMaintaining] = useState<Host | null>(null);
  const toggle = async (h: Host): Promise<void> => {
    setError(undefined);
    try {
      // Enabling a host in maintenance is what returns it to service (the API cancels what its evacuation still has queued).
      await api.post(`/hosts/${h.id}/${h.state === 'disabled' || h.maintenance !== null ? 'enable' : 'disable'}`);
      hosts.reload();
    } catch (err) {
      setError(err instanceof ApiError ? err : undefined);
    }
  };
  const movable = (v: Vm): boolean => isAdmin && v.state === 'running';
  const accepts = (h: Host, v: Vm | null): boolean => v !== null && takesVms(h) && v.host !== h.name;
  const vmsOn = (h: Host): Vm[] => (vms.data ?? []).filter((v) => v.host === h.name && v.state !== 'terminated');
  const drop = (h: Host, v: Vm): void => {
    setPicked(null);
    setDropTarget(null);
    setStarted('');
    setAsking({ vmId: v.id, vmName: v.name, from: v.host, to: h.name });
  };
  const vmById = (id: string): Vm | undefined => (vms.data ?? []).find((v) => v.id === id);
  return (
    <div onKeyDown={(e) => { if (e.key === 'Escape') setPicked(null); }}>
      <h1>Hosts</h1>
      <ErrorBanner error={hosts.error ?? vms.error ?? error} />
      {isAdmin && <p class="hint">Drag a running VM onto another host (or use Move, then Move here) to live-migrate it.</p>}
      {picked && <p role="status" class="notice">Moving {picked.name}: choose “Move here” on a host, or press Escape.</p>}
      {started !== '' && <p role="status" class="notice">{started} <Link href="/migrations">Migrations</Link></p>}
      <div class="cards">
        {(hosts.data ?? []).map((h) => (
          <div
            key={h.id}
            class={dropTarget === h.id ? 'drop-zone over' : 'drop-zone'}
            data-host={h.name}
            onDragOver={(e) => { if (e.dataTransfer?.types.includes(VM_DRAG) === true && takesVms(h)) { e.preventDefault(); setDropTarget(h.id); } }}
            onDragLeave={() => setDropTarget(null)}
            onDrop={(e) => {
              e.preventDefault();
              const v = vmById(e.dataTransfer?.getData(VM_DRAG) ?? '');
              setDropTarget(null);
              if (v && accepts(h, v)) drop(h, v);
            }}
          >
            <HostCard host={h}>
              {isAdmin && <HostMetricsCharts hostId={h.id} name={h.name} />}
              <ul class="host-vms" aria-label={`VMs on ${h.name}`}>
                {vmsOn(h).map((v) => (
                  <li
                    key={v.id}
                    data-vm={v.name}
                    draggable={movable(v)}
                    class={movable(v) ? 'draggable' : ''}
                    onDragStart={(e) => { e.dataTransfer?.setData(VM_DRAG, v.id); if (e.dataTransfer) e.dataTransfer.effectAllowed = 'move'; }}
                  >
                    <Link href={`/vms/${v.id}`}>{v.name}</Link> <span class="muted">{v.state}</span>
                    {movable(v) && <button type="button" class="small" aria-pressed={picked?.id === v.id} aria-label={`Move ${v.name}`} onClick={() => setPicked(picked?.id === v.id ? null : v)}>Move</button>}
                  </li>
                ))}
              </ul>
              <div class="actions">
                {isAdmin && <button type="button" onClick={() => void toggle(h)}>{h.state === 'disabled' || h.maintenance !== null ? 'Enable' : 'Disable'}</button>}
                {isAdmin && h.maintenance === null && <button type="button" onClick={() => { setError(undefined); setMaintaining(h); }}>Maintenance</button>}
                {picked && accepts(h, picked) && <button type="button" class="primary" onClick={() => drop(h, picked)}>Move {picked.name} here</button>}
              </div>
              {isAdmin && h.maintenance !== null && <HostMaintenancePanel host={h} />}
            </HostCard>
          </div>
        ))}
      </div>
      {maintaining && <MaintenanceConfirm host={maintaining} vms={vmsOn(maintaining)} onStarted={() => { setStarted(`${maintaining.name} is entering maintenance: its VMs migrate away.`); hosts.reload(); }} onClose={() => setMaintaining(null)} />}
      {asking && <MigrateConfirm request={asking} onStarted={() => setStarted(`Live migration of ${asking.vmName} to ${asking.to} started.`)} onClose={() => setAsking(null)} />}
    </div>
  );
}
