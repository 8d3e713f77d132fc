import { dirtyRateRequestSchema, type DirtyRateReport } from '../contract/agent-api.js';
import { ValidationError } from '../errors/validation-error.js';
import { UnsupportedError } from '../hypervisor/hypervisor-errors.js';
import { zodIssues } from '../hypervisor/vm-spec.js';
import type { AgentHost } from './agent-host.js';

/**
 * A running VM's dirty rate, measured by the hypervisor (QEMU's
 * `calc-dirty-rate`). Read-only, so it takes no VM lock: a measurement
 * during another operation only reads guest pages. Each is tracked while
 * under way: the planner measures a VM while its live migration runs, and
 * the release of the source copy waits for the answer.
 */
export class DirtyRateEndpoint {
  constructor(readonly host: AgentHost) {}

  async measure(id: string, input: unknown, signal?: AbortSignal): Promise<DirtyRateReport> {
    const r = dirtyRateRequestSchema.safeParse(input ?? {});
    if (!r.success) throw new ValidationError('dirty rate', zodIssues(r.error));
    const meter = this.host.hypervisor.dirtyRate;
    if (!meter) throw new UnsupportedError('dirty-rate measurement', `the ${this.host.hypervisor.kind} driver cannot measure it`);
    return this.host.measuring.track(id, meter.measure(id, r.data.calcTimeS, { signal, timeoutMs: r.data.calcTimeS * 1000 + 20_000 }));
  }
}
