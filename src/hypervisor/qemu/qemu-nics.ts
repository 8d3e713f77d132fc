import type { DriverNics } from '../driver.js';
import { HypervisorError } from '../hypervisor-errors.js';
import { parseVmSpec, type NicSpec } from '../vm-spec.js';
import { errorMessage } from '../../errors/nubo-error.js';
import type { WaitOptions } from '../../util/deadline.js';
import { createTap, deleteTap, type TapRef } from '../../network/tap-device.js';
import { qmpHotplugNic, qmpUnplugNic } from './qmp-nic-hotplug.js';
import type { QemuRegistry } from './qemu-registry.js';
import { waitDefault as opt } from './wait-default.js';

/** NIC hot-plug over QMP; for a TAP NIC the driver makes the TAP (as at start) and records it, so destroy removes it. */
export class QemuNics implements DriverNics {
  readonly #reg: QemuRegistry;

  constructor(reg: QemuRegistry) {
    this.#reg = reg;
  }

  async attach(vmId: string, nic: NicSpec, opts: WaitOptions): Promise<void> {
    const reg = this.#reg;
    const vm = reg.get(vmId);
    const spec = vm.record.spec;
    const next = parseVmSpec({ ...spec, nics: [...spec.nics, nic] });
    let tap: TapRef | undefined;
    try {
      if (nic.kind === 'tap') {
        const t: TapRef = spec.netns === undefined ? { name: nic.ifname } : { name: nic.ifname, netns: spec.netns };
        await createTap(t, nic.bridge, opt(opts, 10_000), nic.vlan);
        tap = t;
        // Recorded once it exists (never before: the name might be another's), so destroy and adoption know it from here on.
        await reg.setRecord(vm, { ...vm.record, taps: [...vm.record.taps, t] });
      }
      await qmpHotplugNic(reg.qmp(vm), nic, reg.accel, opt(opts, 10_000));
    } catch (err) {
      if (tap !== undefined) {
        const t = tap;
        await deleteTap(t).catch(() => {});
        await reg.setRecord(vm, { ...vm.record, taps: vm.record.taps.filter((x) => x.name !== t.name || x.netns !== t.netns) }).catch(() => {});
      }
      throw new HypervisorError(vmId, 'attach NIC', errorMessage(err), { cause: err });
    }
    await reg.setRecord(vm, { ...vm.record, spec: next });
    reg.log.info({ vmId, nicId: nic.id, mac: nic.mac, ...(tap ? { tap: tap.name } : {}) }, 'NIC attached');
  }

  async detach(vmId: string, nicId: string, opts: WaitOptions): Promise<void> {
    const reg = this.#reg;
    const vm = reg.get(vmId);
    const spec = vm.record.spec;
    const nic = spec.nics.find((n) => n.id === nicId);
    if (nic === undefined) return;
    try {
      await qmpUnplugNic(reg.qmp(vm), nicId, opt(opts, 30_000));
    } catch (err) {
      throw new HypervisorError(vmId, 'detach NIC', `the guest did not release ${nicId}: ${errorMessage(err)}`, { cause: err });
    }
    const tap = nic.kind === 'tap' ? vm.record.taps.find((t) => t.name === nic.ifname) : undefined;
    if (tap !== undefined) await deleteTap(tap, opt(opts, 10_000));
    await reg.setRecord(vm, { ...vm.record, spec: parseVmSpec({ ...spec, nics: spec.nics.filter((n) => n.id !== nicId) }), taps: vm.record.taps.filter((t) => t !== tap) });
    reg.log.info({ vmId, nicId, ...(tap ? { tap: tap.name } : {}) }, 'NIC detached');
  }
}
