import { useMemo, useState } from 'preact/hooks';
import type { CapacityLease, Host, Template } from '../api-types';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { ErrorBanner } from '../components/error-banner';
import { Link } from '../components/link';
import { StateBadge } from '../components/state-badge';
import { LeaseGantt } from '../components/lease-gantt';
import { LeaseForm } from '../components/lease-form';

const TYPE_NAMES: Record<string, string> = { ar: 'advance reservation', be: 'best effort', immediate: 'immediate' };

/** A lease's window as text: an AR from its start; others from their planned run, else "queued". */
export function leaseWindow(l: CapacityLease): string {
  const run = l.plan.segments.find((s) => s.kind === 'run');
  const start = l.start ?? run?.from ?? null;
  const mins = Math.round(l.durationS / 60);
  if (start === null) return `${mins} min, queued`;
  const end = Date.parse(start) + l.durationS * 1000;
  return `${new Date(start).toLocaleString()} → ${new Date(end).toLocaleTimeString()} (${mins} min)`;
}

/**
 * Capacity leases (issue 15): the Gantt of hosts × time, the list the caller
 * may see with filters, and the request form. Live: every `lease.*` event
 * reloads the list (and with it the chart).
 */
export function LeasesPage() {
  const { isAdmin } = useSession();
  const leases = useLive((a, signal) => a.get<CapacityLease[]>('/leases', signal), [], (e) => e.resource === 'lease');
  const hosts = useLive((a, signal) => (isAdmin ? a.get<Host[]>('/hosts', signal) : Promise.resolve([])), [isAdmin], (e) => e.resource === 'host');
  const templates = useLive((a, signal) => a.get<Template[]>('/templates', signal), []);
  const [state, setState] = useState('');
  const [type, setType] = useState('');
  const [query, setQuery] = useState('');
  const [now] = useState(() => Date.now());
  const [created, setCreated] = useState<CapacityLease | null>(null);

  const rows = useMemo(() => {
    const q = query.trim().toLowerCase();
    return [...(leases.data ?? [])].reverse().filter((l) => (state === '' || l.state === state) && (type === '' || l.type === type)
      && (q === '' || [l.id, l.owner, l.template].some((f) => f.toLowerCase().includes(q))));
  }, [leases.data, state, type, query]);
  const states = [...new Set((leases.data ?? []).map((l) => l.state))].sort();

  return (
    <div>
      <h1>Leases</h1>
      <ErrorBanner error={leases.error ?? hosts.error ?? templates.error} />
      {created !== null && <p role="status" class="notice">Lease <Link href={`/leases/${created.id}`}>{created.id.slice(0, 8)}</Link> ({TYPE_NAMES[created.type]}) is {created.state}.</p>}
      <section aria-labelledby="gantt-h">
        <h2 id="gantt-h">Hosts over time</h2>
        {leases.data !== undefined && <LeaseGantt leases={leases.data} hosts={(hosts.data ?? []).map((h) => h.name)} now={now} />}
      </section>
      <section aria-labelledby="list-h">
        <h2 id="list-h">Your leases{isAdmin ? ' (all, as admin)' : ''}</h2>
        <div class="toolbar">
          <label>Search <input type="search" value={query} onInput={(e) => setQuery(e.currentTarget.value)} placeholder="id, owner, template" /></label>
          <label>State <select value={state} onChange={(e) => setState(e.currentTarget.value)}>
            <option value="">all</option>{states.map((s) => <option key={s} value={s}>{s}</option>)}
          </select></label>
          <label>Kind <select value={type} onChange={(e) => setType(e.currentTarget.value)}>
            <option value="">all</option>{Object.entries(TYPE_NAMES).map(([k, v]) => <option key={k} value={k}>{v}</option>)}
          </select></label>
        </div>
        <div class="table-wrap">
          <table class="list" aria-label="Leases">
            <thead><tr><th>Lease</th><th>State</th><th>Kind</th><th>Owner</th><th>Window</th><th>VMs</th></tr></thead>
            <tbody>
              {rows.map((l) => (
                <tr key={l.id} data-lease={l.id}>
                  <td><Link href={`/leases/${l.id}`}>{l.id.slice(0, 8)}</Link></td>
                  <td><StateBadge state={l.state} /></td>
                  <td>{TYPE_NAMES[l.type] ?? l.type}{l.type === 'be' && !l.preemptible ? ', not preemptible' : ''}</td>
                  <td>{l.owner}</td>
                  <td>{leaseWindow(l)}</td>
                  <td>{l.count} × {l.template} ({l.vcpus} vCPU, {l.memoryMiB} MiB){l.vms.length > 0 ? `, ${l.vms.length} made` : ''}</td>
                </tr>
              ))}
              {leases.data !== undefined && rows.length === 0 && <tr><td colSpan={6} class="muted">No leases match.</td></tr>}
            </tbody>
          </table>
        </div>
      </section>
      {templates.data !== undefined && <LeaseForm templates={templates.data} onCreated={(l) => { setCreated(l); leases.reload(); }} />}
    </div>
  );
}
