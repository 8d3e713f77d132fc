import { mkdir } from 'node:fs/promises';
import { HypervisorError } from '../hypervisor-errors.js';
import { RuntimeHypervisor } from '../runtime-hypervisor.js';
import type { HypervisorConsoles, HypervisorDisks, HypervisorNics, HypervisorSnapshots } from '../hypervisor.js';
import type { LiveMigration } from '../live-migration.js';
import type { VmSpec } from '../vm-spec.js';
import type { WaitOptions } from '../../util/deadline.js';
import { checkVmId } from '../../core/vm-id.js';
import { vmPaths, type VmPaths } from './vm-paths.js';
import type { QmpCommands } from './qmp-schema.js';
import { compileQemuDriverOptions, type QemuDriverOptions, type QemuDriverOptionsInput } from './qemu-driver-options.js';
import { probeKvm } from './probe-kvm.js';
import { QemuCoreDriver } from './qemu-core-driver.js';
import { waitDefault } from './wait-default.js';

/** Read-only QMP queries `query` lets tests and diagnostics make. */
export type QemuQuery = 'query-block-jobs' | 'query-named-block-nodes' | 'query-migrate' | 'query-migrate-capabilities' | 'query-migrate-parameters' | 'query-status';

/**
 * The Hypervisor over real QEMU: the QEMU Driver behind the
 * RuntimeHypervisor's checks. One QMP connection per VM; each VM's sockets,
 * pid file, console log and record live in `<runDir>/<vmId>/`, and QEMU runs
 * daemonised, so VMs survive a restart of the process that owns the driver
 * (`adopt` takes them back).
 */
export class QemuDriver extends RuntimeHypervisor {
  // QEMU has every capability: narrowed here so that its users need no checks.
  declare readonly disks: Required<HypervisorDisks>;
  declare readonly nics: HypervisorNics;
  declare readonly snapshots: HypervisorSnapshots;
  declare readonly migration: LiveMigration;
  declare readonly consoles: HypervisorConsoles;
  readonly #opts: QemuDriverOptions;
  readonly #core: QemuCoreDriver;

  private constructor(opts: QemuDriverOptions, core: QemuCoreDriver) {
    super(core, { allowedDirs: opts.allowedDirs });
    this.#opts = opts;
    this.#core = core;
  }

  static async create(input: QemuDriverOptionsInput): Promise<QemuDriver> {
    const opts = compileQemuDriverOptions(input);
    const kvm = opts.accel === 'tcg' ? false : await probeKvm(opts.qemuBinary);
    if (opts.accel === 'kvm' && !kvm) throw new HypervisorError('-', 'driver start', 'accel=kvm was asked for but KVM does not work on this host');
    await mkdir(opts.runDir, { recursive: true, mode: 0o700 });
    return new QemuDriver(opts, new QemuCoreDriver(opts, kvm));
  }

  get accel(): 'kvm' | 'tcg' {
    return this.kvm ? 'kvm' : 'tcg';
  }

  /** Runtime file locations of a VM (console log, sockets); for consoles and tests. */
  pathsOf(vmId: string): VmPaths {
    return vmPaths(this.#opts.runDir, checkVmId(vmId));
  }

  /** A read-only QMP query of one VM, for tests and diagnostics (what block jobs and nodes are left, …). */
  async query<K extends QemuQuery>(vmId: string, command: K, opts: WaitOptions = {}): Promise<QmpCommands[K]['result']> {
    const reg = this.#core.registry;
    const qmp = reg.qmp(reg.get(vmId));
    const args = command === 'query-named-block-nodes' ? { flat: true } : undefined;
    return qmp.executeUnchecked(command, args, waitDefault(opts, 5_000)) as Promise<QmpCommands[K]['result']>;
  }

  /** The spec the VM runs with now (hot-plugged disks included). */
  specOf(vmId: string): VmSpec {
    return this.#core.specOf(vmId);
  }
}
