import type { DirtyRate, DirtyRateMeter } from '../dirty-rate-meter.js';
import type { WaitOptions } from '../../util/deadline.js';
import { pollUntil, sleep } from '../../util/deadline.js';
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
    // Nothing to read before the sampling time is over; then asked often: a migration's source copy waits for this
    // answer before it is released (MeasurementsInFlight).
    await sleep(calcTimeS * 1000, opts.signal);
    const info = await pollUntil('dirty-rate measurement', async () => {
      const r = await qmp.execute('query-dirty-rate', undefined, opt(opts, 5_000));
      return r.status === 'measured' ? r : undefined;
    }, { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 15_000, intervalMs: 25 });
    return { dirtyBytesPerSec: (info['dirty-rate'] ?? 0) * MiB, calcTimeS: info['calc-time'], mode: info.mode };
  }
}
