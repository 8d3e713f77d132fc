import { stat } from 'node:fs/promises';
import { sleep } from '../util/deadline.js';
import { VmNotFoundError } from '../hypervisor/hypervisor-errors.js';
import { zodIssues } from '../hypervisor/vm-spec.js';
import { ValidationError } from '../errors/validation-error.js';
import { receiveRequestSchema, transferOfferRequestSchema, type ReceiveStatus, type TransferFileName, type TransferOffer } from '../contract/agent-api.js';
import { AgentConflictError } from './agent-conflict-error.js';
import type { AgentHost } from './agent-host.js';
import type { ColdReceiver, ReceiveTarget } from './cold-receiver.js';
import type { OfferedFile } from '../transfer/transfer-offers.js';

/**
 * Cold migration (DESIGN.md §5) as one host takes part in it: the source
 * offers a VM's files, the destination pulls them (see ColdReceiver) and
 * keeps them once the controller committed.
 */
export class ColdMigrationEndpoint {
  constructor(readonly host: AgentHost) {}

  /**
   * Source: offers a powered-off or suspended VM's files (those on this
   * host's datastore, and its saved memory) to a peer under a token of their
   * own; the VM cannot be started here while the offer is open.
   */
  offerTransfer(id: string, input: unknown, signal?: AbortSignal): Promise<TransferOffer> {
    const r = transferOfferRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('transfer offer', zodIssues(r.error)));
    const req = r.data;
    const h = this.host;
    return h.locks.run(id, async () => {
      const vm = h.vm(id);
      const spec = await vm.readSpec();
      const cur = await vm.report();
      if (cur.state !== 'poweroff' && cur.state !== 'suspended') throw new AgentConflictError({ vmId: id }, 'wrong-state', `it is ${cur.state}: only a powered-off or suspended VM's files can be copied`);
      if (cur.incomingMigrationId !== undefined) throw new AgentConflictError({ vmId: id }, 'in-migration', `it is the destination of migration ${cur.incomingMigrationId}`);
      // Volumes are files of their own in this host's datastore: a copy of the VM without them could not boot.
      if ((spec.volumes ?? []).length > 0) throw new AgentConflictError({ vmId: id }, 'has-volumes', 'it has volumes attached, which a cold migration does not copy');
      const p = vm.paths;
      const candidates: [TransferFileName, string][] = spec.disk.datastore === 'shared' ? [] : [['disk.qcow2', p.disk], ['cidata.iso', p.iso]];
      // Saved memory on the shared datastore stays there: the destination reads it as the source would (a hand-off).
      if (cur.state === 'suspended' && (await h.records.savedState(id)) === p.state) candidates.push(['memory.state', p.state]);
      const files: OfferedFile[] = [];
      for (const [name, path] of candidates) files.push({ name, path, sizeBytes: (await stat(path)).size });
      const o = h.offers.open(id, req.migrationId, files, req.ttlS * 1000);
      h.logger.info({ vmId: id, migrationId: req.migrationId, transferId: o.transferId, files: files.map((f) => `${f.name}:${f.sizeBytes}`) }, 'transfer offered');
      return { transferId: o.transferId, token: o.token, files: o.files.map((f) => ({ name: f.name, sizeBytes: f.sizeBytes })), expiresAt: new Date(o.expiresAt).toISOString() };
    }, signal);
  }

  /** Source: ends the VM's offers (after an abort; `release` does it too). */
  async revokeTransfer(id: string): Promise<void> {
    this.host.offers.revoke(id);
  }

  /**
   * Destination: starts pulling the offered files (see ColdReceiver) and
   * answers at once; `receiveStatus` follows the copy. Idempotent for the
   * same migration. The copy holds the VM's lock, so no other call on the VM
   * runs meanwhile; `release` stops it. `signal` ends the wait for the lock
   * only: once started, the copy is the receiver's and runs on.
   */
  receive(id: string, input: unknown, signal?: AbortSignal): Promise<ReceiveStatus> {
    const r = receiveRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('cold migration receive', zodIssues(r.error)));
    const req = r.data;
    const h = this.host;
    const running = h.receiver.job(id);
    if (running?.status.state === 'copying') {
      if (running.migrationId === req.migrationId) return Promise.resolve(jobStatus(running));
      return Promise.reject(new AgentConflictError({ vmId: id }, 'busy', `already receiving migration ${running.migrationId}`));
    }
    return new Promise<ReceiveStatus>((resolve, reject) => {
      // The lock is held until the copy ends, long after the answer: the caller hears of the start only.
      h.locks.run(id, async () => {
        const vm = h.vm(id);
        const p = vm.paths;
        const onDisk = await h.receiver.statusOnDisk(id, p.dir, p.spec);
        if (onDisk?.state === 'verified' && onDisk.migrationId === req.migrationId) return resolve(onDisk);
        if (onDisk) throw new AgentConflictError({ vmId: id }, 'exists', 'this host already holds the VM');
        if (await h.records.readIncoming(id)) throw new AgentConflictError({ vmId: id }, 'in-migration', 'this host is the destination of a live migration of the VM');
        const files = vm.files(req.spec);
        const target: ReceiveTarget = {
          dir: p.dir,
          specFile: p.spec,
          paths: req.spec.disk.datastore === 'shared' ? { 'memory.state': p.state } : { 'disk.qcow2': p.disk, 'cidata.iso': p.iso, 'memory.state': p.state },
          sharedDisk: files.sharedDir !== undefined ? files.disk : undefined,
          ensureImages: (s) => vm.ensureImages(req.spec, s),
          writeSpec: () => vm.writeSpec(req.spec),
        };
        const job = h.receiver.start(id, req, req.spec, target);
        h.logger.info({ vmId: id, migrationId: req.migrationId, from: req.source.url, files: req.files.map((f) => `${f.name}:${f.sizeBytes}`) }, 'cold migration copy started');
        resolve(jobStatus(job));
        await job.done;
      }, signal).catch(reject);
    });
  }

  /**
   * Destination: the copy's progress and outcome. `waitMs`: a long poll —
   * while the copy runs, the answer waits until it ends (or that long, or
   * until the caller goes away), so the controller hears of a finished copy
   * at once instead of at its next poll.
   */
  async receiveStatus(id: string, signal?: AbortSignal, waitMs = 0): Promise<ReceiveStatus> {
    const h = this.host;
    const running = h.receiver.job(id);
    if (running?.status.state === 'copying' && waitMs > 0) await settledWithin(running.done, waitMs, signal);
    const job = h.receiver.job(id);
    if (job) return jobStatus(job);
    const p = h.records.paths(id);
    const s = await h.receiver.statusOnDisk(id, p.dir, p.spec);
    if (!s) throw new VmNotFoundError(id);
    return s;
  }

  /** Destination, after the controller committed: the received VM is this host's. Idempotent. */
  commitReceive(id: string, signal?: AbortSignal): Promise<void> {
    const h = this.host;
    return h.locks.run(id, async () => {
      await h.records.requireSpec(id);
      await h.receiver.commit(id, h.records.paths(id).dir);
      h.logger.info({ vmId: id }, 'cold migration received and committed');
    }, signal);
  }

  /** At start-up: removes what copies cut short by a crash of this agent left. */
  sweepReceives(): Promise<string[]> {
    return this.host.receiver.sweep('agent-vm.json');
  }
}

function jobStatus(job: NonNullable<ReturnType<ColdReceiver['job']>>): ReceiveStatus {
  const s = job.status;
  return { migrationId: job.migrationId, state: s.state, copiedBytes: s.copiedBytes, totalBytes: s.totalBytes, files: s.files.map((f) => ({ ...f })), ...(s.error !== undefined ? { error: s.error } : {}) };
}

/** Waits for `done` (which never rejects), at most `ms`, and no longer than `signal` allows; never rejects. */
async function settledWithin(done: Promise<void>, ms: number, signal: AbortSignal | undefined): Promise<void> {
  const over = new AbortController();
  try {
    await Promise.race([done, sleep(ms, signal ? AbortSignal.any([over.signal, signal]) : over.signal).catch(() => {})]);
  } finally {
    over.abort();
  }
}
