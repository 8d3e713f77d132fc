import { stat } from 'node:fs/promises';
import { zodIssues } from '../hypervisor/vm-spec.js';
import { errorMessage } from '../errors/nubo-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { diskMoveRequestSchema, type DiskMoveStatus } from '../contract/agent-api.js';
import { AgentConflictError } from './agent-conflict-error.js';
import type { AgentHost } from './agent-host.js';
import { refuseCopyWithSnapshots } from './vm-snapshots.js';

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** Live storage migration between this host's datastores (see DiskMoves): start, follow, cancel, and settle after a crash. */
export class DiskMoveEndpoint {
  constructor(readonly host: AgentHost) {}

  /** Moves a running VM's disk to this host's other datastore; answers when it is done (or failed: the VM is then on its old disk). */
  async moveDisk(id: string, input: unknown, signal?: AbortSignal): Promise<DiskMoveStatus> {
    const r = diskMoveRequestSchema.safeParse(input);
    if (!r.success) throw new ValidationError('disk move', zodIssues(r.error));
    const req = r.data;
    const h = this.host;
    await h.records.requireSpec(id);
    h.diskMoves.precheck(id, h.hypervisor);
    h.refuseWhileCopied(id);
    return h.locks.run(id, async () => {
      const vm = h.vm(id);
      await refuseCopyWithSnapshots(vm, 'have its disk moved', signal);
      return h.diskMoves.move(vm, req.datastore, req.maxBandwidthBytes, signal);
    }, signal);
  }

  /** Not serialised with the other calls: read while the move holds the VM's lock. */
  async diskMoveStatus(id: string): Promise<DiskMoveStatus> {
    await this.host.records.requireSpec(id);
    const s = this.host.diskMoves.status(id);
    if (s === undefined) throw new AgentConflictError({ vmId: id }, 'not-under-way', 'no disk move was started on this host since the agent started');
    return s;
  }

  /** Stops the VM's disk move before its switch-over; the VM stays on its old disk. */
  async cancelDiskMove(id: string): Promise<DiskMoveStatus> {
    await this.host.records.requireSpec(id);
    if (!this.host.diskMoves.cancel(id)) throw new AgentConflictError({ vmId: id }, 'not-under-way', 'no disk move is under way');
    return this.host.diskMoves.status(id)!;
  }

  /** At start-up: finishes or undoes the disk moves a crash of this agent cut short. */
  async settleDiskMoves(): Promise<void> {
    const h = this.host;
    for (const id of await h.records.ids()) {
      if (!(await exists(h.records.paths(id).diskMove))) continue;
      // At start-up: one VM's unusable record must not keep the agent from starting.
      const spec = await h.records.readSpec(id).catch((err: unknown) => h.logger.error({ vmId: id, err: errorMessage(err) }, 'vm record unusable: its disk move is left as it is'));
      if (!spec) continue;
      await h.locks.run(id, () => h.diskMoves.settle(h.vm(id))).catch((err: unknown) => h.logger.error({ vmId: id, err }, 'settling a disk move failed'));
    }
  }
}
