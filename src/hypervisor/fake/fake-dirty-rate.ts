import type { DirtyRate, DirtyRateMeter } from '../dirty-rate-meter.js';
import type { FakeHost } from './fake-host.js';

/** The fake has no guest memory: it answers the host's configured rate (`FakeHost.dirtyBytesPerSec`) at once. */
export class FakeDirtyRate implements DirtyRateMeter {
  constructor(private readonly host: FakeHost, private readonly has: (vmId: string) => void) {}

  measure(vmId: string, calcTimeS: number): Promise<DirtyRate> {
    this.has(vmId);
    return Promise.resolve({ dirtyBytesPerSec: this.host.dirtyBytesPerSec, calcTimeS, mode: 'configured' });
  }
}
