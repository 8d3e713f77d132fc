import type { Host } from '../api-types';
import { CapacityBar } from './capacity-bar';
import { StateBadge } from './state-badge';

/** A host with its reserved capacity against its total (what the scheduler places against). */
export function HostCard({ host, children }: { host: Host; children?: preact.ComponentChildren }) {
  return (
    <article class="card host" aria-label={`host ${host.name}`}>
      <h3>{host.name} <span class="badges"><StateBadge state={host.state} />{host.maintenance !== null && <> <StateBadge state={host.maintenance} /></>}</span></h3>
      <CapacityBar label="CPU" used={host.reserved.cpus} total={host.total.cpus} unit="vCPU" />
      <CapacityBar label="Memory" used={host.reserved.memoryMiB} total={host.total.memoryMiB} unit="MiB" />
      <CapacityBar label="Disk" used={host.reserved.diskMiB} total={host.total.diskMiB} unit="MiB" />
      <p class="muted">{host.vms} VMs{host.lastHeartbeatAt !== null ? ` · heartbeat ${new Date(host.lastHeartbeatAt).toLocaleTimeString()}` : ''}</p>
      {children}
    </article>
  );
}
