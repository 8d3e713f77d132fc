import type { DirtyRate, DirtyRateMeter } from '../dirty-rate-meter.js';
import type { WaitOptions } from '../../util/deadline.js';
import { pollUntil } from '../../util/deadline.js';
import type { QemuRegistry } from './qemu-registry.js';
import { waitDefault as opt } from './wait-default.js';

const MiB = 1024 * 1024;

/**
 * `calc-dirty-rate` in page-sampling mode, then `query-dirty-rate` until
 * `measured`. Page sampling hashes a sample of each memory slot's pages twice
 * and counts the changed ones, so it works under TCG; the dirty-bitmap mode
 * made QEMU 7.2 segfault under TCG here and the dirty ring needs KVM.
 */
export class QemuDirtyRate implements DirtyRateMeter {
  readonly #reg: QemuRegistry;

  constructor(reg: QemuRegistry) {
    this.#reg = reg;
  }

  async measure(vmId: string, calcTimeS: number, opts: WaitOptions = {}): Promise<DirtyRate> {
    const qmp = this.#reg.qmp(this.#reg.get(vmId));
    await qmp.execute('calc-dirty-rate', { 'calc-time': calcTimeS, mode: 'page-sampling' }, opt(opts, 5_000));
    const info = await pollUntil('dirty-rate measurement', async () => {
      const r = await qmp.execute('query-dirty-rate', undefined, opt(opts, 5_000));
      return r.status === 'measured' ? r : undefined;
    }, { signal: opts.signal, timeoutMs: opts.timeoutMs ?? calcTimeS * 1000 + 15_000, intervalMs: 200 });
    return { dirtyBytesPerSec: (info['dirty-rate'] ?? 0) * MiB, calcTimeS: info['calc-time'], mode: info.mode };
  }
}
