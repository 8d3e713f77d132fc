import type { DiskSpec, VmSpec } from './vm-spec.js';
import type { WaitOptions } from '../util/deadline.js';
import type { LiveMigration } from './live-migration.js';
import type { DirtyRateMeter } from './dirty-rate-meter.js';
import type { DiskSnapshot } from './disk-snapshot.js';

/**
 * What the agent drives a virtualisation technology through. Small on
 * purpose (after Kysely's Driver): the life cycle every driver has is a
 * method; what only some can do is a capability object (`disks`, `nics`,
 * `snapshots`, `migration`, `consoles`) that is absent when the driver lacks
 * it. Inputs are raw (`unknown`-shaped specs are validated inside), so every
 * driver rejects the same bad input the same way: a `RuntimeHypervisor`
 * enforces those rules once over a technology's `Driver` (driver.ts).
 */
export interface Hypervisor {
  /** 'qemu' or 'fake'. */
  readonly kind: string;
  /** Hardware acceleration in use; false means software emulation (TCG). */
  readonly kvm: boolean;

  /** Validates the spec and the files it names, then starts the VM (paused if asked). */
  start(spec: unknown, opts?: StartOptions): Promise<VmStatus>;
  /** Starts the VM from memory state written by `save`; it resumes where it was. */
  restore(spec: unknown, statePath: string, opts?: StartOptions): Promise<VmStatus>;
  /** Run state of one VM; throws VmNotFoundError for an id the driver does not hold. */
  status(vmId: string, opts?: WaitOptions): Promise<VmStatus>;
  /** Every VM the driver holds, including ones that exited but were not destroyed yet. */
  list(opts?: WaitOptions): Promise<VmStatus[]>;
  /**
   * Takes over the VMs an earlier process of this driver left running (same
   * run directory): reconnects to them and returns them. Dead ones are reported
   * as `crashed`.
   */
  adopt(opts?: WaitOptions): Promise<VmStatus[]>;

  /** ACPI power-down; waits for the guest to power off, then forces it. */
  shutdown(vmId: string, opts?: WaitOptions): Promise<ShutdownResult>;
  /**
   * Reboots the guest in the same VM (process, devices, TAPs stay): asks it
   * over ACPI to shut down, waits up to `graceMs` for it to do so — so what it
   * wrote reaches its disks — then starts it again. A guest that does not
   * shut down in time, or `hard`, is reset at once (no shutdown: unwritten
   * data is lost); the result says which happened.
   */
  reboot(vmId: string, opts?: RebootOptions): Promise<RebootResult>;
  pause(vmId: string, opts?: WaitOptions): Promise<void>;
  /** Resumes a paused VM. Refuses a VM whose memory moved away (postmigrate): two copies would run. */
  resume(vmId: string, opts?: WaitOptions): Promise<void>;
  /** Ends the VM at once and releases everything the driver made for it (process, sockets, TAPs). Idempotent. */
  destroy(vmId: string, opts?: WaitOptions): Promise<void>;
  /** Writes the VM's memory and device state to `statePath`, then ends the VM (disks are left as they are). */
  save(vmId: string, statePath: string, opts?: WaitOptions): Promise<SaveResult>;
  /** Usage counters of a running or paused VM, read now: the agent's metrics sampler turns two readings into rates. */
  stats(vmId: string, opts?: WaitOptions): Promise<VmStats>;

  /** Disk hot-plug (and, where the driver can, live storage migration and live backup); absent when the driver cannot change a running VM's disks. */
  readonly disks?: HypervisorDisks | undefined;
  /** NIC hot-plug; absent when the driver cannot change a running VM's NICs. */
  readonly nics?: HypervisorNics | undefined;
  /** Disk snapshots of a running or paused VM; absent when the driver cannot take them. */
  readonly snapshots?: HypervisorSnapshots | undefined;
  /** Live migration; absent when the driver cannot live-migrate. */
  readonly migration?: LiveMigration | undefined;
  /** Serial consoles; absent for drivers that have none. */
  readonly consoles?: HypervisorConsoles | undefined;
  /** How fast a running VM dirties memory (the migration planner's input); absent when the driver cannot measure it. */
  readonly dirtyRate?: DirtyRateMeter | undefined;

  /** Lets go of the driver's connections; the VMs keep running (see `adopt`). */
  close(): Promise<void>;
}

export interface HypervisorDisks {
  /** Hot-plugs a disk (a DiskSpec). Its device id must be free, its file exist in an allowed directory. */
  attach(vmId: string, disk: unknown, opts?: WaitOptions): Promise<void>;
  /** Unplugs the disk once the guest released it; a ValidationError for a disk the VM does not have. */
  detach(vmId: string, diskId: string, opts?: WaitOptions): Promise<void>;
  /** The file a running VM's disk is now (it changes with `move`); undefined for a VM or disk the driver does not hold. Absent when the driver does not track it. */
  pathOf?(vmId: string, diskId: string): string | undefined;
  /**
   * Optional (live storage migration): moves a running VM's disk to another
   * file while the guest runs on. The guest stays on the old file until the
   * copy is in sync and the switch-over is done; a failure or an abort leaves
   * it there (the caller removes the file it made). The caller deletes the
   * old file afterwards.
   */
  move?(vmId: string, diskId: string, move: DiskMove, opts?: DiskMoveOptions): Promise<void>;
  /**
   * Optional (save as image, clone, export of a running VM): copies the disk
   * of a running or paused VM, as it is at the call, into `targetPath` while
   * the guest runs on — crash-consistent at that instant, its backing chain
   * flattened. The caller makes the target (an empty qcow2 of the disk's
   * virtual size) and removes it after a failure; the guest is never touched.
   */
  backup?(vmId: string, diskId: string, targetPath: string, opts?: WaitOptions): Promise<void>;
}

export interface HypervisorNics {
  /**
   * Hot-plugs a NIC (a NicSpec; for a TAP NIC the driver makes the TAP, as at
   * start, and removes it on destroy). Idempotent: the same NIC again is a
   * no-op; another NIC with its id, MAC, TAP or PCI slot is a ValidationError.
   */
  attach(vmId: string, nic: unknown, opts?: WaitOptions): Promise<void>;
  /** Unplugs the NIC once the guest released it, then removes its TAP. Idempotent: a NIC that is not there is fine. */
  detach(vmId: string, nicId: string, opts?: WaitOptions): Promise<void>;
}

/**
 * Disk snapshots of a running or paused VM: qcow2 internal snapshots inside
 * the disk's own file, taken while the guest runs on. A VM at rest has no
 * driver state; its snapshots are its file's (qemu-img). Create refuses a
 * name the disk has (DiskSnapshotExistsError); delete an unknown one
 * (DiskSnapshotNotFoundError).
 */
export interface HypervisorSnapshots {
  create(vmId: string, diskId: string, name: string, opts?: WaitOptions): Promise<DiskSnapshot>;
  list(vmId: string, diskId: string, opts?: WaitOptions): Promise<DiskSnapshot[]>;
  delete(vmId: string, diskId: string, name: string, opts?: WaitOptions): Promise<void>;
}

export interface HypervisorConsoles {
  /** The file the VM's serial console is logged to. */
  logPath(vmId: string): string;
  /** The unix socket of the VM's serial console (one client at a time), for interactive consoles. */
  socketPath(vmId: string): string;
}

export interface DiskMove {
  /** The new file, made by the caller: an overlay on the same base (`sync: top`) or an empty image of the disk's size (`full`). */
  readonly path: string;
  readonly sync: 'top' | 'full';
  /** Copy rate cap, bytes per second. */
  readonly speedBytes?: number | undefined;
}

export interface DiskMoveOptions extends WaitOptions {
  /** Called while the copy runs: bytes copied of the disk's allocated length, and READY (in sync). */
  readonly onProgress?: ((p: { offset: number; len: number; ready: boolean }) => void) | undefined;
}

export interface StartOptions extends WaitOptions {
  /** Leave the vCPUs stopped after start (QEMU `-S`). */
  readonly paused?: boolean | undefined;
}

/**
 * - running, paused: the VM is there and its vCPUs run / are stopped;
 * - inmigrate: waiting for incoming state; postmigrate: its state was sent away — never resume it;
 * - saving: memory is being written out; error: QEMU stopped it (I/O error, guest panic);
 * - shutoff: the guest powered itself off; crashed: the process vanished unasked.
 */
export type VmRunState = 'running' | 'paused' | 'inmigrate' | 'postmigrate' | 'saving' | 'error' | 'shutoff' | 'crashed';

export interface VmStatus {
  readonly id: string;
  readonly state: VmRunState;
  readonly pid?: number;
  /** Why the VM is in an unexpected state (QEMU's run state, exit reason). */
  readonly reason?: string;
}

export interface ShutdownResult {
  /** True when the guest powered off by itself; false when it had to be forced. */
  readonly clean: boolean;
}

export interface RebootOptions extends WaitOptions {
  /** Reset at once instead of asking the guest. */
  readonly hard?: boolean | undefined;
  /** How long the guest has to shut down by itself before it is reset instead (default 60 s). */
  readonly graceMs?: number | undefined;
}

export interface RebootResult {
  /** True when the guest shut down by itself before it was started again; false when it was reset. */
  readonly clean: boolean;
  /** Why it was reset (absent when clean). */
  readonly reason?: string;
}

export interface SaveResult {
  readonly bytes: number;
  readonly durationMs: number;
}

export interface VmStats {
  /** CPU time the VM's process used, user + system (every thread, exited ones included: it never goes down while the process lives). */
  readonly cpuTimeMs: number;
  /** CPU time of the threads that run the guest's vCPUs only: what the guest itself asked for, without the emulator's I/O. */
  readonly vcpuTimeMs: number;
  /** Resident memory of the VM's process. */
  readonly rssBytes: number;
  /** Guest memory size. */
  readonly memoryBytes: number;
  /** Bytes and requests the guest's disks read and wrote since the process started (every disk summed). */
  readonly diskReadBytes: number;
  readonly diskWriteBytes: number;
  readonly diskReadOps: number;
  readonly diskWriteOps: number;
  /** Bytes the guest received and sent on its TAP NICs since they were made (the guest's view: a TAP's transmit is the guest's receive). */
  readonly netRxBytes: number;
  readonly netTxBytes: number;
  /** Changes when the VM's process is replaced (restart, restore, migration in): the counters above start again from zero. */
  readonly incarnation: string;
}

export type { DiskSpec, VmSpec };
