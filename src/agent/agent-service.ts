import type { VmStatus } from '../hypervisor/hypervisor.js';
import { AgentHost, type AgentHostOptions } from './agent-host.js';
import { CaptureEndpoint } from './capture-endpoint.js';
import { ColdMigrationEndpoint } from './cold-migration-endpoint.js';
import { DiskMoveEndpoint } from './disk-move-endpoint.js';
import { LiveMigrationEndpoint } from './live-migration-endpoint.js';
import { NicEndpoint } from './nic-endpoint.js';
import { DirtyRateEndpoint } from './dirty-rate-endpoint.js';
import { SnapshotEndpoint } from './snapshot-endpoint.js';
import type { TransferOffers } from '../transfer/transfer-offers.js';
import { VmLifecycle } from './vm-lifecycle.js';
import { VolumeEndpoint } from './volume-endpoint.js';
import { HaEndpoint } from './ha-endpoint.js';

export type AgentServiceOptions = AgentHostOptions;

/**
 * What an agent does for the controller, over its hypervisor driver and its
 * local datastore: one part per concern, all over one AgentHost (the VM
 * records, the per-VM locks, the open offers). The HTTP routes call the
 * parts; this only puts them together and runs the start-up recovery.
 */
export class AgentService {
  readonly host: AgentHost;
  readonly lifecycle: VmLifecycle;
  readonly live: LiveMigrationEndpoint;
  readonly cold: ColdMigrationEndpoint;
  readonly diskMoves: DiskMoveEndpoint;
  readonly snapshots: SnapshotEndpoint;
  readonly captures: CaptureEndpoint;
  readonly volumes: VolumeEndpoint;
  readonly nics: NicEndpoint;
  readonly ha: HaEndpoint;
  readonly dirtyRate: DirtyRateEndpoint;

  constructor(opts: AgentServiceOptions) {
    this.host = new AgentHost(opts);
    this.live = new LiveMigrationEndpoint(this.host);
    this.lifecycle = new VmLifecycle(this.host, (id) => this.live.activate(id));
    this.cold = new ColdMigrationEndpoint(this.host);
    this.diskMoves = new DiskMoveEndpoint(this.host);
    this.snapshots = new SnapshotEndpoint(this.host);
    this.captures = new CaptureEndpoint(this.host);
    this.volumes = new VolumeEndpoint(this.host);
    this.nics = new NicEndpoint(this.host);
    this.ha = new HaEndpoint(this.host, this.lifecycle);
    this.dirtyRate = new DirtyRateEndpoint(this.host);
  }

  /** Which VM files peers may read now (cold migration, capture). */
  get offers(): TransferOffers {
    return this.host.offers;
  }

  /**
   * At start-up, in this order: removes what copies and captures cut short
   * by a crash left, adopts the VMs still running, then settles the disk
   * moves (whether a move reached its switch-over is read from the adopted
   * QEMU). Answers the adopted VMs.
   */
  async recover(): Promise<VmStatus[]> {
    await this.cold.sweepReceives();
    await this.captures.sweepCaptures();
    const adopted = await this.lifecycle.adopt();
    await this.diskMoves.settleDiskMoves();
    return adopted;
  }
}
