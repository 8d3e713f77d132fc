import type { LeaseView } from '../../contract/lease-schemas.js';

/** What a step is drawn with: preparation, moving, resuming, running, suspending, shutting down. */
const GLYPH: Readonly<Record<string, string>> = { prepare: 'p', migrate: 'm', resume: 'r', run: '#', suspend: 's', shutdown: 'x' };

/**
 * A text Gantt chart of hosts × time: one row per lease on each host it is
 * planned on, `width` columns from `from` to `to` (epoch ms), each column
 * showing the step of the plan at that time (a later step wins a shared
 * column). Leases without a plan (queued) are listed under the chart.
 */
export function leaseGantt(leases: readonly LeaseView[], from: number, to: number, width = 60): string {
  const span = Math.max(1, to - from);
  const col = (t: number): number => Math.min(width - 1, Math.max(0, Math.floor(((t - from) / span) * width)));
  const rows = new Map<string, { host: string; lease: string; cells: string[] }>();
  for (const l of leases) {
    for (const p of l.plan.placements) {
      const key = `${p.host}\u0000${l.id}`;
      const row = rows.get(key) ?? { host: p.host, lease: `${l.id.slice(0, 8)} ${l.type}×${p.vms}`, cells: Array.from({ length: width }, () => '.') };
      for (const s of l.plan.segments) {
        const a = Date.parse(s.from);
        const b = Date.parse(s.to);
        if (b <= from || a >= to) continue;
        for (let c = col(a); c <= col(Math.max(a, b - 1)); c++) row.cells[c] = GLYPH[s.kind] ?? '?';
      }
      rows.set(key, row);
    }
  }
  const sorted = [...rows.values()].sort((a, b) => a.host.localeCompare(b.host) || a.lease.localeCompare(b.lease));
  const hw = Math.max(4, ...sorted.map((r) => r.host.length));
  const lw = Math.max(5, ...sorted.map((r) => r.lease.length));
  const lines = [`${'HOST'.padEnd(hw)}  ${'LEASE'.padEnd(lw)}  ${new Date(from).toISOString()} → ${new Date(to).toISOString()} (${(span / 1000 / width).toFixed(1)} s a column)`];
  for (const r of sorted) lines.push(`${r.host.padEnd(hw)}  ${r.lease.padEnd(lw)}  ${r.cells.join('')}`);
  const waiting = leases.filter((l) => l.plan.placements.length === 0 && (l.state === 'accepted' || l.state === 'suspended'));
  if (waiting.length > 0) lines.push(`queued: ${waiting.map((l) => `${l.id.slice(0, 8)} (${l.state})`).join(', ')}`);
  lines.push('p prepare  m migrate  r resume  # run  s suspend  x shutdown');
  return `${lines.join('\n')}\n`;
}
