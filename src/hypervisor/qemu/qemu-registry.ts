import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { VmStatus } from '../hypervisor.js';
import { HypervisorError, VmNotFoundError, VmStateError } from '../hypervisor-errors.js';
import { errorMessage } from '../../errors/nubo-error.js';
import type { WaitOptions } from '../../util/deadline.js';
import { deleteTap } from '../../network/tap-device.js';
import { QmpClient } from './qmp-client.js';
import { mapRunState } from './map-run-state.js';
import type { VmPaths } from './vm-paths.js';
import { ensureQemuGone, isQemuOf } from './qemu-process.js';
import { writeVmRecord, type VmRecord } from './vm-record.js';
import type { QemuDriverOptions } from './qemu-driver-options.js';
import { waitDefault as opt } from './wait-default.js';

/** One VM's QEMU as the driver holds it. */
export interface LiveVm {
  record: VmRecord;
  readonly paths: VmPaths;
  readonly pid: number;
  qmp: QmpClient | undefined;
  /** Set once the process is gone: how it ended. */
  exit: { state: 'shutoff' | 'crashed'; reason: string } | undefined;
  /** The guest asked to power off (SHUTDOWN event), so a closing socket is no crash. */
  guestShutdown: boolean;
  /** This driver is ending the process itself. */
  ending: boolean;
  /** Set while QEMU runs but its QMP connection is not up yet: the state being started into. */
  starting: 'running' | 'paused' | 'inmigrate' | undefined;
}

/**
 * The QEMU processes one driver holds, with their QMP connections and
 * records: what every part of the QEMU driver (launcher, power, devices,
 * migration) looks VMs up in. It also tells how each one is (status) and
 * ends them (destroy), since every part needs both.
 */
export class QemuRegistry {
  readonly opts: QemuDriverOptions;
  readonly log: Logger;
  readonly accel: 'kvm' | 'tcg';
  readonly #vms = new Map<string, LiveVm>();

  constructor(opts: QemuDriverOptions, accel: 'kvm' | 'tcg') {
    this.opts = opts;
    this.log = opts.logger;
    this.accel = accel;
  }

  has(vmId: string): boolean {
    return this.#vms.has(vmId);
  }

  find(vmId: string): LiveVm | undefined {
    return this.#vms.get(vmId);
  }

  get(vmId: string): LiveVm {
    const vm = this.#vms.get(vmId);
    if (!vm) throw new VmNotFoundError(vmId);
    return vm;
  }

  add(vm: LiveVm): void {
    this.#vms.set(vm.record.spec.id, vm);
  }

  ids(): string[] {
    return [...this.#vms.keys()];
  }

  qmp(vm: LiveVm): QmpClient {
    if (!vm.qmp || vm.exit) throw new VmStateError(vm.record.spec.id, 'talk to', vm.exit?.state ?? 'crashed');
    return vm.qmp;
  }

  /** Replaces the VM's record, in memory and on disk. */
  async setRecord(vm: LiveVm, record: VmRecord): Promise<void> {
    vm.record = record;
    await writeVmRecord(vm.paths.record, record);
  }

  async connect(vm: LiveVm, opts: WaitOptions): Promise<void> {
    const qmp = await QmpClient.connect(vm.paths.qmpSocket, opt(opts, 10_000));
    vm.qmp = qmp;
    const id = vm.record.spec.id;
    void (async () => {
      for await (const e of qmp.events()) {
        if (e.event === 'SHUTDOWN' && e.data['guest'] === true) vm.guestShutdown = true;
        this.log.debug({ vmId: id, event: e.event, data: e.data, timestamp: e.timestamp }, 'qmp event');
      }
    })().catch(() => {});
    qmp.onClose(() => {
      if (vm.exit || vm.ending) return;
      vm.exit = vm.guestShutdown
        ? { state: 'shutoff', reason: 'the guest powered off' }
        : { state: 'crashed', reason: 'the QEMU process exited unexpectedly' };
      this.log.warn({ vmId: id, state: vm.exit.state }, vm.exit.reason);
    });
  }

  async status(vmId: string, opts: WaitOptions): Promise<VmStatus> {
    const vm = this.get(vmId);
    if (!vm.exit && vm.qmp) {
      try {
        const s = await vm.qmp.execute('query-status', undefined, opt(opts, 3_000));
        const state = mapRunState(s.status);
        return state === 'running' ? { id: vmId, state, pid: vm.pid } : { id: vmId, state, pid: vm.pid, reason: `QEMU run state ${s.status}` };
      } catch (err) {
        // A closed socket means the process is gone; anything else is a QMP problem worth reporting.
        if (!vm.qmp.closed) throw new HypervisorError(vmId, 'status', errorMessage(err), { cause: err });
      }
    }
    if (!vm.exit && !(await isQemuOf(vm.pid, vmId))) vm.exit = { state: 'crashed', reason: 'the QEMU process is gone' };
    // Alive and still connecting: not a crash, just not answering QMP yet.
    if (!vm.exit && vm.starting !== undefined) return { id: vmId, state: vm.starting, pid: vm.pid, reason: 'QEMU is starting' };
    if (!vm.exit) return { id: vmId, state: 'crashed', pid: vm.pid, reason: 'QMP connection lost' };
    return { id: vmId, state: vm.exit.state, reason: vm.exit.reason };
  }

  async destroy(vmId: string, opts: WaitOptions): Promise<void> {
    const vm = this.#vms.get(vmId);
    if (!vm) return;
    vm.ending = true;
    if (vm.qmp && !vm.qmp.closed) {
      await vm.qmp.execute('quit', undefined, opt(opts, 3_000)).catch(() => {});
    }
    if (vm.pid > 0) await ensureQemuGone(vm.pid, vmId, opt(opts, 5_000));
    vm.qmp?.close();
    for (const t of vm.record.taps) await deleteTap(t, opt(opts, 10_000));
    await rm(vm.paths.dir, { recursive: true, force: true });
    this.#vms.delete(vmId);
    this.log.info({ vmId }, 'vm destroyed');
  }

  /** Lets go of every connection; the processes run on. */
  close(): void {
    for (const vm of this.#vms.values()) {
      vm.ending = true;
      vm.qmp?.close();
    }
    this.#vms.clear();
  }
}
