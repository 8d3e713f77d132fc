import type { Logger } from 'pino';
import type { DiskMoveStatus } from '../contract/agent-api.js';
import type { AgentClient } from '../client/agent-client.js';
import { InvalidStateError } from '../core/invalid-state-error.js';
import { errorMessage } from '../errors/nubo-error.js';
import { ValidationError } from '../errors/validation-error.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import type { JsonObject } from '../store/store-context.js';
import { ConflictError, NotFoundError } from '../store/store-errors.js';
import { hostViewOf } from './host-view-of.js';
import { agentVmId } from './agent-vm-id.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { findOrUndefined } from '../store/find-or-undefined.js';

type Datastore = 'local' | 'shared';

/** A disk move as the API shows it: the agent's progress, with the VM and host it concerns. */
export interface DiskMoveView extends DiskMoveStatus {
  readonly vmId: string;
  readonly host: string;
}

export interface DiskMoverOptions {
  readonly store: Store;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
  /** Progress poll interval while a move runs; default 500 ms. */
  readonly pollIntervalMs?: number | undefined;
}

interface Move {
  view: DiskMoveView;
  readonly hostId: string;
  readonly abort: AbortController;
  done: Promise<void>;
}

export const DISK_MOVE_STATES = ['running'] as const;

const datastoreOf = (spec: ControllerVmSpec): Datastore => (spec.agent.disk.datastore === 'shared' ? 'shared' : 'local');

/**
 * Live storage migration (issue 6 part 3): a running VM's disk moves to the
 * other datastore of its host. The agent does the work (see agent/disk-moves.ts)
 * and answers when the VM runs on the new disk; only then does the store's
 * spec name the new datastore (and the placement demand follow it). The
 * progress of a move is kept here and polled from the agent; the start and
 * the end are events (`vm.disk-move`).
 */
export class DiskMover {
  readonly #o: DiskMoverOptions;
  readonly #moves = new Map<string, Move>();
  readonly #stopping = new AbortController();

  constructor(o: DiskMoverOptions) {
    this.#o = o;
  }

  /** Whether the VM's disk is being moved now (other changes to the VM wait for it). */
  busy(vmId: string): boolean {
    const m = this.#moves.get(vmId);
    return m !== undefined && (m.view.state === 'copying' || m.view.state === 'ready');
  }

  /** Starts the move and answers at once with its first progress (202); `status` follows it. */
  async start(vm: Vm, req: { datastore: Datastore; maxBandwidthMiBps?: number | undefined }): Promise<DiskMoveView> {
    if (!(DISK_MOVE_STATES as readonly string[]).includes(vm.state) || vm.operation !== null) {
      throw new InvalidStateError('disk-move', vm.state, DISK_MOVE_STATES, 'move the disk of');
    }
    if (this.busy(vm.id)) throw new ConflictError('vm', 'name', vm.name, `has a disk move under way to the ${this.#moves.get(vm.id)!.view.to} datastore`);
    const spec = vm.spec as unknown as ControllerVmSpec;
    const from = datastoreOf(spec);
    if (from === req.datastore) throw new ValidationError('disk move', [{ field: 'datastore', message: `the disk of VM ${vm.name} is already on the ${from} datastore` }]);
    if (vm.hostId === null) throw new InvalidStateError('disk-move', vm.state, DISK_MOVE_STATES, 'move the disk of');
    const host = await this.#o.store.hosts.get(vm.hostId);
    const reachable = hostViewOf(host).datastores;
    for (const ds of [from, req.datastore]) {
      if (!reachable.includes(ds)) throw new ConflictError('host', 'name', host.name, `has no ${ds} datastore (start its agent with --shared-dir)`);
    }
    const agent = this.#o.agentFor(host);
    // The new file gets the disk's current data only: the snapshots inside the old one would go with it (the agent checks again, under its lock).
    const snapshots = await agent.listSnapshots(agentVmId(vm.id));
    if (snapshots.length > 0) throw new ConflictError('vm', 'name', vm.name, `has disk snapshots (${snapshots.map((x) => x.name).join(', ')}), which a disk move would lose; delete them first`);
    const abort = new AbortController();
    const onStop = (): void => abort.abort(this.#stopping.signal.reason);
    this.#stopping.signal.addEventListener('abort', onStop, { once: true });
    const view: DiskMoveView = {
      vmId: vm.id, host: host.name, state: 'copying', from, to: req.datastore, sync: spec.agent.disk.mode === 'copy' ? 'full' : 'top', offset: 0, len: 0, startedAt: new Date().toISOString(),
    };
    await this.#o.store.events.append({ kind: 'vm.disk-move', resource: 'vm', resourceId: vm.id, data: { state: 'started', from, to: req.datastore, host: host.name } });
    this.#o.logger.info({ vmId: vm.id, from, to: req.datastore, host: host.name }, 'disk move started');
    const move: Move = { view, hostId: host.id, abort, done: Promise.resolve() };
    this.#moves.set(vm.id, move);
    const maxBandwidthBytes = req.maxBandwidthMiBps === undefined ? undefined : req.maxBandwidthMiBps * 2 ** 20;
    const done = this.#run(vm, host, agent, move, maxBandwidthBytes).finally(() => this.#stopping.signal.removeEventListener('abort', onStop));
    move.done = done;
    return { ...view };
  }

  /** The VM's current or last move (since this controller started). */
  status(vm: Vm): DiskMoveView {
    const m = this.#moves.get(vm.id);
    if (m === undefined) throw new NotFoundError('disk move', `of VM ${vm.name}`);
    return { ...m.view };
  }

  /** Stops the VM's move before its switch-over: the VM stays on its old disk. */
  async cancel(vm: Vm): Promise<DiskMoveView> {
    const m = this.#moves.get(vm.id);
    if (m === undefined || !this.busy(vm.id)) throw new ConflictError('vm', 'name', vm.name, 'has no disk move under way');
    const host = await this.#o.store.hosts.get(m.hostId);
    await this.#o.agentFor(host).cancelDiskMove(agentVmId(vm.id)).catch((err: unknown) => {
      // It may have ended meanwhile; what it ended as is in the status.
      this.#o.logger.warn({ vmId: vm.id, err: errorMessage(err) }, 'cancelling the disk move on the agent failed');
    });
    await m.done;
    return { ...this.#moves.get(vm.id)!.view };
  }

  /** Waits for the moves under way (tests). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#moves.values()].map((m) => m.done));
  }

  /** Controller shutdown: the agent sees its caller go and stops the move (the VM stays on its old disk, as the store says). */
  async close(): Promise<void> {
    this.#stopping.abort(new Error('the controller is stopping'));
    await this.idle();
  }

  async #run(vm: Vm, host: Host, agent: AgentClient, move: Move, maxBandwidthBytes: number | undefined): Promise<void> {
    const id = agentVmId(vm.id);
    const update = (s: DiskMoveStatus): void => {
      move.view = { ...move.view, ...s, vmId: vm.id, host: host.name };
    };
    let polling = true;
    const poll = (async () => {
      while (polling) {
        await new Promise((r) => setTimeout(r, this.#o.pollIntervalMs ?? 500));
        if (!polling) break;
        const s = await agent.diskMoveStatus(id, { timeoutMs: 5_000 }).catch(() => undefined);
        if (polling && s !== undefined && (s.state === 'copying' || s.state === 'ready')) update(s);
      }
    })();
    try {
      const end = await agent.moveDisk(id, { datastore: move.view.to, ...(maxBandwidthBytes !== undefined ? { maxBandwidthBytes } : {}) }, { signal: move.abort.signal });
      polling = false;
      // The agent's commit is done: the VM runs on the new disk. The store follows, whatever state the VM is in by now.
      const diskMiB = move.view.to === 'local' ? await this.#localDiskMiB(vm.spec as unknown as ControllerVmSpec) : 0;
      await this.#o.store.vms.reviseSpec(vm.id, { action: 'disk-move', spec: (cur) => specAfterMove(cur, move.view.to, diskMiB) });
      update(end);
      await this.#o.store.events.append({ kind: 'vm.disk-move', resource: 'vm', resourceId: vm.id, data: { state: 'done', from: move.view.from, to: move.view.to, bytes: end.len } });
      this.#o.logger.info({ vmId: vm.id, to: move.view.to, bytes: end.len }, 'disk moved');
    } catch (err) {
      polling = false;
      // The agent says how it ended (failed or cancelled, the VM on its old disk); unreachable, we report the error.
      const s = await agent.diskMoveStatus(id, { timeoutMs: 5_000 }).catch(() => undefined);
      const state = s !== undefined && (s.state === 'failed' || s.state === 'cancelled') ? s.state : 'failed';
      move.view = { ...move.view, ...(s ?? {}), vmId: vm.id, host: host.name, state, error: s?.error ?? errorMessage(err), finishedAt: s?.finishedAt ?? new Date().toISOString() };
      await this.#o.store.events.append({ kind: 'vm.disk-move', resource: 'vm', resourceId: vm.id, data: { state, from: move.view.from, to: move.view.to, error: move.view.error ?? '' } }).catch(() => {});
      this.#o.logger.warn({ vmId: vm.id, to: move.view.to, state, err: errorMessage(err) }, 'disk move did not complete; the VM stays on its old disk');
    } finally {
      polling = false;
      await poll;
    }
  }

  /** Local disk space a local disk may take: the image's virtual size (an overlay can grow to it). */
  async #localDiskMiB(spec: ControllerVmSpec): Promise<number> {
    const img = await findOrUndefined(this.#o.store.images.get(spec.agent.disk.image.id));
    return img === undefined ? spec.demand.diskMiB : Math.ceil(img.virtualSizeBytes / 2 ** 20);
  }
}

/** The spec with the disk on `to`: the agent's datastore and the placement demand (local disk space is reserved only for a local disk). */
function specAfterMove(cur: Vm, to: Datastore, localDiskMiB: number): JsonObject {
  const spec = cur.spec as unknown as ControllerVmSpec;
  const { datastore: _old, ...demand } = spec.demand;
  const next: ControllerVmSpec = {
    ...spec,
    agent: { ...spec.agent, disk: { ...spec.agent.disk, datastore: to } },
    demand: { ...demand, diskMiB: to === 'shared' ? 0 : localDiskMiB, ...(to === 'shared' ? { datastore: 'shared' } : {}) },
  };
  return next as unknown as JsonObject;
}
