import { stat } from 'node:fs/promises';
import type { WaitOptions } from '../util/deadline.js';
import { InvalidVmIdError, isVmId } from '../core/vm-id.js';
import { ValidationError } from '../errors/validation-error.js';
import type { Driver } from './driver.js';
import type {
  DiskMove,
  DiskMoveOptions,
  Hypervisor,
  HypervisorConsoles,
  HypervisorDisks,
  HypervisorNics,
  HypervisorSnapshots,
  RebootOptions,
  RebootResult,
  SaveResult,
  ShutdownResult,
  StartOptions,
  VmRunState,
  VmStats,
  VmStatus,
} from './hypervisor.js';
import type { LiveMigration } from './live-migration.js';
import { DIRTY_RATE_CALC_TIME_S, type DirtyRateMeter } from './dirty-rate-meter.js';
import { VmExistsError, VmNotFoundError, VmStateError } from './hypervisor-errors.js';
import { parseDiskSpec, parseNicSpec, parseVmSpec, type VmSpec } from './vm-spec.js';
import { checkDiskFile, checkSpecFiles, checkWritablePath } from './check-spec-files.js';
import { nicConflicts } from './nic-conflicts.js';
import { checkDiskAttach, checkDiskMove, checkSnapshotDisk, diskOf } from './device-checks.js';

export interface RuntimeHypervisorOptions {
  /** Directories VM files may live in (datastores, image cache). */
  readonly allowedDirs: readonly string[];
  /** Whether the files a spec or disk names must exist there (the fake's scale tests use paths that do not exist). Default true. */
  readonly checkFiles?: boolean | undefined;
}

const LIVE: readonly VmRunState[] = ['running', 'paused'];

/**
 * The one Hypervisor every driver is used through (after Kysely's
 * RuntimeDriver, which wraps a dialect's Driver): it enforces the seam's
 * invariants once, so no driver keeps a copy of them — raw input parsed and
 * its files confined to the allowed directories; a VM id claimed before the
 * first await of its launch (a second start of the same id is a
 * VmExistsError, never a second process on the same files); ids that cannot
 * name a VM never reach a driver (they build paths from them); every action
 * allowed only from the run states that permit it (never `resume` a
 * postmigrate copy); hot-plugged devices free of conflicts.
 */
export class RuntimeHypervisor implements Hypervisor {
  readonly kind: string;
  readonly kvm: boolean;
  readonly disks: HypervisorDisks | undefined;
  readonly nics: HypervisorNics | undefined;
  readonly snapshots: HypervisorSnapshots | undefined;
  readonly migration: LiveMigration | undefined;
  readonly consoles: HypervisorConsoles | undefined;
  readonly dirtyRate: DirtyRateMeter | undefined;
  readonly #driver: Driver;
  readonly #allowedDirs: readonly string[];
  readonly #checkFiles: boolean;
  /** Ids whose launch is under way: claimed before the first await. */
  readonly #launching = new Set<string>();

  constructor(driver: Driver, opts: RuntimeHypervisorOptions) {
    this.#driver = driver;
    this.kind = driver.kind;
    this.kvm = driver.kvm;
    this.#allowedDirs = opts.allowedDirs;
    this.#checkFiles = opts.checkFiles ?? true;
    this.disks = driver.disks === undefined ? undefined : this.#disks(driver.disks);
    this.nics = driver.nics === undefined ? undefined : this.#nics(driver.nics);
    this.snapshots = driver.snapshots === undefined ? undefined : this.#snapshots(driver.snapshots);
    this.migration = driver.migration === undefined ? undefined : this.#migration(driver.migration);
    const meter = driver.dirtyRate;
    this.dirtyRate = meter === undefined ? undefined : {
      measure: async (vmId, calcTimeS, opts = {}) => {
        const { min, max } = DIRTY_RATE_CALC_TIME_S;
        if (!Number.isInteger(calcTimeS) || calcTimeS < min || calcTimeS > max) {
          throw new ValidationError('dirty rate', [{ field: 'calcTimeS', message: `must be a whole number of seconds from ${min} to ${max}` }]);
        }
        // Sampling compares page contents over time: a paused guest would measure zero and mislead the planner.
        await this.#require(vmId, 'measure the dirty rate of', ['running'], opts);
        return meter.measure(vmId, calcTimeS, opts);
      },
    };
    const consoles = driver.consoles;
    this.consoles = consoles === undefined ? undefined : {
      logPath: (vmId) => consoles.logPath(validId(vmId)),
      socketPath: (vmId) => consoles.socketPath(validId(vmId)),
    };
  }

  start(input: unknown, opts: StartOptions = {}): Promise<VmStatus> {
    return this.#launch(input, undefined, (spec) => this.#driver.start(spec, opts));
  }

  restore(input: unknown, statePath: string, opts: StartOptions = {}): Promise<VmStatus> {
    return this.#launch(input, statePath, (spec) => this.#driver.restore(spec, statePath, opts));
  }

  async status(vmId: string, opts: WaitOptions = {}): Promise<VmStatus> {
    return this.#driver.status(known(vmId), opts);
  }

  list(opts: WaitOptions = {}): Promise<VmStatus[]> {
    return this.#driver.list(opts);
  }

  adopt(opts: WaitOptions = {}): Promise<VmStatus[]> {
    return this.#driver.adopt(opts, this.#launching);
  }

  async shutdown(vmId: string, opts: WaitOptions = {}): Promise<ShutdownResult> {
    return this.#driver.shutdown(known(vmId), opts);
  }

  async reboot(vmId: string, opts: RebootOptions = {}): Promise<RebootResult> {
    await this.#require(vmId, 'reboot', LIVE, opts);
    return this.#driver.reboot(vmId, opts);
  }

  async pause(vmId: string, opts: WaitOptions = {}): Promise<void> {
    await this.#require(vmId, 'pause', ['running'], opts);
    await this.#driver.pause(vmId, opts);
  }

  async resume(vmId: string, opts: WaitOptions = {}): Promise<void> {
    // Only `paused`: QEMU would also `cont` a postmigrate source, and then two copies would run.
    await this.#require(vmId, 'resume', ['paused'], opts);
    await this.#driver.resume(vmId, opts);
  }

  async destroy(vmId: string, opts: WaitOptions = {}): Promise<void> {
    // No VM can have an id like that, and destroy is idempotent.
    if (!isVmId(vmId)) return;
    await this.#driver.destroy(vmId, opts);
  }

  async save(vmId: string, statePath: string, opts: WaitOptions = {}): Promise<SaveResult> {
    await checkWritablePath('statePath', statePath, this.#allowedDirs);
    // postmigrate too: a save the agent did not see to its end leaves QEMU so, and the suspend's retry finishes it (the
    // driver refuses a live migration's source, whose memory runs elsewhere).
    await this.#require(vmId, 'save', [...LIVE, 'postmigrate'], opts);
    return this.#driver.save(vmId, statePath, opts);
  }

  async stats(vmId: string, opts: WaitOptions = {}): Promise<VmStats> {
    const { state } = await this.status(vmId, opts);
    if (state === 'crashed' || state === 'shutoff') throw new VmStateError(vmId, 'read stats of', state);
    return this.#driver.stats(vmId, opts);
  }

  close(): Promise<void> {
    return this.#driver.close();
  }

  /** Parses and admits a spec, holding its id from before the first await until the driver's launch settled. */
  async #launch<T>(input: unknown, statePath: string | undefined, launch: (spec: VmSpec) => Promise<T>): Promise<T> {
    const spec = parseVmSpec(input);
    if (this.#driver.has(spec.id) || this.#launching.has(spec.id)) throw new VmExistsError(spec.id);
    this.#launching.add(spec.id);
    try {
      if (this.#checkFiles) await checkSpecFiles(spec, this.#allowedDirs);
      if (statePath !== undefined) await this.#checkStateFile(statePath);
      return await launch(spec);
    } finally {
      this.#launching.delete(spec.id);
    }
  }

  async #checkStateFile(path: string): Promise<void> {
    await checkWritablePath('statePath', path, this.#allowedDirs);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) throw new ValidationError('path', [{ field: 'statePath', message: `saved state ${path} does not exist` }]);
  }

  /** The VM's current spec once its run state allows `action`. */
  async #require(vmId: string, action: string, allowed: readonly VmRunState[], opts: WaitOptions): Promise<VmSpec> {
    const { state } = await this.#driver.status(known(vmId), opts);
    if (!allowed.includes(state)) {
      throw new VmStateError(vmId, action, state, state === 'postmigrate' ? 'its memory was migrated away; resuming it would run two copies' : `allowed from ${allowed.join(', ')}`);
    }
    return this.#driver.specOf(vmId);
  }

  #disks(d: NonNullable<Driver['disks']>): HypervisorDisks {
    const move = d.move?.bind(d);
    const backup = d.backup?.bind(d);
    const pathOf = d.pathOf?.bind(d);
    return {
      attach: async (vmId, input, opts = {}) => {
        const disk = parseDiskSpec(input);
        const spec = await this.#require(vmId, 'attach a disk to', LIVE, opts);
        checkDiskAttach(spec, disk);
        if (this.#checkFiles) await checkDiskFile(disk.path, this.#allowedDirs);
        parseVmSpec({ ...spec, disks: [...spec.disks, disk] });
        await d.attach(vmId, disk, opts);
      },
      detach: async (vmId, diskId, opts = {}) => {
        diskOf(await this.#require(vmId, 'detach a disk from', LIVE, opts), diskId, 'disk');
        await d.detach(vmId, diskId, opts);
      },
      ...(pathOf === undefined ? {} : { pathOf: (vmId: string, diskId: string) => (isVmId(vmId) ? pathOf(vmId, diskId) : undefined) }),
      ...(move === undefined ? {} : {
        move: async (vmId: string, diskId: string, m: DiskMove, opts: DiskMoveOptions = {}) => {
          checkDiskMove(await this.#require(vmId, 'move a disk of', LIVE, opts), diskId, m);
          await checkDiskFile(m.path, this.#allowedDirs);
          await move(vmId, diskId, m, opts);
        },
      }),
      ...(backup === undefined ? {} : {
        backup: async (vmId: string, diskId: string, targetPath: string, opts: WaitOptions = {}) => {
          diskOf(await this.#require(vmId, 'back up a disk of', LIVE, opts), diskId, 'disk backup');
          if (this.#checkFiles) await checkDiskFile(targetPath, this.#allowedDirs);
          await backup(vmId, diskId, targetPath, opts);
        },
      }),
    };
  }

  #nics(n: NonNullable<Driver['nics']>): HypervisorNics {
    return {
      attach: async (vmId, input, opts = {}) => {
        const nic = parseNicSpec(input);
        const spec = await this.#require(vmId, 'attach a NIC to', LIVE, opts);
        const same = spec.nics.find((x) => x.id === nic.id);
        if (same !== undefined && JSON.stringify(same) === JSON.stringify(nic)) return;
        const issues = nicConflicts(spec, nic);
        if (issues.length > 0) throw new ValidationError('NIC spec', issues);
        parseVmSpec({ ...spec, nics: [...spec.nics, nic] });
        await n.attach(vmId, nic, opts);
      },
      detach: async (vmId, nicId, opts = {}) => {
        // Not from `paused`: the guest has to acknowledge the unplug, and a stopped guest cannot.
        const spec = await this.#require(vmId, 'detach a NIC from', ['running'], opts);
        if (!spec.nics.some((x) => x.id === nicId)) return;
        await n.detach(vmId, nicId, opts);
      },
    };
  }

  #snapshots(s: NonNullable<Driver['snapshots']>): HypervisorSnapshots {
    const admit = async (vmId: string, diskId: string, action: string, opts: WaitOptions): Promise<void> => {
      checkSnapshotDisk(await this.#require(vmId, action, LIVE, opts), diskId);
    };
    return {
      create: async (vmId, diskId, name, opts = {}) => {
        await admit(vmId, diskId, 'take a disk snapshot of', opts);
        return s.create(vmId, diskId, name, opts);
      },
      list: async (vmId, diskId, opts = {}) => {
        await admit(vmId, diskId, 'list the disk snapshots of', opts);
        return s.list(vmId, diskId, opts);
      },
      delete: async (vmId, diskId, name, opts = {}) => {
        await admit(vmId, diskId, 'delete a disk snapshot of', opts);
        await s.delete(vmId, diskId, name, opts);
      },
    };
  }

  /** The destination of a live migration is launched like any VM (same admission, same claim); the other steps only need a valid id. */
  #migration(m: LiveMigration): LiveMigration {
    return {
      startIncoming: (input, opts) => this.#launch(input, undefined, (spec) => m.startIncoming(spec, opts)),
      mirrorDisks: async (vmId, opts) => m.mirrorDisks(known(vmId), opts),
      migrateOut: async (vmId, opts) => m.migrateOut(known(vmId), opts),
      migrationStatus: async (vmId, opts) => m.migrationStatus(known(vmId), opts),
      tuneMigration: async (vmId, tuning, opts) => m.tuneMigration(known(vmId), tuning, opts),
      completeMirrors: async (vmId, opts) => m.completeMirrors(known(vmId), opts),
      cancelMigration: async (vmId, opts) => m.cancelMigration(known(vmId), opts),
      resumeSource: async (vmId, opts) => m.resumeSource(known(vmId), opts),
      activateIncoming: async (vmId, opts) => m.activateIncoming(known(vmId), opts),
    };
  }
}

/** An id no VM can have is one the driver does not hold. */
function known(vmId: string): string {
  if (!isVmId(vmId)) throw new VmNotFoundError(vmId);
  return vmId;
}

/** For calls that build a path from the id and return it at once. */
function validId(vmId: string): string {
  if (!isVmId(vmId)) throw new InvalidVmIdError(vmId);
  return vmId;
}
