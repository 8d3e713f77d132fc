import { useState } from 'preact/hooks';
import type { Host, Vm } from '../api-types';
import { ApiError } from '../api-error';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { ErrorBanner } from '../components/error-banner';
import { HostCard } from '../components/host-card';
import { Link } from '../components/link';

/** Hosts with their capacity and VMs; enable/disable for admins (the API refuses it to anyone else). */
export function HostsPage() {
  const { api, isAdmin } = useSession();
  const hosts = useLive((a, signal) => a.get<Host[]>('/hosts', signal), [], (e) => e.resource === 'host' || e.resource === 'vm');
  const vms = useLive((a, signal) => a.get<Vm[]>('/vms', signal), [], (e) => e.resource === 'vm');
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const toggle = async (h: Host): Promise<void> => {
    setError(undefined);
    try {
      await api.post(`/hosts/${h.id}/${h.state === 'disabled' ? 'enable' : 'disable'}`);
      hosts.reload();
    } catch (err) {
      setError(err instanceof ApiError ? err : undefined);
    }
  };
  return (
    <div>
      <h1>Hosts</h1>
      <ErrorBanner error={hosts.error ?? vms.error ?? error} />
      <div class="cards">
        {(hosts.data ?? []).map((h) => (
          <HostCard key={h.id} host={h}>
            <ul class="host-vms" aria-label={`VMs on ${h.name}`}>
              {(vms.data ?? []).filter((v) => v.host === h.name && v.state !== 'terminated').map((v) => <li key={v.id}><Link href={`/vms/${v.id}`}>{v.name}</Link> <span class="muted">{v.state}</span></li>)}
            </ul>
            {isAdmin && <button type="button" onClick={() => void toggle(h)}>{h.state === 'disabled' ? 'Enable' : 'Disable'}</button>}
          </HostCard>
        ))}
      </div>
    </div>
  );
}
