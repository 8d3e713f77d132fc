import type { HostReport } from '../contract/agent-api.js';
import type { Host } from '../store/repositories/hosts-repository.js';

/** Whether the host as stored already says what the report describes (capacity, CPU): then it needs no re-registration. */
export function sameDescription(host: Host, report: HostReport): boolean {
  const flags = report.cpuFlags.slice(0, 1024);
  return host.cpuModel === report.cpuModel
    && host.total.cpus === report.totalCpus && host.total.memoryMib === report.totalMemoryMiB && host.total.diskMib === report.totalDiskMiB
    && host.cpuFlags.length === flags.length && host.cpuFlags.every((f, i) => f === flags[i]);
}
