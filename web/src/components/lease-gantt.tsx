import type { CapacityLease } from '../api-types';
import { ganttLayout, timeTicks } from '../gantt-layout';
import { navigate } from '../router';

/** SVG units: the chart is drawn at this width and scrolls sideways in a narrower box (a phone). */
const W = 900;
const LABEL_W = 90;
const LANE_H = 22;
const AXIS_H = 22;
const ROW_PAD = 6;

const hhmm = (t: number): string => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
const dayHhmm = (t: number): string => new Date(t).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const short = (id: string): string => id.slice(0, 8);

/**
 * Hosts × time with each lease's planned steps as bars: advance reservations
 * in one colour, best-effort and immediate leases in another, the phases
 * that are not running (prepare, suspend, resume…) lighter. Each bar is a
 * link to its lease (Tab reaches it, Enter opens it) and says in words what
 * it draws; the box scrolls sideways where the screen is narrower than the chart.
 */
export function LeaseGantt({ leases, hosts, now }: { leases: readonly CapacityLease[]; hosts: readonly string[]; now: number }) {
  const g = ganttLayout(leases, hosts, now);
  const span = g.to - g.from;
  const x = (t: number): number => LABEL_W + ((t - g.from) / span) * (W - LABEL_W - 4);
  const tops: number[] = [];
  let y = AXIS_H;
  for (const r of g.rows) {
    tops.push(y);
    y += r.lanes * LANE_H + ROW_PAD;
  }
  const height = Math.max(y, AXIS_H + LANE_H);
  const ticks = timeTicks(g.from, g.to);
  const multiDay = new Date(g.from).toDateString() !== new Date(g.to).toDateString();
  const bars = g.rows.flatMap((r) => r.bars.length);
  return (
    <div class="gantt-wrap" role="region" aria-label="Leases by host over time" tabIndex={0}>
      <svg class="gantt" viewBox={`0 0 ${W} ${height}`} width={W} height={height} role="group" aria-label={`Gantt: ${g.rows.length} hosts, ${bars.reduce((a, b) => a + b, 0)} planned steps, ${dayHhmm(g.from)} to ${dayHhmm(g.to)}`}>
        {ticks.map((t) => (
          <g key={t} aria-hidden="true">
            <line x1={x(t)} x2={x(t)} y1={AXIS_H - 4} y2={height} class="tick" />
            <text x={x(t) + 2} y={AXIS_H - 8} class="tick-label">{multiDay ? dayHhmm(t) : hhmm(t)}</text>
          </g>
        ))}
        {g.rows.map((r, i) => (
          <g key={r.host} data-host={r.host}>
            <rect x={0} y={tops[i]} width={W} height={r.lanes * LANE_H + ROW_PAD / 2} class={i % 2 === 0 ? 'row even' : 'row'} aria-hidden="true" />
            <text x={4} y={tops[i]! + LANE_H / 2 + 4} class="host-label">{r.host}</text>
            {r.bars.map((b) => {
              const label = `lease ${short(b.lease.id)} (${b.lease.type}, ${b.lease.state}, ${b.lease.owner}) ${b.kind} on ${r.host} ${dayHhmm(b.from)} to ${dayHhmm(b.to)}`;
              const href = `/leases/${b.lease.id}`;
              return (
                <a key={`${b.lease.id}-${b.kind}-${b.from}`} href={href} aria-label={label} data-lease={b.lease.id}
                  onClick={(e) => { e.preventDefault(); navigate(href); }}>
                  <title>{label}</title>
                  <rect x={x(b.from)} y={tops[i]! + b.lane * LANE_H + 2} width={Math.max(2, x(b.to) - x(b.from))} height={LANE_H - 4} rx={3}
                    class={`bar ${b.lease.type === 'ar' ? 'ar' : 'be'} ${b.kind}`} />
                </a>
              );
            })}
          </g>
        ))}
        {now >= g.from && now <= g.to && <line x1={x(now)} x2={x(now)} y1={AXIS_H - 4} y2={height} class="now" aria-hidden="true" />}
      </svg>
      <p class="hint gantt-key"><span class="swatch ar" /> advance reservation <span class="swatch be" /> best effort / immediate <span class="swatch be prepare" /> preparing, suspending or resuming <span class="swatch now" /> now</p>
    </div>
  );
}
