import type { WaitOptions } from '../util/deadline.js';
import type { DiskSpec, NicSpec, VmSpec } from './vm-spec.js';
import type { DiskSnapshot } from './disk-snapshot.js';
import type { LiveMigration } from './live-migration.js';
import type { DirtyRateMeter } from './dirty-rate-meter.js';
import type { DiskMove, DiskMoveOptions, HypervisorConsoles, RebootOptions, RebootResult, SaveResult, ShutdownResult, StartOptions, VmStats, VmStatus } from './hypervisor.js';

/**
 * What one virtualisation technology implements (after Kysely's Driver, which
 * its RuntimeDriver wraps): the mechanics only. Every input has already been
 * checked by the RuntimeHypervisor in front of it — specs parsed, files inside
 * the allowed directories, the id free and claimed, the VM in a state that
 * allows the action, device ids free — so a driver holds no copy of those
 * rules. A driver still throws VmNotFoundError for a VM it does not hold.
 */
export interface Driver {
  readonly kind: string;
  readonly kvm: boolean;

  /** Whether a VM with this id is on the host (a start of it would collide). */
  has(vmId: string): boolean;
  /** The spec the VM runs with now (hot-plugged devices included); VmNotFoundError when it is not held. */
  specOf(vmId: string): VmSpec;

  start(spec: VmSpec, opts: StartOptions): Promise<VmStatus>;
  /** `statePath` is an existing file in an allowed directory. */
  restore(spec: VmSpec, statePath: string, opts: StartOptions): Promise<VmStatus>;
  status(vmId: string, opts: WaitOptions): Promise<VmStatus>;
  list(opts: WaitOptions): Promise<VmStatus[]>;
  /** `claimed`: ids being launched right now, which are not the previous process's to adopt. */
  adopt(opts: WaitOptions, claimed: ReadonlySet<string>): Promise<VmStatus[]>;
  shutdown(vmId: string, opts: WaitOptions): Promise<ShutdownResult>;
  /** The VM is running or paused. */
  reboot(vmId: string, opts: RebootOptions): Promise<RebootResult>;
  /** The VM is running. */
  pause(vmId: string, opts: WaitOptions): Promise<void>;
  /** The VM is paused (never postmigrate). */
  resume(vmId: string, opts: WaitOptions): Promise<void>;
  destroy(vmId: string, opts: WaitOptions): Promise<void>;
  /** The VM is running or paused; `statePath` lies in an allowed directory. */
  save(vmId: string, statePath: string, opts: WaitOptions): Promise<SaveResult>;
  /** The VM has a process (neither crashed nor shut off). */
  stats(vmId: string, opts: WaitOptions): Promise<VmStats>;
  close(): Promise<void>;

  readonly disks?: DriverDisks | undefined;
  readonly nics?: DriverNics | undefined;
  readonly snapshots?: DriverSnapshots | undefined;
  /** `startIncoming` gets a spec already admitted like `start`'s; the other steps are the driver's own. */
  readonly migration?: LiveMigration | undefined;
  /** Only ever given valid VM ids. */
  readonly consoles?: HypervisorConsoles | undefined;
  /** Given a running VM and a checked measuring time. */
  readonly dirtyRate?: DirtyRateMeter | undefined;
}

/** Every call but `pathOf` comes with the VM running or paused and the disk checked (see RuntimeHypervisor). */
export interface DriverDisks {
  /** A disk whose bus can be hot-plugged, whose id is free and whose file is allowed. */
  attach(vmId: string, disk: DiskSpec, opts: WaitOptions): Promise<void>;
  /** A disk the VM has. */
  detach(vmId: string, diskId: string, opts: WaitOptions): Promise<void>;
  pathOf?(vmId: string, diskId: string): string | undefined;
  /** A writable disk the VM has, to an allowed file it is not on yet. */
  move?(vmId: string, diskId: string, move: DiskMove, opts: DiskMoveOptions): Promise<void>;
  /** A disk the VM has, into an allowed file. */
  backup?(vmId: string, diskId: string, targetPath: string, opts: WaitOptions): Promise<void>;
}

export interface DriverNics {
  /** The VM is running or paused; the NIC is new and conflicts with none of its devices. */
  attach(vmId: string, nic: NicSpec, opts: WaitOptions): Promise<void>;
  /** The VM is running and has the NIC. */
  detach(vmId: string, nicId: string, opts: WaitOptions): Promise<void>;
}

/** The VM is running or paused and the disk a writable qcow2 disk it has. */
export interface DriverSnapshots {
  create(vmId: string, diskId: string, name: string, opts: WaitOptions): Promise<DiskSnapshot>;
  list(vmId: string, diskId: string, opts: WaitOptions): Promise<DiskSnapshot[]>;
  delete(vmId: string, diskId: string, name: string, opts: WaitOptions): Promise<void>;
}
