import { useState } from 'preact/hooks';
import type { CapacityLeaseDetail } from '../api-types';
import { ApiError } from '../api-error';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { ErrorBanner } from '../components/error-banner';
import { Link } from '../components/link';
import { StateBadge } from '../components/state-badge';
import { ConfirmDialog, type ConfirmRequest } from '../components/confirm-dialog';
import { leaseWindow } from './leases-page';

const FINAL = new Set(['rejected', 'done', 'cancelled', 'failed']);
/** The API refuses a cancel in these (LEASE_STATE): the button says so rather than offering it. */
const BUSY = new Set(['suspending', 'resuming']);

/** A timeline entry's detail as short text: its state and reason first, the rest as key=value. */
function detailText(d: Record<string, unknown>): string {
  const parts: string[] = [];
  if (typeof d['reason'] === 'string') parts.push(d['reason']);
  for (const [k, v] of Object.entries(d)) {
    if (k === 'reason' || k === 'state' || k === 'ownerId') continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') parts.push(`${k}=${String(v)}`);
  }
  return parts.join(', ');
}

/** One lease: what was asked, its plan, the VMs it made (linked), its timeline of states with reasons, and Cancel. */
export function LeasePage({ id }: { id: string }) {
  const { api } = useSession();
  const lease = useLive((a, signal) => a.get<CapacityLeaseDetail>(`/leases/${encodeURIComponent(id)}`, signal), [id], (e) => e.resource === 'lease');
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const l = lease.data;

  const cancel = async (): Promise<void> => {
    try {
      await api.post(`/leases/${encodeURIComponent(l!.id)}/cancel`);
      setError(undefined);
    } catch (err) {
      setError(err instanceof ApiError ? err : undefined);
    }
    lease.reload();
  };

  return (
    <div>
      <p><Link href="/leases">← Leases</Link></p>
      <h1>Lease {l?.id.slice(0, 8) ?? id}</h1>
      <ErrorBanner error={lease.error ?? error} />
      {l && (
        <>
          <div class="actions">
            {!FINAL.has(l.state) && (
              <button type="button" class="danger" disabled={BUSY.has(l.state)} title={BUSY.has(l.state) ? `not while ${l.state}` : undefined}
                onClick={() => setConfirm({ title: `Cancel lease ${l.id.slice(0, 8)}?`, message: `Its bookings are freed and its ${l.vms.length} VMs terminated.`, confirmLabel: 'Cancel lease', onConfirm: () => void cancel() })}>
                Cancel lease…
              </button>
            )}
          </div>
          <dl class="summary" data-testid="lease-summary">
            <dt>State</dt><dd><StateBadge state={l.state} />{l.reason !== null ? ` — ${l.reason}` : ''}{l.pendingStep !== null ? ` (step under way: ${l.pendingStep})` : ''}</dd>
            <dt>Kind</dt><dd>{l.type}{l.preemptible ? ', preemptible' : ''}</dd>
            <dt>Owner</dt><dd>{l.owner}</dd>
            <dt>Window</dt><dd>{leaseWindow(l)}</dd>
            <dt>Still owed</dt><dd>{Math.round(l.remainingS / 60)} of {Math.round(l.durationS / 60)} min</dd>
            <dt>VMs asked</dt><dd>{l.count} × {l.template}, {l.vcpus} vCPU, {l.memoryMiB} MiB each</dd>
            <dt>Placed on</dt><dd>{l.plan.placements.length === 0 ? '—' : l.plan.placements.map((p) => `${p.host} (${p.vms})`).join(', ')}</dd>
            {l.plan.suspendedOn !== null && <><dt>Suspended on</dt><dd>{l.plan.suspendedOn.map((p) => `${p.host} (${p.vms})`).join(', ')}</dd></>}
          </dl>
          <h2>Planned steps</h2>
          {l.plan.segments.length === 0 ? <p class="muted">None planned.</p> : (
            <ol class="plain">{l.plan.segments.map((s) => <li key={`${s.kind}-${s.from}`}>{s.kind}: {new Date(s.from).toLocaleString()} → {new Date(s.to).toLocaleTimeString()}</li>)}</ol>
          )}
          <h2>VMs</h2>
          {l.vms.length === 0 ? <p class="muted">None made yet.</p> : (
            <ul aria-label="Lease VMs">{l.vms.map((v) => <li key={v.index}><Link href={`/vms/${v.vm}`}>{v.vm}</Link> on {v.host}</li>)}</ul>
          )}
          <div class="table-wrap">
            <table class="list" aria-label="Lease timeline">
              <thead><tr><th>When</th><th>What</th><th>State</th><th>Why</th></tr></thead>
              <tbody>{[...l.history].reverse().map((h, i) => (
                <tr key={i}><td><time dateTime={h.at}>{new Date(h.at).toLocaleString()}</time></td><td>{h.kind}</td>
                  <td>{typeof h.detail['state'] === 'string' ? h.detail['state'] : ''}</td><td>{detailText(h.detail)}</td></tr>
              ))}</tbody>
            </table>
          </div>
        </>
      )}
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </div>
  );
}
