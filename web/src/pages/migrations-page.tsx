import { useState } from 'preact/hooks';
import type { Migration } from '../api-types';
import { useLive } from '../use-live';
import { ErrorBanner } from '../components/error-banner';
import { Link } from '../components/link';
import { migrationNumbers } from '../migration-numbers';

/** What the API lists (src/contract/migration-schemas.ts): queue entries (queued, cancelled, refused) as well as migrations. */
const STATES = ['queued', 'running', 'succeeded', 'failed', 'aborted', 'cancelled', 'refused'] as const;

/**
 * Every migration the caller may see, newest first, with their numbers;
 * filtered by outcome (asked of the API), kind and VM (in the page).
 */
export function MigrationsPage() {
  const [state, setState] = useState('');
  const [kind, setKind] = useState('');
  const [vm, setVm] = useState('');
  const list = useLive((a, signal) => a.get<Migration[]>(`/migrations${state === '' ? '' : `?state=${state}`}`, signal), [state], (e) => e.resource === 'migration' || e.resource === 'vm');
  const q = vm.trim().toLowerCase();
  const rows = [...(list.data ?? [])].reverse().filter((m) => (kind === '' || m.kind === kind) && (q === '' || m.vm.toLowerCase().includes(q) || m.vmId === q));
  return (
    <div>
      <h1>Migrations</h1>
      <ErrorBanner error={list.error} />
      <div class="toolbar">
        <label>Outcome <select value={state} onChange={(e) => setState((e.currentTarget).value)}>
          <option value="">all</option>{STATES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select></label>
        <label>Kind <select value={kind} onChange={(e) => setKind((e.currentTarget).value)}>
          <option value="">all</option><option value="live">live</option><option value="cold">cold</option>
        </select></label>
        <label>VM <input type="search" value={vm} onInput={(e) => setVm((e.currentTarget).value)} placeholder="name or id" /></label>
      </div>
      <table class="list" aria-label="Migrations">
        <thead><tr><th>VM</th><th>Kind</th><th>From → to</th><th>Stage</th><th>Outcome</th><th>Total</th><th>Downtime</th><th>Started</th></tr></thead>
        <tbody>{rows.map((m) => {
          const n = migrationNumbers(m);
          return (
            <tr key={m.id}><td><Link href={`/vms/${m.vmId}/migrate`}>{m.vm}</Link></td><td>{m.kind}</td><td>{m.source} → {m.destination}</td><td>{m.stage}</td>
              <td>{m.state}{m.reason !== null ? `: ${m.reason}` : ''}</td><td>{n.totalMs}</td><td>{n.downtimeMs}</td><td>{new Date(m.startedAt).toLocaleString()}</td></tr>
          );
        })}</tbody>
      </table>
      {list.data !== undefined && rows.length === 0 && <p class="muted">No migrations{list.data.length > 0 ? ' match' : ''}.</p>}
    </div>
  );
}
