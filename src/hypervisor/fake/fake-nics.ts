import type { DriverNics } from '../driver.js';
import { parseVmSpec, type NicSpec } from '../vm-spec.js';
import type { FakeVm } from './fake-host.js';

/** NIC hot-plug of the fake: the spec changes (no TAPs). */
export class FakeNics implements DriverNics {
  readonly #vms: { get(vmId: string): FakeVm };

  constructor(vms: { get(vmId: string): FakeVm }) {
    this.#vms = vms;
  }

  async attach(vmId: string, nic: NicSpec): Promise<void> {
    const vm = this.#vms.get(vmId);
    vm.spec = parseVmSpec({ ...vm.spec, nics: [...vm.spec.nics, nic] });
  }

  async detach(vmId: string, nicId: string): Promise<void> {
    const vm = this.#vms.get(vmId);
    vm.spec = parseVmSpec({ ...vm.spec, nics: vm.spec.nics.filter((n) => n.id !== nicId) });
  }
}
