import { useState } from 'preact/hooks';
import type { Volume } from '../api-types';
import { ApiError } from '../api-error';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { ErrorBanner } from '../components/error-banner';
import { ConfirmDialog, type ConfirmRequest } from '../components/confirm-dialog';

/** The caller's volumes: create one, delete one (asks first). Attaching is on the VM's page. */
export function VolumesPage() {
  const { api } = useSession();
  const vols = useLive((a, signal) => a.get<Volume[]>('/volumes', signal), [], (e) => e.resource === 'volume' || e.resource === 'vm');
  const [name, setName] = useState('');
  const [size, setSize] = useState('1024');
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const run = async (f: () => Promise<unknown>): Promise<boolean> => {
    setError(undefined);
    try {
      await f();
      vols.reload();
      return true;
    } catch (err) {
      setError(err instanceof ApiError ? err : undefined);
      return false;
    }
  };
  return (
    <div>
      <h1>Volumes</h1>
      <ErrorBanner error={vols.error ?? error} />
      <form class="inline" aria-label="Create a volume" onSubmit={(e) => { e.preventDefault(); void run(() => api.post('/volumes', { name: name.trim(), sizeMiB: Number(size) })).then((ok) => ok && setName('')); }}>
        <label>Name <input value={name} required onInput={(e) => setName((e.currentTarget).value)} aria-invalid={error?.field === 'name'} /></label>
        <label>Size (MiB) <input type="number" min={1} value={size} onInput={(e) => setSize((e.currentTarget).value)} aria-invalid={error?.field === 'sizeMiB'} /></label>
        <button type="submit">Create volume</button>
      </form>
      <table class="list" aria-label="Volumes">
        <thead><tr><th>Name</th><th>Size</th><th>State</th><th>VM</th><th>Host</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>{(vols.data ?? []).map((v) => (
          <tr key={v.id}><td>{v.name}</td><td>{v.sizeMiB} MiB</td><td>{v.state}</td><td>{v.vmName ?? '—'}</td><td>{v.host ?? '—'}</td>
            <td><button type="button" class="danger" onClick={() => setConfirm({ title: `Delete volume ${v.name}?`, message: 'Its data is deleted for good.', confirmLabel: 'Delete', onConfirm: () => void run(() => api.delete(`/volumes/${v.id}`)) })}>Delete</button></td></tr>
        ))}</tbody>
      </table>
      {vols.data?.length === 0 && <p class="muted">No volumes.</p>}
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </div>
  );
}
