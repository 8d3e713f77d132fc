import { RuntimeHypervisor } from '../runtime-hypervisor.js';
import type { VmSpec } from '../vm-spec.js';
import { fakeUptimeMs, FakeHost } from './fake-host.js';
import { FakeCoreDriver } from './fake-core-driver.js';

export { FakeHost } from './fake-host.js';

export interface FakeDriverOptions {
  readonly allowedDirs: readonly string[];
  readonly host?: FakeHost;
  /** Scale tests and the simulator use paths that do not exist; contract tests keep the check. */
  readonly checkFiles?: boolean;
  /** Capability objects this fake goes without, for tests of callers that must cope. */
  readonly without?: readonly ('disks' | 'nics' | 'snapshots')[];
}

/**
 * The Hypervisor in memory, for scale tests and the simulator: the fake's
 * Driver behind the same RuntimeHypervisor checks as QEMU's, so the same
 * validation and state rules hold, with no guest. The contract suite holds
 * both to the same behaviour.
 */
export class FakeDriver extends RuntimeHypervisor {
  readonly host: FakeHost;
  readonly #core: FakeCoreDriver;

  constructor(opts: FakeDriverOptions) {
    const host = opts.host ?? new FakeHost();
    const core = new FakeCoreDriver({ host, realFiles: opts.checkFiles ?? true, without: opts.without });
    super(core, { allowedDirs: opts.allowedDirs, checkFiles: opts.checkFiles });
    this.host = host;
    this.#core = core;
  }

  // Test and simulator hooks: events that in real life happen behind the driver's back.

  /** The hypervisor process dies. */
  crash(vmId: string): void {
    const vm = this.#core.get(vmId);
    this.#core.setState(vm, 'crashed');
    vm.reason = 'the process exited unexpectedly';
  }

  /** The guest powers itself off. */
  guestPowerOff(vmId: string): void {
    const vm = this.#core.get(vmId);
    this.#core.setState(vm, 'shutoff');
    vm.reason = 'the guest powered off';
  }

  /** Guest uptime in seconds: what the contract suite reads from a real guest. */
  uptimeSeconds(vmId: string): number {
    return fakeUptimeMs(this.#core.get(vmId)) / 1000;
  }

  specOf(vmId: string): VmSpec {
    return this.#core.specOf(vmId);
  }
}
