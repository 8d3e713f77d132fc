import type { Migration, VmDetail } from '../api-types';
import { useLive } from '../use-live';
import { ErrorBanner } from '../components/error-banner';
import { migrationNumbers } from '../migration-numbers';

/** The VM's state changes and its migrations with their numbers. */
export function VmHistoryTab({ vm }: { vm: VmDetail }) {
  const migrations = useLive((a, signal) => a.get<Migration[]>(`/migrations?vm=${vm.id}`, signal), [vm.id], (e) => e.resource === 'migration');
  return (
    <div>
      <h2>State changes</h2>
      <table class="list" aria-label="State changes">
        <thead><tr><th>At</th><th>From</th><th>To</th><th>Action</th><th>Reason</th></tr></thead>
        <tbody>{[...vm.history].reverse().map((h, i) => (
          <tr key={i}><td><time dateTime={h.at}>{new Date(h.at).toLocaleString()}</time></td><td>{h.from ?? '—'}</td><td>{h.to}</td><td>{h.action}</td><td>{h.reason ?? ''}</td></tr>
        ))}</tbody>
      </table>
      <h2>Migrations</h2>
      <ErrorBanner error={migrations.error} />
      <table class="list" aria-label="Migrations of this VM">
        <thead><tr><th>Started</th><th>Kind</th><th>From → to</th><th>Outcome</th><th>Total</th><th>Downtime</th><th>Sent</th></tr></thead>
        <tbody>{(migrations.data ?? []).map((m) => {
          const n = migrationNumbers(m);
          return <tr key={m.id}><td>{new Date(m.startedAt).toLocaleString()}</td><td>{m.kind}</td><td>{m.source} → {m.destination}</td><td>{m.state}{m.reason !== null ? `: ${m.reason}` : ''}</td><td>{n.totalMs}</td><td>{n.downtimeMs}</td><td>{n.sent}</td></tr>;
        })}</tbody>
      </table>
    </div>
  );
}
