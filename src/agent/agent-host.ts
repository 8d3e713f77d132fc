import type { Logger } from 'pino';
import type { Hypervisor } from '../hypervisor/hypervisor.js';
import { VmNotFoundError } from '../hypervisor/hypervisor-errors.js';
import { errorMessage } from '../errors/nubo-error.js';
import { buildConfigDrive } from '../storage/config-drive.js';
import { MeasurementsInFlight } from './measurements-in-flight.js';
import type { AgentVmReport, AgentVmSpec } from '../contract/agent-api.js';
import { AgentConflictError } from './agent-conflict-error.js';
import { AgentMigrationError } from './agent-migration-error.js';
import { ColdReceiver } from './cold-receiver.js';
import { DiskMoves } from './disk-moves.js';
import { hypervisorNic, hypervisorVmSpec } from './hypervisor-vm-spec.js';
import type { ImageCache } from './image-cache.js';
import { TransferOffers } from '../transfer/transfer-offers.js';
import type { VmHost } from './vm-host.js';
import { VmLocks } from './vm-locks.js';
import { VmRecordStore } from './vm-record-store.js';
import { VmFirewalls } from './vm-firewalls.js';
import { OverlayBlanks } from '../storage/overlay-blanks.js';

export interface AgentHostOptions {
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
  /** false: a cold copy from an agent on this machine goes over the network too (tests of that path); default: the kernel copies it. */
  readonly localCopies?: boolean | undefined;
  /**
   * Makes a VM's disk from its cached base image; default: `qemu-img` (an
   * overlay, or a full copy). A fake fleet of many hosts in one process
   * passes its own, so that a prolog spawns no process.
   */
  readonly makeDisk?: MakeDisk | undefined;
}

/** What `makeDisk` is asked for: the disk at `target`, from `base`. */
export type MakeDisk = (req: { base: string; baseFormat: 'raw' | 'qcow2'; target: string; mode: 'overlay' | 'copy'; signal?: AbortSignal | undefined }) => Promise<void>;

/**
 * What every feature of the agent shares on one host: its options, the VM
 * records, the per-VM locks, the open transfer offers, the cold-migration
 * copies and disk moves under way — and the per-VM host object (`vm`) the
 * features work on.
 */
export class AgentHost {
  readonly records: VmRecordStore;
  readonly locks = new VmLocks();
  /** Cold migration and capture, source side: which VM files peers may read now. */
  readonly offers = new TransferOffers();
  /** Cold migration, destination side. */
  readonly receiver: ColdReceiver;
  /** Live storage migration between this host's datastores. */
  readonly diskMoves = new DiskMoves();
  /** The VMs' firewalls (EC2 security groups) on their TAPs. */
  readonly firewalls: VmFirewalls = new VmFirewalls(this);
  /** A provision's overlay is written from its base's blank, not made by a qemu-img process each. */
  readonly overlays = new OverlayBlanks();
  /** Dirty-rate measurements under way (a released source copy waits for its own). */
  readonly measuring = new MeasurementsInFlight();
  /** VMs whose powered-off guest's driver leftovers wait for the VM's lock to be released (see #releaseShutoff). */
  readonly #releasing = new Set<string>();

  constructor(readonly o: AgentHostOptions) {
    this.records = new VmRecordStore(o.dataDir, o.sharedDir);
    this.receiver = new ColdReceiver({ dataDir: o.dataDir, logger: o.logger, localCopies: o.localCopies });
  }

  get hypervisor(): Hypervisor {
    return this.o.hypervisor;
  }

  get logger(): Logger {
    return this.o.logger;
  }

  /** The per-VM host object for `id`; its `report` assumes the caller holds the VM's lock. */
  vm(id: string): VmHost {
    const records = this.records;
    return {
      vmId: id,
      dataDir: this.o.dataDir,
      hypervisor: this.o.hypervisor,
      logger: this.o.logger,
      // Built when used: an id that names no VM is refused there (InvalidVmIdError), not when the object is made.
      get paths() {
        return records.paths(id);
      },
      readSpec: () => this.records.requireSpec(id),
      writeSpec: (spec) => this.records.writeSpec(id, spec),
      report: () => this.report(id),
      files: (spec) => this.records.files(id, spec),
      ensureImages: (spec, signal) => this.ensureImages(spec, signal),
      buildConfigDrive: (spec, iso, signal) => this.buildConfigDrive(id, spec, iso, signal),
      hvNic: (n, index) => hypervisorNic(id, n, index),
      hvSpec: (spec) => hypervisorVmSpec(this.o, id, spec, this.records.files(id, spec), this.records.paths(id).consoleLog),
    };
  }

  /** Refuses a change to the VM's files while a peer copies them (the controller revokes the offer first). */
  refuseWhileCopied(id: string): void {
    if (this.offers.isOpen(id)) throw new AgentConflictError({ vmId: id }, 'being-copied', 'its files are being copied to another host (cold migration)');
  }

  #imagesFor(spec: AgentVmSpec): ImageCache {
    if (spec.disk.datastore !== 'shared') return this.o.images;
    if (!this.o.sharedImages) throw new AgentMigrationError('-', 'this host has no shared datastore (--shared-dir)');
    return this.o.sharedImages;
  }

  /** Fetches the disk's base image (into the cache of the VM's datastore), kernel and initrd; returns the base's path. */
  async ensureImages(spec: AgentVmSpec, signal?: AbortSignal): Promise<string> {
    const base = await this.#imagesFor(spec).ensure(spec.disk.image, signal);
    if (spec.kernel) await this.o.images.ensure(spec.kernel, signal);
    if (spec.initrd) await this.o.images.ensure(spec.initrd, signal);
    return base;
  }

  async buildConfigDrive(id: string, spec: AgentVmSpec, iso: string, signal?: AbortSignal): Promise<void> {
    await buildConfigDrive(iso, {
      instanceId: id,
      hostname: spec.context.hostname,
      nics: spec.nics.flatMap((n) => (n.address === undefined ? [] : [{ mac: n.mac, addresses: [n.address], ...(n.gateway ? { gateway: n.gateway } : {}), ...(n.dns ? { dns: n.dns } : {}) }])),
      ...(spec.context.userData !== undefined ? { userData: spec.context.userData } : {}),
      ...(spec.context.sshAuthorizedKeys ? { sshAuthorizedKeys: spec.context.sshAuthorizedKeys } : {}),
    }, { ...(signal ? { signal } : {}) });
  }

  /** `locked`: the caller holds the VM's lock (the default); a heartbeat or a GET does not. */
  async report(id: string, locked = true): Promise<AgentVmReport> {
    const incoming = await this.records.readIncoming(id);
    const mark = incoming ? { incomingMigrationId: incoming.migrationId } : {};
    try {
      const s = await this.o.hypervisor.status(id);
      if (s.state === 'shutoff') {
        // The guest powered itself off: release the driver's leftovers, keep the disks. Only under the lock: a
        // destroy from outside it could end the QEMU that a start running meanwhile has just made in its place.
        if (locked) await this.o.hypervisor.destroy(id);
        else this.#releaseShutoff(id);
        return { id, state: 'poweroff', ...mark };
      }
      return { id, state: s.state, ...(s.pid !== undefined ? { pid: s.pid } : {}), ...(s.reason !== undefined ? { reason: s.reason } : {}), ...mark };
    } catch (err) {
      if (!(err instanceof VmNotFoundError)) throw err;
    }
    // A destination copy whose QEMU is gone never held the VM: it is not a powered-off VM.
    if (incoming) return { id, state: 'crashed', reason: 'the incoming migration ended without the VM', ...mark };
    if ((await this.records.savedState(id)) !== undefined) return { id, state: 'suspended' };
    return { id, state: 'poweroff' };
  }

  /** Later, under the VM's lock: releases a powered-off guest's driver leftovers if it is still off by then. */
  #releaseShutoff(id: string): void {
    if (this.#releasing.has(id)) return;
    this.#releasing.add(id);
    void this.locks.run(id, async () => {
      const s = await this.o.hypervisor.status(id).catch(() => undefined);
      if (s?.state === 'shutoff') await this.o.hypervisor.destroy(id);
    })
      .catch((err: unknown) => this.o.logger.warn({ vmId: id, err: errorMessage(err) }, 'releasing a powered-off VM failed'))
      .finally(() => this.#releasing.delete(id));
  }
}
