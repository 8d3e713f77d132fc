import { useState } from 'preact/hooks';
import type { Snapshot, VmDetail } from '../api-types';
import { ApiError } from '../api-error';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { ErrorBanner } from '../components/error-banner';
import { ConfirmDialog, type ConfirmRequest } from '../components/confirm-dialog';

/** The VM's snapshots: take one, revert to one (asks: the disk's later changes are lost), delete one (asks). */
export function VmSnapshotsTab({ vm }: { vm: VmDetail }) {
  const { api } = useSession();
  const snaps = useLive((a, signal) => a.get<Snapshot[]>(`/vms/${vm.id}/snapshots`, signal), [vm.id], (e) => e.resourceId === vm.id);
  const [name, setName] = useState('');
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const run = async (f: () => Promise<unknown>): Promise<void> => {
    setError(undefined);
    try {
      await f();
      snaps.reload();
    } catch (err) {
      setError(err instanceof ApiError ? err : undefined);
    }
  };
  const enc = encodeURIComponent;
  return (
    <div>
      <ErrorBanner error={snaps.error ?? error} />
      <form class="inline" aria-label="Take a snapshot" onSubmit={(e) => { e.preventDefault(); void run(() => api.post(`/vms/${vm.id}/snapshots`, name.trim() === '' ? {} : { name: name.trim() })).then(() => setName('')); }}>
        <label>Name <input value={name} onInput={(e) => setName((e.currentTarget).value)} placeholder="e.g. before-upgrade" required aria-invalid={error?.field === "name"} /></label>
        <button type="submit">Take snapshot</button>
      </form>
      <table class="list" aria-label="Snapshots">
        <thead><tr><th>Name</th><th>Taken</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>{(snaps.data ?? []).map((s) => (
          <tr key={s.name}>
            <td>{s.name}</td><td>{new Date(s.createdAt).toLocaleString()}</td>
            <td>
              <button type="button" onClick={() => setConfirm({ title: `Revert ${vm.name} to ${s.name}?`, message: 'Changes to the disk since the snapshot are lost.', confirmLabel: 'Revert', onConfirm: () => void run(() => api.post(`/vms/${vm.id}/snapshots/${enc(s.name)}/revert`)) })}>Revert</button>
              <button type="button" class="danger" onClick={() => setConfirm({ title: `Delete snapshot ${s.name}?`, message: 'The snapshot is gone for good.', confirmLabel: 'Delete', onConfirm: () => void run(() => api.delete(`/vms/${vm.id}/snapshots/${enc(s.name)}`)) })}>Delete</button>
            </td>
          </tr>
        ))}</tbody>
      </table>
      {snaps.data?.length === 0 && <p class="muted">No snapshots.</p>}
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </div>
  );
}
