/** Chart size in SVG units: the SVG scales to its box, so only the aspect ratio matters. */
const W = 240;
const H = 60;

export interface Series { readonly label: string; readonly values: readonly number[]; readonly color: string }

/**
 * A small inline SVG line chart of one or two series over the same samples,
 * scaled to the largest value seen. No chart library: a polyline per series
 * is all a trend needs, and it keeps the bundle small. The latest values are
 * in the caption as text, so the chart is never the only way to read them.
 */
export function Sparkline({ title, series, format }: { title: string; series: readonly Series[]; format: (v: number) => string }) {
  const n = Math.max(0, ...series.map((s) => s.values.length));
  const max = Math.max(0, ...series.flatMap((s) => s.values));
  const x = (i: number): number => (n <= 1 ? W : (i / (n - 1)) * W);
  const y = (v: number): number => (max > 0 ? H - (v / max) * (H - 2) - 1 : H - 1);
  const latest = series.map((s) => `${s.label} ${s.values.length > 0 ? format(s.values[s.values.length - 1]!) : '—'}`).join(', ');
  return (
    <figure class="chart">
      <figcaption><strong>{title}</strong> <span class="muted" data-testid="chart-latest">{latest}</span></figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`${title}: ${n} samples, peak ${format(max)}, latest ${latest}`}>
        <line x1={0} y1={H - 0.5} x2={W} y2={H - 0.5} class="axis" />
        {series.map((s) => (s.values.length > 0
          ? <polyline key={s.label} fill="none" stroke={s.color} stroke-width={1.5} vector-effect="non-scaling-stroke" points={s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')} />
          : null))}
      </svg>
    </figure>
  );
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes as a short human number (1 decimal under 10). */
export function formatBytes(b: number): string {
  let v = b;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 && u > 0 ? v.toFixed(1) : Math.round(v)} ${UNITS[u]}`;
}

export const formatRate = (b: number): string => `${formatBytes(b)}/s`;
export const formatPercent = (p: number): string => `${p.toFixed(p < 10 ? 1 : 0)} %`;
