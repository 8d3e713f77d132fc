import { useState } from 'preact/hooks';
import type { Network, VmDetail, Volume } from '../api-types';
import { ApiError } from '../api-error';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { ErrorBanner } from '../components/error-banner';

/** The VM's volumes and NICs, each attached and detached through the API (which says when the VM's state forbids it). */
export function VmDevicesTab({ vm, onChange }: { vm: VmDetail; onChange: () => void }) {
  const { api } = useSession();
  const volumes = useLive((a, signal) => a.get<Volume[]>('/volumes', signal), [], (e) => e.resource === 'volume' || e.resourceId === vm.id);
  const networks = useLive((a, signal) => a.get<Network[]>('/networks', signal), [], (e) => e.resource === 'network');
  const [volume, setVolume] = useState('');
  const [network, setNetwork] = useState('');
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const run = async (f: () => Promise<unknown>): Promise<void> => {
    setError(undefined);
    try {
      await f();
      volumes.reload();
      onChange();
    } catch (err) {
      setError(err instanceof ApiError ? err : undefined);
    }
  };
  const mine = (volumes.data ?? []).filter((v) => v.vm === vm.id);
  const free = (volumes.data ?? []).filter((v) => v.vm === null);
  return (
    <div>
      <ErrorBanner error={volumes.error ?? networks.error ?? error} />
      <h2>Volumes</h2>
      <table class="list" aria-label="Attached volumes">
        <thead><tr><th>Name</th><th>Size</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>{mine.map((v) => (
          <tr key={v.id}><td>{v.name}</td><td>{v.sizeMiB} MiB</td>
            <td><button type="button" onClick={() => void run(() => api.delete(`/vms/${vm.id}/volumes/${v.id}`))}>Detach</button></td></tr>
        ))}</tbody>
      </table>
      <form class="inline" aria-label="Attach a volume" onSubmit={(e) => { e.preventDefault(); void run(() => api.post(`/vms/${vm.id}/volumes`, { volume })); }}>
        <label>Volume <select value={volume} onChange={(e) => setVolume((e.currentTarget).value)}>
          <option value="">choose…</option>
          {free.map((v) => <option key={v.id} value={v.id}>{v.name} ({v.sizeMiB} MiB)</option>)}
        </select></label>
        <button type="submit" disabled={volume === ''}>Attach</button>
      </form>
      <h2>NICs</h2>
      <table class="list" aria-label="NICs">
        <thead><tr><th>#</th><th>Network</th><th>Address</th><th>MAC</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>{vm.nics.map((n) => (
          <tr key={n.index}><td>{n.index}</td><td>{n.network ?? '—'}</td><td>{n.address ?? '—'}</td><td><code>{n.mac}</code></td>
            <td><button type="button" onClick={() => void run(() => api.delete(`/vms/${vm.id}/nics/${n.index}`))}>Detach</button></td></tr>
        ))}</tbody>
      </table>
      <form class="inline" aria-label="Attach a NIC" onSubmit={(e) => { e.preventDefault(); void run(() => api.post(`/vms/${vm.id}/nics`, { network })); }}>
        <label>Network <select value={network} onChange={(e) => setNetwork((e.currentTarget).value)}>
          <option value="">choose…</option>
          {(networks.data ?? []).map((n) => <option key={n.id} value={n.name}>{n.name} ({n.cidr})</option>)}
        </select></label>
        <button type="submit" disabled={network === ''}>Attach NIC</button>
      </form>
    </div>
  );
}
