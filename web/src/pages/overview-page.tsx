import { useEffect, useState } from 'preact/hooks';
import type { Host, Migration, NuboEvent, Vm } from '../api-types';
import { useLive } from '../use-live';
import { useSession } from '../session-context';
import { ErrorBanner } from '../components/error-banner';
import { HostCard } from '../components/host-card';
import { Link } from '../components/link';
import { eventText } from '../event-text';

/** The first page: hosts with their capacity, VMs by state, migrations in flight and the newest events, all live. */
export function OverviewPage() {
  const { events } = useSession();
  const vms = useLive((api, signal) => api.get<Vm[]>('/vms', signal), []);
  const hosts = useLive((api, signal) => api.get<Host[]>('/hosts', signal), [], (e) => e.resource === 'host' || e.resource === 'vm');
  const migrations = useLive((api, signal) => api.get<Migration[]>('/migrations?state=running', signal), [], (e) => e.resource === 'migration' || e.resource === 'vm');
  const [log, setLog] = useState<NuboEvent[]>(events.recent);
  // The history arrives after the page's first render (read in the background); the stream's events only after it.
  useEffect(() => {
    let live = true;
    void events.ready.then(() => { if (live) setLog((l) => (l.length === 0 ? events.recent : l)); });
    const off = events.listen((e) => setLog((l) => [...l, e].slice(-20)));
    return () => { live = false; off(); };
  }, [events]);

  const names = new Map<string, string>([...(vms.data ?? []), ...(hosts.data ?? [])].map((r) => [r.id, r.name]));
  const byState = new Map<string, number>();
  for (const v of vms.data ?? []) if (v.state !== 'terminated') byState.set(v.state, (byState.get(v.state) ?? 0) + 1);

  return (
    <div class="overview">
      <h1>Overview</h1>
      <ErrorBanner error={vms.error ?? hosts.error ?? migrations.error} />
      <section aria-labelledby="vms-by-state">
        <h2 id="vms-by-state">VMs by state</h2>
        <ul class="tiles" data-testid="vm-states">
          {[...byState].sort().map(([state, n]) => (
            <li key={state} class={`tile state-${state}`}><Link href={`/vms?state=${state}`}><span class="n">{n}</span> {state}</Link></li>
          ))}
          {byState.size === 0 && <li class="muted">No VMs yet. <Link href="/vms/new">Create one</Link>.</li>}
        </ul>
      </section>
      <section aria-labelledby="hosts-h">
        <h2 id="hosts-h">Hosts</h2>
        <div class="cards">{(hosts.data ?? []).map((h) => <HostCard key={h.id} host={h} />)}</div>
      </section>
      <section aria-labelledby="migr-h">
        <h2 id="migr-h">Migrations in flight</h2>
        {(migrations.data ?? []).length === 0 ? <p class="muted">None.</p> : (
          <ul>{migrations.data!.map((m) => <li key={m.id}><Link href={`/vms/${m.vmId}/migrate`}>{m.vm}</Link>: {m.source} → {m.destination}, stage {m.stage}</li>)}</ul>
        )}
      </section>
      <section aria-labelledby="events-h">
        <h2 id="events-h">Recent events</h2>
        <ol class="events" data-testid="recent-events">
          {[...log].reverse().map((e) => <li key={e.seq}><time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time> {eventText(e, names)}</li>)}
        </ol>
      </section>
    </div>
  );
}
