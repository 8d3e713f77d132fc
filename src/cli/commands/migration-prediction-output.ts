import type { MigrationDryRunView, MigrationView } from '../../contract/migration-schemas.js';
import { fmtDuration } from '../migration-format.js';
import { fmtBytes, printFields } from '../output.js';

/** A scalar of the prediction's loose JSON as text; anything else (absent, an object) as the fallback. */
function text(v: unknown, fallback: string): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : fallback;
}

function n(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** The planner's prediction as field lines (shared by the dry run and `migration show`). */
export function predictionFields(p: Readonly<Record<string, unknown>> | null | undefined): [string, string][] {
  if (!p) return [];
  if (p['kind'] === 'cold') return [['prediction', text(p['note'], 'none for a cold migration')]];
  const dirty = p['dirtyRate'] as Record<string, unknown> | undefined;
  const rate = n(p['dirtyBytesPerSec']);
  const bw = n(p['bandwidthBytesPerSec']);
  const total = n(p['totalMs']);
  const down = n(p['downtimeMs']);
  const basis: Record<string, string> = { link: 'past migrations between these hosts', any: 'past migrations between any hosts', policy: 'no past migration: the policy\'s max-bandwidth' };
  return [
    ['dirty rate', rate === undefined ? '-' : `${fmtBytes(rate)}/s${dirty?.['measured'] === false ? ` (not measured: ${text(dirty['reason'], '')})` : ` (${text(dirty?.['mode'], '')}, ${text(dirty?.['calcTimeS'], '')} s)`}`],
    ['memory', n(p['memoryBytes']) === undefined ? '-' : fmtBytes(n(p['memoryBytes'])!)],
    ['link bandwidth', bw === undefined ? '-' : `${fmtBytes(bw)}/s (${basis[String(p['bandwidthBasis'])] ?? String(p['bandwidthBasis'])}${n(p['bandwidthSamples']) ? `, ${String(p['bandwidthSamples'])} samples` : ''})`],
    ['predicted total', total === undefined ? '-' : fmtDuration(total)],
    ['predicted downtime', down === undefined ? '-' : `${down} ms (limit ${text(p['downtimeLimitMs'], '-')} ms)`],
    ['predicted passes', `${text(p['passes'], '-')}${p['converges'] === false ? ' — does not converge at this rate: the convergence policy will have to act' : ''}`],
  ];
}

export function printDryRun(d: MigrationDryRunView): void {
  printFields([
    ['vm', d.vm],
    ['kind', d.kind],
    ['route', `${d.source} → ${d.destination}`],
    ['pre-checks', d.checks],
    ...(d.crossing !== null ? [['clusters', d.crossing] as [string, string]] : []),
    ...predictionFields(d.prediction),
  ]);
  process.stdout.write('dry run: nothing was queued or changed\n');
}

/** Predicted next to actual, once a migration ended (`migration show`). */
export function plannedVsActualFields(m: MigrationView): [string, string][] {
  const rows: [string, string][] = [];
  if (m.priority !== undefined) rows.push(['priority', String(m.priority)]);
  if (m.forced === true) rows.push(['forced', 'yes: the admin\'s destination overrode the VM\'s placement requirements']);
  if (m.actual && m.prediction) {
    const e = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : `${x >= 0 ? '+' : ''}${Math.round(x * 100)} %`);
    const p = m.prediction;
    rows.push(['total (predicted/actual)', `${n(p['totalMs']) === undefined ? '-' : fmtDuration(n(p['totalMs'])!)} / ${m.actual.totalMs === null ? '-' : fmtDuration(m.actual.totalMs)} (error ${e(m.predictionError?.totalMs)})`]);
    rows.push(['downtime (predicted/actual)', `${text(p['downtimeMs'], '-')} ms / ${m.actual.downtimeMs ?? '-'} ms (error ${e(m.predictionError?.downtimeMs)})`]);
  }
  return rows;
}
