/** One resource of a host: used of total as a bar, with the numbers for screen readers and anyone who wants them. */
export function CapacityBar({ label, used, total, unit }: { label: string; used: number; total: number; unit: string }) {
  const pct = total > 0 ? Math.min(100, Math.round((used / total) * 100)) : 0;
  const level = pct >= 90 ? 'high' : pct >= 70 ? 'mid' : 'low';
  return (
    <div class="capacity">
      <span class="capacity-label">{label}</span>
      <meter class={`capacity-meter ${level}`} min={0} max={total > 0 ? total : 1} value={used} aria-label={`${label} ${used} of ${total} ${unit}`} />
      <span class="capacity-num">{used}/{total} {unit}</span>
    </div>
  );
}
