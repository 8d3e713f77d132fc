import type { Logger } from 'pino';
import type { HostReport } from '../contract/agent-api.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import type { VmOrchestrator } from './vm-orchestrator.js';
import type { AgentClient } from '../client/agent-client.js';
import type { Failpoints } from '../util/failpoints.js';

/** When most hosts fall silent at once, the silence check waits before declaring them lost (host-monitor.ts `#holdMassSilence`). */
export interface MassSilenceOptions {
  /** Fewer silent hosts than this are judged one by one as ever (a small site's outage is not second-guessed). */
  readonly minHosts: number;
  /** The share of enabled hosts silent together that is taken as the controller's own trouble. */
  readonly fraction: number;
  /** How long such a silence is held before its hosts are declared lost all the same. */
  readonly holdMs: number;
}

export const MASS_SILENCE_DEFAULTS: MassSilenceOptions = { minHosts: 10, fraction: 0.5, holdMs: 60_000 };

export interface HostMonitorOptions {
  readonly store: Store;
  readonly orchestrator: VmOrchestrator;
  readonly logger: Logger;
  /** How often agents send heartbeats; a host silent for `missedBeats` of them is in error. */
  readonly heartbeatIntervalMs: number;
  readonly missedBeats?: number;
  /**
   * After this controller starts, how long a host that has not reported since
   * gets before it is declared lost (default 30 s, at least the silence limit):
   * agents restarted with it (`nubo up`) take a while to come up on a busy
   * machine, and a host declared lost fails the VMs it was preparing.
   */
  readonly startupGraceMs?: number;
  /** To release copies of VMs a host should no longer hold (left by an ended migration). */
  readonly agentFor?: (host: Host) => AgentClient;
  /** HA's say on each heartbeat (ha-service.ts): false holds a fenced host out until its stale copies are ended. */
  readonly admitHeartbeat?: ((host: Host, report: HostReport) => Promise<boolean>) | undefined;
  /** HA's copies in the making (a VM taken over on this host, not yet committed to it): not leftovers. */
  readonly keepCopy?: ((vmId: string, hostId: string) => Promise<boolean>) | undefined;
  /**
   * Told each admitted heartbeat with the VMs bound to the host
   * (vm-firewall-service.ts: firewalls the host lacks are pushed again);
   * answers true when it had something to do (the next beat is looked at in
   * full again). Not told a beat that repeats a quiet one (see `heartbeat`).
   */
  readonly afterHeartbeat?: ((host: Host, report: HostReport, bound: readonly Vm[]) => boolean) | undefined;
  /**
   * Whether this controller is carrying out an operation on the VM right now
   * (the orchestrator's drive: an agent call may be in flight). Such a VM is
   * not settled from a report: a VM whose boot the silence check cut
   * (`unknown`, its operation ended in the store) while its start was still
   * on its way to the agent was reported `poweroff` or absent by the next beat
   * and recorded so, then started by that very call — QEMU running behind a
   * `poweroff` record. Its next beat after the call ended settles it.
   */
  readonly carriedOut?: ((vmId: string) => boolean) | undefined;
  /** How long a heartbeat's write waits for other hosts' to share its commit (default 50 ms; see heartbeat-recorder.ts). */
  readonly writeWindowMs?: number | undefined;
  /** Overrides of MASS_SILENCE_DEFAULTS (tests). */
  readonly massSilence?: Partial<MassSilenceOptions> | undefined;
  /** `heartbeat.write`, `heartbeat.written` (heartbeat-recorder.ts), `heartbeat.reconcile` before a VM's state is changed by a beat. */
  readonly failpoints?: Failpoints | undefined;
}
