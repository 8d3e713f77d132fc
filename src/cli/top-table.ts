import type { HostTopView, VmTopView } from '../contract/metrics-schemas.js';
import { fmtBytes, renderTable } from './output.js';

const pct = (v: number): string => `${v.toFixed(1)}%`;
const rate = (bytesPerSec: number): string => `${fmtBytes(Math.round(bytesPerSec))}/s`;

/** `nubo vm top`'s table: busiest first; a VM with no sample yet shows dashes, last. */
export function vmTopTable(rows: VmTopView): string {
  const sorted = [...rows].sort((a, b) => (b.sample?.cpuPercent ?? -1) - (a.sample?.cpuPercent ?? -1) || a.name.localeCompare(b.name));
  return renderTable(
    ['ID', 'NAME', 'CPU', 'VCPU', 'MEMORY', 'DISK READ', 'DISK WRITE', 'NET RX', 'NET TX'],
    sorted.map((r) => {
      const s = r.sample;
      if (!s) return [r.vmId.slice(0, 8), r.name, '-', '-', '-', '-', '-', '-', '-'];
      return [r.vmId.slice(0, 8), r.name, pct(s.cpuPercent), pct(s.vcpuPercent), `${fmtBytes(s.rssBytes)}/${fmtBytes(s.memoryBytes)}`,
        rate(s.diskReadBytesPerSec), rate(s.diskWriteBytesPerSec), rate(s.netRxBytesPerSec), rate(s.netTxBytesPerSec)];
    }),
  );
}

/** `nubo host top`'s table, in name order. */
export function hostTopTable(rows: HostTopView): string {
  const sorted = [...rows].sort((a, b) => a.name.localeCompare(b.name));
  return renderTable(
    ['NAME', 'STATE', 'VMS', 'CPU', 'VM CPU', 'MEMORY', 'DISK READ', 'DISK WRITE', 'NET RX', 'NET TX'],
    sorted.map((r) => {
      const s = r.sample;
      if (!s) return [r.name, r.state, '-', '-', '-', '-', '-', '-', '-', '-'];
      return [r.name, r.state, s.vms, `${pct(s.machineCpuPercent)} of ${s.machineCpus}`, pct(s.cpuPercent), `${fmtBytes(s.machineMemoryUsedBytes)}/${fmtBytes(s.machineMemoryTotalBytes)}`,
        rate(s.diskReadBytesPerSec), rate(s.diskWriteBytesPerSec), rate(s.netRxBytesPerSec), rate(s.netTxBytesPerSec)];
    }),
  );
}
