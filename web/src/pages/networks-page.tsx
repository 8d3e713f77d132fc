import { useState } from 'preact/hooks';
import type { Lease, Network } from '../api-types';
import { useLive } from '../use-live';
import { ErrorBanner } from '../components/error-banner';

type NetworkDetail = Network & { leases: Lease[] };

/** Virtual networks with their address use; one's leases table on demand. */
export function NetworksPage() {
  const nets = useLive((a, signal) => a.get<Network[]>('/networks', signal), [], (e) => e.resource === 'network' || e.resource === 'vm');
  const [open, setOpen] = useState<string | null>(null);
  const detail = useLive((a, signal) => (open === null ? Promise.resolve(undefined) : a.get<NetworkDetail>(`/networks/${open}`, signal)), [open], (e) => e.resource === 'network' || e.resource === 'vm');
  return (
    <div>
      <h1>Networks</h1>
      <ErrorBanner error={nets.error ?? detail.error} />
      <table class="list" aria-label="Networks">
        <thead><tr><th>Name</th><th>CIDR</th><th>Gateway</th><th>VLAN</th><th>Leased / total</th><th><span class="visually-hidden">Leases</span></th></tr></thead>
        <tbody>{(nets.data ?? []).map((n) => (
          <tr key={n.id}><td>{n.name}</td><td>{n.cidr}</td><td>{n.gateway ?? '—'}</td><td>{n.vlan ?? '—'}</td>
            <td>{n.addresses.leased + n.addresses.held} / {n.addresses.total}</td>
            <td><button type="button" aria-expanded={open === n.id} onClick={() => setOpen(open === n.id ? null : n.id)}>Leases</button></td></tr>
        ))}</tbody>
      </table>
      {nets.data?.length === 0 && <p class="muted">No networks.</p>}
      {detail.data && (
        <section aria-label={`Leases of ${detail.data.name}`}>
          <h2>Leases of {detail.data.name}</h2>
          <table class="list">
            <thead><tr><th>Address</th><th>MAC</th><th>State</th><th>VM</th></tr></thead>
            <tbody>{detail.data.leases.map((l) => <tr key={l.address}><td>{l.address}</td><td><code>{l.mac}</code></td><td>{l.state}</td><td>{l.vm ?? '—'}</td></tr>)}</tbody>
          </table>
        </section>
      )}
    </div>
  );
}
