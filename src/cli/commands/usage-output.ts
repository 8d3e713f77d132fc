import { stringify } from 'csv-stringify/sync';
import type { UsageReportView } from '../../contract/usage-schemas.js';
import { renderTable } from '../output.js';

/** The CSV columns: one row per report line (VM and group charged); sum them for any total. */
export const USAGE_CSV_COLUMNS = ['month', 'owner', 'group', 'vm_id', 'vm_name', 'vcpu_hours', 'memory_gib_hours', 'disk_gib_hours', 'cost', 'currency'] as const;

/** The report's lines as CSV (RFC 4180, header first). Figures are the API's exact decimal strings. */
export function usageCsv(r: UsageReportView): string {
  return stringify([
    [...USAGE_CSV_COLUMNS],
    ...r.lines.map((l) => [r.month, l.owner, l.group ?? '', l.vmId, l.vmName, l.vcpuHours, l.memoryGibHours, l.diskGibHours, l.cost, r.prices.currency]),
  ]);
}

/** The report as tables: the lines, then the totals per user and per group, then the total. */
export function usageTables(r: UsageReportView): string {
  const p = r.prices;
  const head = `usage ${r.month} (UTC, ${r.from} to ${r.until}); prices per hour in ${p.currency}: vCPU ${p.vcpuHour}, memory GiB ${p.memoryGibHour}, disk GiB ${p.diskGibHour}\n`;
  if (r.lines.length === 0) return `${head}(no usage)\n`;
  const figures = (f: { vcpuHours: string; memoryGibHours: string; diskGibHours: string; cost: string }) => [f.vcpuHours, f.memoryGibHours, f.diskGibHours, f.cost];
  const cols = ['VCPU-H', 'MEM-GIB-H', 'DISK-GIB-H', `COST (${p.currency})`];
  return [
    head,
    renderTable(['OWNER', 'GROUP', 'VM', 'ID', ...cols], r.lines.map((l) => [l.owner, l.group ?? '-', l.vmName, l.vmId.slice(0, 8), ...figures(l)])),
    '\n',
    renderTable(['OWNER', 'VMS', ...cols], r.users.map((u) => [u.owner, u.vms, ...figures(u)])),
    '\n',
    renderTable(['GROUP', 'VMS', ...cols], r.groups.map((g) => [g.group ?? '(none)', g.vms, ...figures(g)])),
    '\n',
    renderTable(['TOTAL', 'VMS', ...cols], [['all', r.total.vms, ...figures(r.total)]]),
  ].join('');
}
