import { useState } from 'preact/hooks';
import type { Migration } from '../api-types';
import { useLive } from '../use-live';
import { ErrorBanner } from '../components/error-banner';
import { Link } from '../components/link';
import { migrationNumbers } from '../migration-numbers';

/** Every migration the caller may see, filtered by outcome, newest first, with their numbers. */
export function MigrationsPage() {
  const [state, setState] = useState('');
  const list = useLive((a, signal) => a.get<Migration[]>(`/migrations${state === '' ? '' : `?state=${state}`}`, signal), [state], (e) => e.resource === 'migration' || e.resource === 'vm');
  return (
    <div>
      <h1>Migrations</h1>
      <ErrorBanner error={list.error} />
      <div class="toolbar">
        <label>Outcome <select value={state} onChange={(e) => setState((e.currentTarget).value)}>
          <option value="">all</option>{['running', 'succeeded', 'failed', 'aborted'].map((s) => <option key={s} value={s}>{s}</option>)}
        </select></label>
      </div>
      <table class="list" aria-label="Migrations">
        <thead><tr><th>VM</th><th>Kind</th><th>From → to</th><th>Stage</th><th>Outcome</th><th>Total</th><th>Downtime</th><th>Started</th></tr></thead>
        <tbody>{[...(list.data ?? [])].reverse().map((m) => {
          const n = migrationNumbers(m);
          return (
            <tr key={m.id}><td><Link href={`/vms/${m.vmId}/migrate`}>{m.vm}</Link></td><td>{m.kind}</td><td>{m.source} → {m.destination}</td><td>{m.stage}</td>
              <td>{m.state}{m.reason !== null ? `: ${m.reason}` : ''}</td><td>{n.totalMs}</td><td>{n.downtimeMs}</td><td>{new Date(m.startedAt).toLocaleString()}</td></tr>
          );
        })}</tbody>
      </table>
      {list.data?.length === 0 && <p class="muted">No migrations.</p>}
    </div>
  );
}
