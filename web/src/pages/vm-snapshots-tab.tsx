import { useState } from 'preact/hooks';
import type { Snapshot, VmDetail } from '../api-types';
import { ApiError } from '../api-error';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { ErrorBanner } from '../components/error-banner';
import { ConfirmDialog, type ConfirmRequest } from '../components/confirm-dialog';

/**
 * The VM's snapshots: take one, revert to one (asks: the disk's later
 * changes are lost; the API takes it only from a powered-off VM and its
 * refusal says so), delete one (asks). What was done is said once it is.
 */
/** Where the API reads a VM's snapshots (src/core/snapshot-states.ts): its disk is on a host and no start or stop is changing it. */
const LISTED_IN: readonly string[] = ['running', 'poweroff', 'suspended'];

export function VmSnapshotsTab({ vm }: { vm: VmDetail }) {
  const { api } = useSession();
  const listed = LISTED_IN.includes(vm.state);
  // Asked again when the VM's state changes (as the page learns it) or its snapshots do — never in between (booting, shutting down …),
  // where the API would only answer 409 until the VM settles.
  const snaps = useLive((a, signal) => (listed ? a.get<Snapshot[]>(`/vms/${vm.id}/snapshots`, signal) : Promise.resolve(undefined)), [vm.id, vm.state],
    (e) => e.kind === 'vm.snapshot' && e.resourceId === vm.id);
  const [name, setName] = useState('');
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [done, setDone] = useState('');
  const run = async (f: () => Promise<unknown>, said = ''): Promise<void> => {
    setError(undefined);
    setDone('');
    try {
      await f();
      setDone(said);
      snaps.reload();
    } catch (err) {
      setError(err instanceof ApiError ? err : undefined);
    }
  };
  const enc = encodeURIComponent;
  return (
    <div>
      <ErrorBanner error={snaps.error ?? error} />
      {done !== '' && <p role="status" class="notice">{done}</p>}
      <form class="inline" aria-label="Take a snapshot" onSubmit={(e) => { e.preventDefault(); void run(() => api.post(`/vms/${vm.id}/snapshots`, name.trim() === '' ? {} : { name: name.trim() })).then(() => setName('')); }}>
        <label>Name <input value={name} onInput={(e) => setName((e.currentTarget).value)} placeholder="e.g. before-upgrade" required aria-invalid={error?.field === "name"} /></label>
        <button type="submit">Take snapshot</button>
      </form>
      <table class="list" aria-label="Snapshots">
        <thead><tr><th>Name</th><th>Taken</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>{(listed ? snaps.data ?? [] : []).map((s) => (
          <tr key={s.name}>
            <td>{s.name}</td><td>{new Date(s.createdAt).toLocaleString()}</td>
            <td>
              <button type="button" onClick={() => setConfirm({ title: `Revert ${vm.name} to ${s.name}?`, message: 'Changes to the disk since the snapshot are lost.', confirmLabel: 'Revert', onConfirm: () => void run(() => api.post(`/vms/${vm.id}/snapshots/${enc(s.name)}/revert`), `Reverted ${vm.name}'s disk to ${s.name}: the VM boots from it at its next start.`) })}>Revert</button>
              <button type="button" class="danger" onClick={() => setConfirm({ title: `Delete snapshot ${s.name}?`, message: 'The snapshot is gone for good.', confirmLabel: 'Delete', onConfirm: () => void run(() => api.delete(`/vms/${vm.id}/snapshots/${enc(s.name)}`), `Deleted snapshot ${s.name}.`) })}>Delete</button>
            </td>
          </tr>
        ))}</tbody>
      </table>
      {!listed && <p class="muted">The snapshots are listed when {vm.name} is running, powered off or suspended (it is {vm.state}).</p>}
      {listed && snaps.data?.length === 0 && <p class="muted">No snapshots.</p>}
      {listed && vm.state !== 'poweroff' && (snaps.data?.length ?? 0) > 0 && <p class="hint">A revert needs the VM powered off.</p>}
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </div>
  );
}
