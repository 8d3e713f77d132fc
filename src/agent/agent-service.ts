import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Hypervisor, VmStatus } from '../hypervisor/hypervisor.js';
import { VmNotFoundError } from '../hypervisor/hypervisor-errors.js';
import type { NicSpecInput, VmSpecInput } from '../hypervisor/vm-spec.js';
import { errorMessage, NuboError } from '../errors/nubo-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { zodIssues } from '../hypervisor/vm-spec.js';
import { buildConfigDrive } from '../storage/config-drive.js';
import { createOverlay, imageInfo } from '../storage/qemu-img.js';
import type { LiveMigration } from '../hypervisor/live-migration.js';
import { runCommand } from '../util/run-command.js';
import {
  agentVmSpecSchema,
  attachNicRequestSchema,
  incomingRequestSchema,
  receiveRequestSchema,
  transferOfferRequestSchema,
  migrateRequestSchema,
  mirrorRequestSchema,
  tuneRequestSchema,
  type AgentVmReport,
  type AgentVmSpec,
  type IncomingReadyReport,
  type MigrationProgressReport,
  type ReceiveStatus,
  type TransferFileName,
  type TransferOffer,
} from './agent-api.js';
import type { ImageCache } from './image-cache.js';
import { TransferOffers, type OfferedFile } from './transfer-offers.js';
import { ColdReceiver, type ReceiveTarget } from './cold-receiver.js';
import { attachVmNic, detachVmNic, NicChangeConflictError, type VmNicHost } from './change-vm-nic.js';
import { DiskMoves, type DiskMoveHost } from './disk-moves.js';
import { attachVmVolume, deleteVolumeFile, detachVmVolume, volumeDisk, type VmVolumeHost } from './vm-volumes.js';
import { volumeAttachmentSchema, volumeIdSchema } from './agent-api.js';
import { diskMoveRequestSchema, type DiskMoveStatus } from './agent-api.js';
import { captureRequestSchema } from './agent-api.js';
import { CAPTURE_FILE, captureOfferKey, captureVmDisk, removeCapture, sweepCaptures } from './vm-capture.js';
import { snapshotRequestSchema } from './agent-api.js';
import type { AgentRebootReport } from './agent-api.js';
import { incomingReadySchema } from './agent-api.js';
import { checkVmId, InvalidVmIdError, isVmId } from '../core/vm-id.js';
import { readJsonFile } from '../util/read-json-file.js';
import { abortReason } from '../util/deadline.js';
import { z } from 'zod';
import { createVmSnapshot, deleteVmSnapshot, listVmSnapshots, refuseCopyWithSnapshots, revertVmSnapshot, type VmSnapshotHost } from './vm-snapshots.js';
import type { DiskSnapshot } from '../hypervisor/disk-snapshot.js';

export class AgentVmConflictError extends NuboError {
  readonly code = 'CONFLICT';
  constructor(readonly vmId: string, reason: string) {
    super(`VM ${vmId}: ${reason}`, { vmId, reason });
  }
}

/**
 * Where one VM's files live on this host: its record, saved memory and the
 * incoming-migration marker always in `<dataDir>/vms/<id>/` (only this agent
 * reads them); its disk and config drive there too, or in
 * `<sharedDir>/vms/<id>/` for the shared datastore.
 */
function vmDir(dataDir: string, id: string): { dir: string; spec: string; preparing: string; disk: string; iso: string; state: string; incoming: string; diskMove: string } {
  const dir = join(dataDir, 'vms', checkVmId(id));
  return { dir, spec: join(dir, 'agent-vm.json'), preparing: join(dir, 'preparing.json'), disk: join(dir, 'disk.qcow2'), iso: join(dir, 'cidata.iso'), state: join(dir, 'memory.state'), incoming: join(dir, 'incoming.json'), diskMove: join(dir, 'disk-move.json') };
}

/** What a destination keeps while it waits for a migration: which one, and what it told the controller. */
interface IncomingMarker {
  readonly migrationId: string;
  readonly ready: IncomingReadyReport;
}
// Loose: fields a newer agent wrote survive being read by this one.
const incomingMarkerSchema = z.looseObject({ migrationId: z.string().min(1), ready: incomingReadySchema });

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** PCI slot of NIC 0 (NIC i sits at this + i): above the slots the disks and the config drive take in command-line order. */
const NIC_PCI_SLOT = 0x10;

/** A TAP name that fits in 15 characters and is unique per VM and NIC. */
export function tapName(vmId: string, nic: number): string {
  return `nt${createHash('sha256').update(vmId).digest('hex').slice(0, 9)}-${nic}`;
}

export interface AgentServiceOptions {
  readonly dataDir: string;
  readonly hypervisor: Hypervisor;
  readonly images: ImageCache;
  readonly logger: Logger;
  /** Network namespace this host's QEMUs run in (lab hosts). */
  readonly netns?: string | undefined;
  /** The `shared` datastore (one directory every host sees, standing for NFS): VM disks that need no copy to migrate. */
  readonly sharedDir?: string | undefined;
  /** Address this host's QEMUs listen on for incoming migration streams and NBD (its management address). */
  readonly migrationAddress?: string | undefined;
  /** QEMU tls-creds-x509 directory; when set, migration streams in and out of this host are TLS with peer verification. */
  readonly migrationTlsDir?: string | undefined;
  /** Image cache inside the shared datastore: overlays there must have a base every host sees at the same path. */
  readonly sharedImages?: ImageCache | undefined;
}

export class AgentMigrationError extends NuboError {
  readonly code = 'MIGRATION_UNSUPPORTED';
  constructor(readonly vmId: string, reason: string) {
    super(`VM ${vmId}: ${reason}`, { vmId, reason });
  }
}

/**
 * What an agent does for the controller, over its hypervisor driver and its
 * local datastore. Every operation is idempotent where a retry is likely (the
 * controller may crash and repeat a call): preparing a VM that is already
 * prepared with the same spec, starting a running VM, deleting a deleted VM.
 */
/** The VM has no console to attach to (not running, or a driver without one). */
export class ConsoleUnavailableError extends Error {
  readonly code = 'CONSOLE_UNAVAILABLE';
  constructor(readonly vmId: string, reason: string) {
    super(`VM ${vmId}: ${reason}`);
  }
}

export class AgentService {
  readonly #o: AgentServiceOptions;
  /** Serialises operations per VM: two calls on one VM never interleave. */
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Cold migration, source side: which VM files peers may read now. */
  readonly offers = new TransferOffers();
  /** Cold migration, destination side. */
  readonly #receiver: ColdReceiver;
  /** Live storage migration between this host's datastores. */
  readonly #diskMoves = new DiskMoves();
  /** VMs whose powered-off guest's driver leftovers wait for the VM's lock to be released (see #releaseShutoff). */
  readonly #releasing = new Set<string>();

  constructor(opts: AgentServiceOptions) {
    this.#o = opts;
    this.#receiver = new ColdReceiver({ dataDir: opts.dataDir, logger: opts.logger });
  }

  /** `signal`: a caller that gave up while queued (the client went away) is not served once the lock comes free. */
  #locked<T>(id: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!isVmId(id)) return Promise.reject(new InvalidVmIdError(id));
    const prev = this.#locks.get(id) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => {
      if (signal?.aborted) throw abortReason(signal, `call on VM ${id}`);
      return fn();
    });
    this.#locks.set(id, next);
    void next.finally(() => {
      if (this.#locks.get(id) === next) this.#locks.delete(id);
    }).catch(() => {});
    return next;
  }

  /** Prolog: fetches the images, makes the VM's disk and config drive. */
  prepare(id: string, input: unknown, signal?: AbortSignal): Promise<AgentVmReport> {
    const r = agentVmSpecSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('VM spec', zodIssues(r.error)));
    const spec = r.data;
    return this.#locked(id, async () => {
      const p = vmDir(this.#o.dataDir, id);
      const existing = await this.#readSpec(id);
      if (existing) {
        if (JSON.stringify(existing) !== JSON.stringify(spec)) throw new AgentVmConflictError(id, 'already prepared with a different spec');
        return this.#report(id);
      }
      const files = this.#files(id, spec);
      const interrupted = await readJsonFile(p.preparing, agentVmSpecSchema, 'prolog marker');
      if (interrupted !== undefined) {
        // A prepare of this VM that died half-way (agent killed in prolog): what it left holds no guest data
        // yet, so the retry starts over. Another spec under the same id is not ours to overwrite.
        if (JSON.stringify(interrupted) !== JSON.stringify(spec)) throw new AgentVmConflictError(id, 'an interrupted prolog of this VM had a different spec');
        this.#o.logger.warn({ vmId: id }, 'an interrupted prolog is started over');
        if (files.sharedDir !== undefined) await rm(files.sharedDir, { recursive: true, force: true });
        await rm(p.dir, { recursive: true, force: true });
      }
      // Both directories start empty, so that the clean-up below only ever deletes what this call made.
      await this.#refuseFilesNotMade(id, files.sharedDir === undefined ? [p.dir] : [p.dir, files.sharedDir]);
      await mkdir(p.dir, { recursive: true });
      try {
        // First: whatever this call leaves behind if it is killed is known to be its own (see above).
        await writeFile(p.preparing, JSON.stringify(spec));
        if (files.sharedDir !== undefined) await mkdir(files.sharedDir, { recursive: true });
        const base = await this.#ensureImages(spec, signal);
        if (spec.disk.mode === 'overlay') {
          await createOverlay(base, spec.disk.image.format === 'raw' ? 'raw' : 'qcow2', files.disk, { signal });
        } else {
          await runCommand('qemu-img', ['convert', '-q', '-O', 'qcow2', base, files.disk], { signal, timeoutMs: 3_600_000 });
        }
        await this.#buildConfigDrive(id, spec, files.iso, signal);
        // Written last: a VM directory with a spec file is completely prepared.
        await this.#writeSpec(id, spec);
        await rm(p.preparing, { force: true });
      } catch (err) {
        await rm(p.dir, { recursive: true, force: true });
        if (files.sharedDir !== undefined) await rm(files.sharedDir, { recursive: true, force: true });
        throw err;
      }
      this.#o.logger.info({ vmId: id, mode: spec.disk.mode }, 'vm prepared');
      return this.#report(id);
    }, signal);
  }

  /** Boots a prepared VM (or resumes a suspended one). */
  start(id: string, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.#locked(id, async () => {
      const spec = await this.#requireSpec(id);
      const cur = await this.#report(id);
      if (cur.state === 'running' || cur.state === 'paused') return cur;
      // Booting would change the disk a peer is copying: the controller revokes the offer first.
      if (this.offers.isOpen(id)) throw new AgentVmConflictError(id, 'its files are being copied to another host (cold migration)');
      if (cur.state === 'crashed') await this.#o.hypervisor.destroy(id, { signal });
      const p = vmDir(this.#o.dataDir, id);
      if (cur.state === 'suspended') {
        await this.#o.hypervisor.restore(this.#hvSpec(id, spec), p.state, { signal });
        await rm(p.state, { force: true });
      } else {
        await this.#o.hypervisor.start(this.#hvSpec(id, spec), { signal });
      }
      this.#o.logger.info({ vmId: id, from: cur.state }, 'vm started');
      return this.#report(id);
    }, signal);
  }

  /** ACPI power-off (hard: at once); disks stay. */
  powerOff(id: string, hard: boolean, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.#locked(id, async () => {
      await this.#requireSpec(id);
      const cur = await this.#report(id);
      if (cur.state === 'suspended') await rm(vmDir(this.#o.dataDir, id).state, { force: true });
      if (cur.state !== 'poweroff' && cur.state !== 'suspended') {
        if (hard) await this.#o.hypervisor.destroy(id, { signal });
        else await this.#o.hypervisor.shutdown(id, { signal, timeoutMs: 60_000 });
      }
      return this.#report(id);
    }, signal);
  }

  /** ACPI reboot (the guest shuts down by itself, then boots again), a reset when `hard` or when the guest does not shut down within `graceS`. */
  reboot(id: string, req: { hard: boolean; graceS: number }, signal?: AbortSignal): Promise<AgentRebootReport> {
    return this.#locked(id, async () => {
      await this.#requireSpec(id);
      const r = await this.#o.hypervisor.reboot(id, { signal, hard: req.hard, graceMs: req.graceS * 1000 });
      if (!r.clean) this.#o.logger.warn({ vmId: id, reason: r.reason }, 'vm reset instead of a clean reboot');
      return { ...(await this.#report(id)), clean: r.clean, ...(r.reason !== undefined ? { resetReason: r.reason } : {}) };
    });
  }

  /** Saves memory to a file on this host; the process ends. */
  suspend(id: string, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.#locked(id, async () => {
      await this.#requireSpec(id);
      await this.#o.hypervisor.save(id, vmDir(this.#o.dataDir, id).state, { signal });
      return this.#report(id);
    }, signal);
  }

  /** Epilog: ends the VM and deletes its disks and saved state. Idempotent. */
  delete(id: string, signal?: AbortSignal): Promise<void> {
    this.offers.revoke(id);
    const copy = this.#receiver.stop(id);
    return this.#locked(id, async () => {
      await copy;
      const spec = await this.#readSpec(id);
      await this.#o.hypervisor.destroy(id, { signal });
      if (spec) {
        const shared = this.#files(id, spec).sharedDir;
        if (shared !== undefined) await rm(shared, { recursive: true, force: true });
      }
      await rm(vmDir(this.#o.dataDir, id).dir, { recursive: true, force: true });
      this.#o.logger.info({ vmId: id }, 'vm deleted');
    }, signal);
  }

  /**
   * Lets go of this host's copy of a VM that lives on (or stays on) another
   * host after a migration: ends its QEMU and deletes what is local to this
   * host, never the shared datastore's disk the other copy uses. Idempotent.
   */
  release(id: string, signal?: AbortSignal): Promise<void> {
    // A cold migration's copy in either direction ends first (a receive holds the VM's lock until it stops).
    this.offers.revoke(id);
    const copy = this.#receiver.stop(id);
    return this.#locked(id, async () => {
      await copy;
      await this.#o.hypervisor.destroy(id, { signal });
      await rm(vmDir(this.#o.dataDir, id).dir, { recursive: true, force: true });
      this.#o.logger.info({ vmId: id }, 'vm copy released');
    }, signal);
  }

  // ---- cold migration (DESIGN.md §5): the destination pulls the files from the source ----

  /**
   * Source: offers a powered-off or suspended VM's files (those on this
   * host's datastore, and its saved memory) to a peer under a token of their
   * own; the VM cannot be started here while the offer is open.
   */
  offerTransfer(id: string, input: unknown, signal?: AbortSignal): Promise<TransferOffer> {
    const r = transferOfferRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('transfer offer', zodIssues(r.error)));
    const req = r.data;
    return this.#locked(id, async () => {
      const spec = await this.#requireSpec(id);
      const cur = await this.#report(id);
      if (cur.state !== 'poweroff' && cur.state !== 'suspended') throw new AgentVmConflictError(id, `it is ${cur.state}: only a powered-off or suspended VM's files can be copied`);
      if (cur.incomingMigrationId !== undefined) throw new AgentVmConflictError(id, `it is the destination of migration ${cur.incomingMigrationId}`);
      // Volumes are files of their own in this host's datastore: a copy of the VM without them could not boot.
      if ((spec.volumes ?? []).length > 0) throw new AgentVmConflictError(id, 'it has volumes attached, which a cold migration does not copy');
      const p = vmDir(this.#o.dataDir, id);
      const candidates: [TransferFileName, string][] = spec.disk.datastore === 'shared' ? [] : [['disk.qcow2', p.disk], ['cidata.iso', p.iso]];
      if (cur.state === 'suspended') candidates.push(['memory.state', p.state]);
      const files: OfferedFile[] = [];
      for (const [name, path] of candidates) files.push({ name, path, sizeBytes: (await stat(path)).size });
      const o = this.offers.open(id, req.migrationId, files, req.ttlS * 1000);
      this.#o.logger.info({ vmId: id, migrationId: req.migrationId, transferId: o.transferId, files: files.map((f) => `${f.name}:${f.sizeBytes}`) }, 'transfer offered');
      return { transferId: o.transferId, token: o.token, files: o.files.map((f) => ({ name: f.name, sizeBytes: f.sizeBytes })), expiresAt: new Date(o.expiresAt).toISOString() };
    }, signal);
  }

  /** Source: ends the VM's offers (after an abort; `release` does it too). */
  async revokeTransfer(id: string): Promise<void> {
    this.offers.revoke(id);
  }

  /**
   * Destination: starts pulling the offered files (see ColdReceiver) and
   * answers at once; `receiveStatus` follows the copy. Idempotent for the
   * same migration. The copy holds the VM's lock, so no other call on the VM
   * runs meanwhile; `release` stops it.
   */
  receive(id: string, input: unknown): Promise<ReceiveStatus> {
    const r = receiveRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('cold migration receive', zodIssues(r.error)));
    const req = r.data;
    const running = this.#receiver.job(id);
    if (running?.status.state === 'copying') {
      if (running.migrationId === req.migrationId) return Promise.resolve(this.#jobStatus(running));
      return Promise.reject(new AgentVmConflictError(id, `already receiving migration ${running.migrationId}`));
    }
    return new Promise<ReceiveStatus>((resolve, reject) => {
      void this.#locked(id, async () => {
        try {
          const p = vmDir(this.#o.dataDir, id);
          const onDisk = await this.#receiver.statusOnDisk(id, p.dir, p.spec);
          if (onDisk?.state === 'verified' && onDisk.migrationId === req.migrationId) return resolve(onDisk);
          if (onDisk) throw new AgentVmConflictError(id, 'this host already holds the VM');
          if (await this.#readIncoming(id)) throw new AgentVmConflictError(id, 'this host is the destination of a live migration of the VM');
          const files = this.#files(id, req.spec);
          const target: ReceiveTarget = {
            dir: p.dir,
            specFile: p.spec,
            paths: req.spec.disk.datastore === 'shared' ? { 'memory.state': p.state } : { 'disk.qcow2': p.disk, 'cidata.iso': p.iso, 'memory.state': p.state },
            sharedDisk: files.sharedDir !== undefined ? files.disk : undefined,
            ensureImages: (signal) => this.#ensureImages(req.spec, signal),
            writeSpec: () => this.#writeSpec(id, req.spec),
          };
          const job = this.#receiver.start(id, req, req.spec, target);
          this.#o.logger.info({ vmId: id, migrationId: req.migrationId, from: req.source.url, files: req.files.map((f) => `${f.name}:${f.sizeBytes}`) }, 'cold migration copy started');
          resolve(this.#jobStatus(job));
          await job.done;
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
  }

  /** Destination: the copy's progress and outcome. */
  async receiveStatus(id: string): Promise<ReceiveStatus> {
    const job = this.#receiver.job(id);
    if (job) return this.#jobStatus(job);
    const p = vmDir(this.#o.dataDir, id);
    const s = await this.#receiver.statusOnDisk(id, p.dir, p.spec);
    if (!s) throw new VmNotFoundError(id);
    return s;
  }

  /** Destination, after the controller committed: the received VM is this host's. Idempotent. */
  commitReceive(id: string, signal?: AbortSignal): Promise<void> {
    return this.#locked(id, async () => {
      await this.#requireSpec(id);
      await this.#receiver.commit(id, vmDir(this.#o.dataDir, id).dir);
      this.#o.logger.info({ vmId: id }, 'cold migration received and committed');
    }, signal);
  }

  /** At start-up: removes what copies cut short by a crash of this agent left. */
  sweepReceives(): Promise<string[]> {
    return this.#receiver.sweep('agent-vm.json');
  }

  #jobStatus(job: NonNullable<ReturnType<ColdReceiver['job']>>): ReceiveStatus {
    const s = job.status;
    return { migrationId: job.migrationId, state: s.state, copiedBytes: s.copiedBytes, totalBytes: s.totalBytes, files: s.files.map((f) => ({ ...f })), ...(s.error !== undefined ? { error: s.error } : {}) };
  }

  // ---- live migration (DESIGN.md §5) ----

  #migration(id: string): LiveMigration {
    const m = this.#o.hypervisor.migration;
    if (!m) throw new AgentMigrationError(id, `the ${this.#o.hypervisor.kind} driver cannot live-migrate`);
    return m;
  }

  #tls(): { dir: string } | undefined {
    return this.#o.migrationTlsDir === undefined ? undefined : { dir: this.#o.migrationTlsDir };
  }

  /**
   * Destination, stage 1: makes the disks (shared: the source's own; local:
   * an empty overlay on this host's copy of the same base image, or an empty
   * image of the same size for standalone disks), the config drive, and a
   * QEMU waiting for the stream. Idempotent for the same migration.
   */
  incoming(id: string, input: unknown, signal?: AbortSignal): Promise<IncomingReadyReport> {
    const r = incomingRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('incoming migration', zodIssues(r.error)));
    const req = r.data;
    const spec = req.spec;
    return this.#locked(id, async () => {
      const migration = this.#migration(id);
      const p = vmDir(this.#o.dataDir, id);
      const marker = await this.#readIncoming(id);
      if (marker) {
        if (marker.migrationId !== req.migrationId) throw new AgentVmConflictError(id, `already waiting for migration ${marker.migrationId}`);
        const cur = await this.#report(id);
        if (cur.state === 'inmigrate') return marker.ready;
        await this.#o.hypervisor.destroy(id, { signal });
      } else if (await this.#readSpec(id)) {
        throw new AgentVmConflictError(id, 'this host already holds the VM');
      }
      if (this.#o.migrationAddress === undefined) throw new AgentMigrationError(id, 'this agent has no migration address (--migration-address)');
      const files = this.#files(id, spec);
      await rm(p.dir, { recursive: true, force: true });
      await mkdir(p.dir, { recursive: true });
      try {
        let mirrorSync: 'top' | 'full' | undefined;
        if (files.sharedDir !== undefined) {
          if (!(await exists(files.disk))) throw new AgentMigrationError(id, `the shared datastore has no disk ${files.disk}`);
          await this.#ensureImages(spec, signal);
        } else {
          const base = await this.#ensureImages(spec, signal);
          if (spec.disk.mode === 'overlay') {
            await createOverlay(base, spec.disk.image.format === 'raw' ? 'raw' : 'qcow2', files.disk, { signal });
            mirrorSync = 'top';
          } else {
            const info = await imageInfo(base, { signal });
            await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', files.disk, String(info.virtualSize)], { signal, timeoutMs: 60_000 });
            mirrorSync = 'full';
          }
          await this.#buildConfigDrive(id, spec, files.iso, signal);
        }
        await this.#writeSpec(id, spec);
        const ready = await migration.startIncoming(this.#hvSpec(id, spec), {
          listenHost: this.#o.migrationAddress,
          tls: this.#tls(),
          ...(mirrorSync !== undefined ? { nbdDisks: ['root'] } : {}),
          postcopy: req.postcopy,
          ...(signal ? { signal } : {}),
        });
        const report: IncomingReadyReport = {
          uri: ready.uri,
          ...(ready.nbd ? { nbd: { host: ready.nbd.host, port: ready.nbd.port, exports: ready.nbd.exports.map((e) => ({ diskId: e.diskId, name: e.name })) } } : {}),
          ...(mirrorSync !== undefined ? { mirrorSync } : {}),
          tls: this.#o.migrationTlsDir !== undefined,
        };
        const m: IncomingMarker = { migrationId: req.migrationId, ready: report };
        await writeFile(`${p.incoming}.tmp`, JSON.stringify(m));
        await rename(`${p.incoming}.tmp`, p.incoming);
        this.#o.logger.info({ vmId: id, migrationId: req.migrationId, uri: ready.uri, storage: spec.disk.datastore }, 'waiting for incoming migration');
        return report;
      } catch (err) {
        await this.#o.hypervisor.destroy(id).catch(() => {});
        await rm(p.dir, { recursive: true, force: true });
        throw err;
      }
    }, signal);
  }

  /** Source, non-shared storage: mirrors the VM's disk to the destination's NBD export. */
  mirror(id: string, input: unknown, signal?: AbortSignal): Promise<void> {
    const r = mirrorRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('disk mirror', zodIssues(r.error)));
    const req = r.data;
    return this.#locked(id, async () => {
      await this.#requireSpec(id);
      await refuseCopyWithSnapshots(await this.#snapshotHost(id), 'be live-migrated to another host\'s local datastore', signal);
      await this.#migration(id).mirrorDisks(id, { nbd: req.nbd, sync: req.sync, tls: this.#tls(), maxBandwidthBytes: req.maxBandwidthBytes, ...(signal ? { signal } : {}) });
    }, signal);
  }

  /** Source, stage 2: starts the pre-copy. */
  migrate(id: string, input: unknown, signal?: AbortSignal): Promise<void> {
    const r = migrateRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('migration', zodIssues(r.error)));
    const req = r.data;
    return this.#locked(id, async () => {
      await this.#requireSpec(id);
      await this.#migration(id).migrateOut(id, { uri: req.uri, params: req.params, tls: this.#tls(), ...(signal ? { signal } : {}) });
    }, signal);
  }

  /**
   * Not serialised with the other calls: progress is read while a long call may hold the VM's lock.
   * `waitMs`: a source answers as soon as its migration ends, or after that long (a long poll).
   */
  async migrationStatus(id: string, signal?: AbortSignal, waitMs?: number): Promise<MigrationProgressReport> {
    await this.#requireSpec(id);
    const p = await this.#migration(id).migrationStatus(id, { ...(signal ? { signal } : {}), ...(waitMs !== undefined ? { waitMs } : {}) });
    return { ...p, disks: p.disks.map((d) => ({ ...d })) };
  }

  async tuneMigration(id: string, input: unknown, signal?: AbortSignal): Promise<void> {
    const r = tuneRequestSchema.safeParse(input);
    if (!r.success) throw new ValidationError('migration tuning', zodIssues(r.error));
    await this.#requireSpec(id);
    await this.#migration(id).tuneMigration(id, r.data, { ...(signal ? { signal } : {}) });
  }

  completeMirrors(id: string, signal?: AbortSignal): Promise<void> {
    return this.#locked(id, async () => {
      await this.#requireSpec(id);
      await this.#migration(id).completeMirrors(id, { ...(signal ? { signal } : {}) });
    }, signal);
  }

  /** Source: abandons the migration; the VM keeps running here. */
  cancelMigration(id: string, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.#locked(id, async () => {
      await this.#requireSpec(id);
      const cur = await this.#report(id);
      if (cur.state === 'running' || cur.state === 'paused') await this.#migration(id).cancelMigration(id, { ...(signal ? { signal } : {}) });
      return this.#report(id);
    }, signal);
  }

  /** Destination, stage 5: runs the VM that arrived; it is this host's VM from now on. */
  activate(id: string, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.#locked(id, async () => {
      await this.#requireSpec(id);
      // Also when it runs: an agent that died between `cont` and here left the driver's record saying "incoming" (a no-op otherwise).
      await this.#migration(id).activateIncoming(id, { ...(signal ? { signal } : {}) });
      await rm(vmDir(this.#o.dataDir, id).incoming, { force: true });
      this.#o.logger.info({ vmId: id }, 'incoming migration activated');
      return this.#report(id);
    });
  }

  /**
   * Source after a failed migration whose destination is known dead: runs the
   * postmigrate copy again. Only the controller can know that no other copy
   * runs, so only it calls this.
   */
  resumeSource(id: string, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.#locked(id, async () => {
      await this.#requireSpec(id);
      const cur = await this.#report(id);
      if (cur.state === 'postmigrate' || cur.state === 'paused') await this.#migration(id).resumeSource(id, { ...(signal ? { signal } : {}) });
      return this.#report(id);
    }, signal);
  }

  // ---- live storage migration (see disk-moves.ts) ----

  /** Moves a running VM's disk to this host's other datastore; answers when it is done (or failed: the VM is then on its old disk). */
  async moveDisk(id: string, input: unknown, signal?: AbortSignal): Promise<DiskMoveStatus> {
    const r = diskMoveRequestSchema.safeParse(input);
    if (!r.success) throw new ValidationError('disk move', zodIssues(r.error));
    const req = r.data;
    await this.#requireSpec(id);
    this.#diskMoves.precheck(id, this.#o.hypervisor);
    if (this.offers.isOpen(id)) throw new AgentVmConflictError(id, 'its files are being copied to another host (cold migration)');
    return this.#locked(id, async () => {
      await refuseCopyWithSnapshots(await this.#snapshotHost(id), 'have its disk moved', signal);
      return this.#diskMoves.move(this.#diskMoveHost(id), req.datastore, req.maxBandwidthBytes, signal);
    }, signal);
  }

  /** Not serialised with the other calls: read while the move holds the VM's lock. */
  async diskMoveStatus(id: string): Promise<DiskMoveStatus> {
    await this.#requireSpec(id);
    const s = this.#diskMoves.status(id);
    if (s === undefined) throw new AgentVmConflictError(id, 'no disk move was started on this host since the agent started');
    return s;
  }

  /** Stops the VM's disk move before its switch-over; the VM stays on its old disk. */
  async cancelDiskMove(id: string): Promise<DiskMoveStatus> {
    await this.#requireSpec(id);
    if (!this.#diskMoves.cancel(id)) throw new AgentVmConflictError(id, 'no disk move is under way');
    return this.#diskMoves.status(id)!;
  }

  #diskMoveHost(id: string): DiskMoveHost {
    return {
      vmId: id,
      hypervisor: this.#o.hypervisor,
      logger: this.#o.logger,
      markerPath: vmDir(this.#o.dataDir, id).diskMove,
      readSpec: () => this.#requireSpec(id),
      writeSpec: (spec) => this.#writeSpec(id, spec),
      report: () => this.#report(id),
      files: (spec) => this.#files(id, spec),
      ensureBase: (spec, signal) => this.#ensureImages(spec, signal),
      buildConfigDrive: (spec, iso, signal) => this.#buildConfigDrive(id, spec, iso, signal),
    };
  }

  /** At start-up: finishes or undoes the disk moves a crash of this agent cut short. */
  async settleDiskMoves(): Promise<void> {
    for (const id of await readdir(join(this.#o.dataDir, 'vms')).catch(() => [] as string[])) {
      if (!isVmId(id) || !(await exists(vmDir(this.#o.dataDir, id).diskMove))) continue;
      // At start-up: one VM's unusable record must not keep the agent from starting.
      const spec = await this.#readSpec(id).catch((err: unknown) => this.#o.logger.error({ vmId: id, err: errorMessage(err) }, 'vm record unusable: its disk move is left as it is'));
      if (!spec) continue;
      await this.#locked(id, () => this.#diskMoves.settle(this.#diskMoveHost(id))).catch((err: unknown) => this.#o.logger.error({ vmId: id, err }, 'settling a disk move failed'));
    }
  }

  // ---- disk snapshots (see vm-snapshots.ts) ----

  /** The VM's disk snapshots, oldest first (QMP while it runs, the file while it rests). */
  listSnapshots(id: string, signal?: AbortSignal): Promise<DiskSnapshot[]> {
    return this.#withSnapshots(id, false, (host) => listVmSnapshots(host, signal), signal);
  }

  // The changes take `signal` for the wait for the VM's lock only: once begun, a qemu-img cut short could leave the disk's snapshot table half written.

  /** Takes a snapshot of a running, powered-off or suspended VM's disk; a name it has is a conflict. */
  createSnapshot(id: string, input: unknown, signal?: AbortSignal): Promise<DiskSnapshot> {
    const r = snapshotRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('snapshot', zodIssues(r.error)));
    const { name } = r.data;
    return this.#withSnapshots(id, true, (host) => createVmSnapshot(host, name), signal);
  }

  /** Reverts a powered-off VM's disk to a snapshot. Idempotent. */
  revertSnapshot(id: string, name: string, signal?: AbortSignal): Promise<DiskSnapshot> {
    return this.#withSnapshots(id, true, (host) => revertVmSnapshot(host, name), signal);
  }

  deleteSnapshot(id: string, name: string, signal?: AbortSignal): Promise<void> {
    return this.#withSnapshots(id, true, (host) => deleteVmSnapshot(host, name), signal);
  }

  /** Runs a snapshot operation under the VM's lock; refused at once while a disk move holds that lock, and changes while a peer copies the disk. */
  #withSnapshots<T>(id: string, changes: boolean, fn: (host: VmSnapshotHost) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const move = this.#diskMoves.status(id)?.state;
    if (move === 'copying' || move === 'ready') return Promise.reject(new AgentVmConflictError(id, 'its disk is being moved to another datastore'));
    return this.#locked(id, async () => {
      const host = await this.#snapshotHost(id);
      if (changes && this.offers.isOpen(id)) throw new AgentVmConflictError(id, 'its files are being copied to another host (cold migration)');
      return fn(host);
    }, signal);
  }

  async #snapshotHost(id: string): Promise<VmSnapshotHost> {
    const spec = await this.#requireSpec(id);
    return { vmId: id, hypervisor: this.#o.hypervisor, logger: this.#o.logger, diskPath: this.#files(id, spec).disk, report: () => this.#report(id) };
  }

  // ---- disk capture (see vm-capture.ts): the controller pulls a standalone copy of the disk ----

  /**
   * Captures the VM's disk (running, paused, powered off or suspended) into
   * `capture.qcow2` in its directory and offers it like a cold migration's
   * files; a capture there before is replaced. The controller deletes it when
   * it has its copy.
   */
  capture(id: string, input: unknown, signal?: AbortSignal): Promise<TransferOffer> {
    const r = captureRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('capture', zodIssues(r.error)));
    const req = r.data;
    return this.#locked(id, async () => {
      const spec = await this.#requireSpec(id);
      this.offers.revoke(captureOfferKey(id));
      const path = join(vmDir(this.#o.dataDir, id).dir, CAPTURE_FILE);
      const { sizeBytes } = await captureVmDisk({
        vmId: id, hypervisor: this.#o.hypervisor, logger: this.#o.logger, diskPath: this.#files(id, spec).disk, capturePath: path, report: () => this.#report(id),
      }, signal);
      const o = this.offers.open(captureOfferKey(id), req.captureId, [{ name: CAPTURE_FILE, path, sizeBytes }], req.ttlS * 1000);
      return { transferId: o.transferId, token: o.token, files: o.files.map((f) => ({ name: f.name, sizeBytes: f.sizeBytes })), expiresAt: new Date(o.expiresAt).toISOString() };
    }, signal);
  }

  /** Ends the capture's offer and deletes its file. Idempotent (also for a VM this host no longer holds). */
  deleteCapture(id: string, signal?: AbortSignal): Promise<void> {
    this.offers.revoke(captureOfferKey(id));
    return this.#locked(id, () => removeCapture(join(vmDir(this.#o.dataDir, id).dir, CAPTURE_FILE)), signal);
  }

  /** At start-up: captures whose offers died with the previous process. */
  sweepCaptures(): Promise<void> {
    return sweepCaptures(join(this.#o.dataDir, 'vms'), this.#o.logger);
  }

  // ---- volumes (see vm-volumes.ts) ----

  /** Attaches a volume to a running (hot-plug) or powered-off VM; its file is made on first use. Idempotent. */
  attachVolume(id: string, input: unknown, signal?: AbortSignal): Promise<AgentVmReport> {
    const r = volumeAttachmentSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('volume', zodIssues(r.error)));
    const v = r.data;
    return this.#locked(id, async () => attachVmVolume(await this.#volumeHost(id), v, signal), signal);
  }

  /** Detaches a volume from a running (hot-unplug) or powered-off VM; its file stays. Idempotent. */
  detachVolume(id: string, volumeId: string, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.#locked(id, async () => detachVmVolume(await this.#volumeHost(id), volumeId, signal), signal);
  }

  /** Deletes a volume's file from this host; refused while a VM here lists it. */
  async deleteVolume(volumeId: string): Promise<void> {
    const r = volumeIdSchema.safeParse(volumeId);
    if (!r.success) throw new ValidationError('volume', zodIssues(r.error));
    const ids = await readdir(join(this.#o.dataDir, 'vms')).catch(() => [] as string[]);
    const specs: { id: string; spec: AgentVmSpec }[] = [];
    for (const vmId of ids) {
      if (!isVmId(vmId)) continue;
      // An unusable record throws: whether that VM lists the volume cannot be told, so the file stays.
      const spec = await this.#readSpec(vmId);
      if (spec) specs.push({ id: vmId, spec });
    }
    await deleteVolumeFile(this.#o.dataDir, r.data, specs, this.#o.logger);
  }

  async #volumeHost(id: string): Promise<VmVolumeHost> {
    await this.#requireSpec(id);
    if (this.offers.isOpen(id)) throw new AgentVmConflictError(id, 'its files are being copied to another host (cold migration)');
    return {
      vmId: id,
      dataDir: this.#o.dataDir,
      hypervisor: this.#o.hypervisor,
      logger: this.#o.logger,
      readSpec: () => this.#requireSpec(id),
      writeSpec: (spec) => this.#writeSpec(id, spec),
      report: () => this.#report(id),
    };
  }

  // ---- NICs attached and detached (see change-vm-nic.ts) ----

  /** Adds a NIC to a running or powered-off VM: spec, config drive, and hot-plug when it runs. Idempotent. */
  attachNic(id: string, input: unknown, signal?: AbortSignal): Promise<AgentVmReport> {
    const r = attachNicRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('NIC', zodIssues(r.error)));
    const nic = r.data;
    return this.#locked(id, async () => attachVmNic(await this.#nicHost(id), nic, signal), signal);
  }

  /** Removes NIC `index` of a running or powered-off VM. Idempotent. */
  detachNic(id: string, index: number, signal?: AbortSignal): Promise<AgentVmReport> {
    return this.#locked(id, async () => detachVmNic(await this.#nicHost(id), index, signal), signal);
  }

  async #nicHost(id: string): Promise<VmNicHost> {
    await this.#requireSpec(id);
    // The config drive is one of the files a peer may be copying.
    if (this.offers.isOpen(id)) throw new NicChangeConflictError(id, 'its files are being copied to another host (cold migration)');
    return {
      vmId: id,
      hypervisor: this.#o.hypervisor,
      logger: this.#o.logger,
      readSpec: () => this.#requireSpec(id),
      writeSpec: (spec) => this.#writeSpec(id, spec),
      buildConfigDrive: (spec, signal) => this.#buildConfigDrive(id, spec, this.#files(id, spec).iso, signal),
      report: () => this.#report(id),
      hvNic: (n, index) => this.#hvNic(id, n, index),
    };
  }

  async get(id: string): Promise<AgentVmReport> {
    await this.#requireSpec(id);
    return this.#report(id, false);
  }

  /** What the heartbeat sends: never waits for a VM's lock, and one VM's unusable record does not hide the others. */
  async list(): Promise<AgentVmReport[]> {
    const ids = await readdir(join(this.#o.dataDir, 'vms')).catch(() => [] as string[]);
    const out: AgentVmReport[] = [];
    for (const id of ids) {
      if (!isVmId(id)) continue;
      // A VM whose record is unusable is still reported: its QEMU may run, and a missing VM looks lost to the controller.
      const held = await this.#readSpec(id).then(
        (spec) => spec !== undefined,
        (err: unknown) => {
          this.#o.logger.error({ vmId: id, err: errorMessage(err) }, 'vm record unusable');
          return true;
        },
      );
      if (held) out.push(await this.#report(id, false));
    }
    return out;
  }

  async consoleLog(id: string, maxBytes = 65536): Promise<string> {
    await this.#requireSpec(id);
    const path = this.#o.hypervisor.consoles?.logPath(id);
    const log = path === undefined ? '' : await readFile(path, 'utf8').catch(() => '');
    return log.slice(-maxBytes);
  }

  /** The VM's console socket, for an interactive attach. */
  async consoleSocket(id: string): Promise<string> {
    await this.#requireSpec(id);
    const path = this.#o.hypervisor.consoles?.socketPath(id);
    if (path === undefined) throw new ConsoleUnavailableError(id, 'this hypervisor has no interactive console');
    return path;
  }

  /**
   * Reconnects to the VMs still running from before a restart. A destination
   * copy found running was activated (only `activate` runs a copy that came
   * in paused, and only after the commit): its activation is finished here,
   * so that it is no longer treated as incoming.
   */
  async adopt(): Promise<VmStatus[]> {
    const adopted = await this.#o.hypervisor.adopt();
    for (const vm of adopted) {
      if (vm.state !== 'running' || !(await this.#readIncoming(vm.id))) continue;
      await this.activate(vm.id).catch((err: unknown) => this.#o.logger.warn({ vmId: vm.id, err }, 'could not finish the activation of an adopted VM'));
    }
    return adopted;
  }

  /** The files of a VM's disk and config drive, local or on the shared datastore. */
  #files(id: string, spec: AgentVmSpec): { disk: string; iso: string; sharedDir?: string } {
    if (spec.disk.datastore === 'shared') {
      if (this.#o.sharedDir === undefined) throw new AgentMigrationError(id, 'this host has no shared datastore (--shared-dir)');
      const dir = join(this.#o.sharedDir, 'vms', checkVmId(id));
      return { disk: join(dir, 'disk.qcow2'), iso: join(dir, 'cidata.iso'), sharedDir: dir };
    }
    const p = vmDir(this.#o.dataDir, id);
    return { disk: p.disk, iso: p.iso };
  }

  #imagesFor(spec: AgentVmSpec): ImageCache {
    if (spec.disk.datastore !== 'shared') return this.#o.images;
    if (!this.#o.sharedImages) throw new AgentMigrationError('-', 'this host has no shared datastore (--shared-dir)');
    return this.#o.sharedImages;
  }

  /** Fetches the disk's base image (into the cache of the VM's datastore), kernel and initrd; returns the base's path. */
  async #ensureImages(spec: AgentVmSpec, signal?: AbortSignal): Promise<string> {
    const base = await this.#imagesFor(spec).ensure(spec.disk.image, signal);
    if (spec.kernel) await this.#o.images.ensure(spec.kernel, signal);
    if (spec.initrd) await this.#o.images.ensure(spec.initrd, signal);
    return base;
  }

  async #buildConfigDrive(id: string, spec: AgentVmSpec, iso: string, signal?: AbortSignal): Promise<void> {
    await buildConfigDrive(iso, {
      instanceId: id,
      hostname: spec.context.hostname,
      nics: spec.nics.flatMap((n) => (n.address === undefined ? [] : [{ mac: n.mac, addresses: [n.address], ...(n.gateway ? { gateway: n.gateway } : {}), ...(n.dns ? { dns: n.dns } : {}) }])),
      ...(spec.context.userData !== undefined ? { userData: spec.context.userData } : {}),
      ...(spec.context.sshAuthorizedKeys ? { sshAuthorizedKeys: spec.context.sshAuthorizedKeys } : {}),
    }, { ...(signal ? { signal } : {}) });
  }

  async #writeSpec(id: string, spec: AgentVmSpec): Promise<void> {
    const p = vmDir(this.#o.dataDir, id);
    await writeFile(`${p.spec}.tmp`, JSON.stringify(spec));
    await rename(`${p.spec}.tmp`, p.spec);
  }

  /** Undefined only when there is no marker; an unusable one is an UnreadableFileError. */
  async #readIncoming(id: string): Promise<IncomingMarker | undefined> {
    return readJsonFile(vmDir(this.#o.dataDir, id).incoming, incomingMarkerSchema, 'incoming-migration marker');
  }

  /**
   * Undefined only when this host holds no such VM (no record, ENOENT). A
   * record that exists but cannot be read or is not a valid spec is an
   * UnreadableFileError: taken for "absent", it would let a prepare or an
   * incoming migration delete the VM's disk.
   */
  async #readSpec(id: string): Promise<AgentVmSpec | undefined> {
    return readJsonFile(vmDir(this.#o.dataDir, id).spec, agentVmSpecSchema, 'VM record');
  }

  /** Refuses to prepare over files this host has no record for: whose they are (another host's on the shared datastore, an interrupted call's) is unknown. */
  async #refuseFilesNotMade(id: string, dirs: readonly string[]): Promise<void> {
    for (const dir of dirs) {
      const names = await readdir(dir).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      });
      if (names.length > 0) {
        throw new AgentVmConflictError(id, `${dir} holds ${names.slice(0, 5).join(', ')} but this host has no record of the VM; refusing to overwrite files it did not make (delete the VM, or remove them, first)`);
      }
    }
  }

  async #requireSpec(id: string): Promise<AgentVmSpec> {
    const spec = await this.#readSpec(id);
    if (!spec) throw new VmNotFoundError(id);
    return spec;
  }

  /** `locked`: the caller holds the VM's lock (the default); a heartbeat or a GET does not. */
  async #report(id: string, locked = true): Promise<AgentVmReport> {
    const incoming = await this.#readIncoming(id);
    const mark = incoming ? { incomingMigrationId: incoming.migrationId } : {};
    try {
      const s = await this.#o.hypervisor.status(id);
      if (s.state === 'shutoff') {
        // The guest powered itself off: release the driver's leftovers, keep the disks. Only under the lock: a
        // destroy from outside it could end the QEMU that a start running meanwhile has just made in its place.
        if (locked) await this.#o.hypervisor.destroy(id);
        else this.#releaseShutoff(id);
        return { id, state: 'poweroff', ...mark };
      }
      return { id, state: s.state, ...(s.pid !== undefined ? { pid: s.pid } : {}), ...(s.reason !== undefined ? { reason: s.reason } : {}), ...mark };
    } catch (err) {
      if (!(err instanceof VmNotFoundError)) throw err;
    }
    // A destination copy whose QEMU is gone never held the VM: it is not a powered-off VM.
    if (incoming) return { id, state: 'crashed', reason: 'the incoming migration ended without the VM', ...mark };
    const p = vmDir(this.#o.dataDir, id);
    if (await stat(p.state).then(() => true, () => false)) return { id, state: 'suspended' };
    return { id, state: 'poweroff' };
  }

  /** Later, under the VM's lock: releases a powered-off guest's driver leftovers if it is still off by then. */
  #releaseShutoff(id: string): void {
    if (this.#releasing.has(id)) return;
    this.#releasing.add(id);
    void this.#locked(id, async () => {
      const s = await this.#o.hypervisor.status(id).catch(() => undefined);
      if (s?.state === 'shutoff') await this.#o.hypervisor.destroy(id);
    })
      .catch((err: unknown) => this.#o.logger.warn({ vmId: id, err: errorMessage(err) }, 'releasing a powered-off VM failed'))
      .finally(() => this.#releasing.delete(id));
  }

  /**
   * NIC `index` of the VM on this host. Its id, TAP and PCI slot follow the
   * index, never the NIC's position: a NIC that was hot-plugged, or that
   * stayed when another was detached, is the same device in the next boot and
   * on a migration's destination.
   */
  #hvNic(id: string, n: AgentVmSpec['nics'][number], index: number): NicSpecInput {
    const pciSlot = NIC_PCI_SLOT + index;
    return n.bridge !== undefined
      ? { kind: 'tap', id: `nic${index}`, mac: n.mac, ifname: tapName(id, index), bridge: n.bridge, ...(n.vlan !== undefined ? { vlan: n.vlan } : {}), pciSlot }
      : // No bridge on this host: a NIC on a private, isolated user-mode subnet, so the guest still has one.
        { kind: 'user', id: `nic${index}`, mac: n.mac, net: '198.18.250.0/24', pciSlot };
  }

  /** The hypervisor spec for a prepared VM: its disk, config drive, kernel and NICs on this host. */
  #hvSpec(id: string, spec: AgentVmSpec): VmSpecInput {
    const files = this.#files(id, spec);
    const images = this.#o.images;
    return {
      id,
      vcpus: spec.vcpus,
      memoryMiB: spec.memoryMiB,
      cpuModel: spec.cpuModel,
      boot: spec.kernel
        ? { kind: 'kernel', kernel: images.pathOf(spec.kernel), ...(spec.initrd ? { initrd: images.pathOf(spec.initrd) } : {}), ...(spec.cmdline !== undefined ? { cmdline: spec.cmdline } : {}) }
        : { kind: 'disk' },
      // With -kernel, QEMU's linuxboot ROM takes boot index 0; a boot index only matters for disk boot.
      disks: [{ id: 'root', path: files.disk, format: 'qcow2', ...(spec.kernel ? {} : { bootIndex: 0 }) }, ...(spec.volumes ?? []).map((v) => volumeDisk(this.#o.dataDir, v))],
      configDrive: files.iso,
      nics: spec.nics.map((n, i) => this.#hvNic(id, n, n.index ?? i)),
      ...(this.#o.netns !== undefined ? { netns: this.#o.netns } : {}),
    };
  }
}

