import type { Host } from '../api-types';
import { CapacityBar } from './capacity-bar';
import { StateBadge } from './state-badge';

/** A host with its cluster, its reserved capacity against its total (what the scheduler places against), and why it takes no VMs when it does not (maintenance, standby, degraded). */
export function HostCard({ host, children }: { host: Host; children?: preact.ComponentChildren }) {
  const standby = host.standbySince ?? null;
  const degraded = host.degraded ?? null;
  return (
    <article class="card host" aria-label={`host ${host.name}`}>
      <h3>{host.name} <span class="badges"><StateBadge state={host.state} />{host.maintenance !== null && <> <StateBadge state={host.maintenance} /></>}{standby !== null && <> <StateBadge state="standby" /></>}{degraded !== null && <> <StateBadge state="degraded" /></>}</span></h3>
      {standby !== null && <p class="notice" data-testid="host-standby">On standby since {new Date(standby).toLocaleString()}: the rebalancer's consolidation emptied it; it takes no VMs until woken.</p>}
      {degraded !== null && <p class="error" data-testid="host-degraded">Degraded: {degraded}. Its running VMs are moved away; it takes no new ones.</p>}
      <CapacityBar label="CPU" used={host.reserved.cpus} total={host.total.cpus} unit="vCPU" />
      <CapacityBar label="Memory" used={host.reserved.memoryMiB} total={host.total.memoryMiB} unit="MiB" />
      <CapacityBar label="Disk" used={host.reserved.diskMiB} total={host.total.diskMiB} unit="MiB" />
      {host.cluster !== undefined && <p data-testid="host-cluster">Cluster <strong>{host.cluster}</strong></p>}
      <p class="muted">{host.vms} VMs{host.lastHeartbeatAt !== null ? ` · heartbeat ${new Date(host.lastHeartbeatAt).toLocaleTimeString()}` : ''}</p>
      {children}
    </article>
  );
}
