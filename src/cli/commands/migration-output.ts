import type { MigrationView } from '../../contract/migration-schemas.js';
import { fmtDuration, fmtOffset, fmtPercent, route, shortId } from '../migration-format.js';
import { diskPercent, elapsedMs, KNOWN_STATS_KEYS, megabytesPerSecond, ramPercent, readStats, type MigrationStats } from '../migration-stats.js';
import { dash, fmtBytes, fmtTime, printFields, printTable, renderTable } from '../output.js';
import { plannedVsActualFields, predictionFields } from './migration-prediction-output.js';

export function printMigrations(ms: readonly MigrationView[], now: number = Date.now()): void {
  printTable(
    ['ID', 'VM', 'ROUTE', 'STAGE', 'STATE', 'STARTED', 'TIME', 'DOWNTIME'],
    ms.map((m) => {
      const s = readStats(m);
      const took = elapsedMs(m, now);
      return [shortId(m.id), m.vm, route(m), m.stage, m.state, fmtTime(m.startedAt), took === undefined ? '-' : fmtDuration(took), s.downtimeMs === undefined ? '-' : fmtDuration(s.downtimeMs)];
    }),
  );
}

const plain = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** A record of numbers and words as "k=v k=v". */
function fmtData(d: Readonly<Record<string, unknown>> | undefined): string {
  if (d === undefined) return '';
  return Object.entries(d).map(([k, v]) => `${k}=${plain(v)}`).join(' ');
}

function statsFields(s: MigrationStats, raw: Readonly<Record<string, unknown>>): [string, string][] {
  const f: [string, string | undefined][] = [
    ['status', s.status],
    ['RAM sent', ramPercent(s) === undefined ? undefined : fmtPercent(ramPercent(s)!)],
    ['transferred', s.transferredBytes === undefined ? undefined : fmtBytes(s.transferredBytes)],
    ['remaining', s.remainingBytes === undefined ? undefined : fmtBytes(s.remainingBytes)],
    ['RAM total', s.totalBytes === undefined ? undefined : fmtBytes(s.totalBytes)],
    ['dirty rate', s.dirtyRateBytes === undefined ? undefined : `${fmtBytes(s.dirtyRateBytes)}/s`],
    ['final dirty rate', s.finalDirtyRateBytes === undefined ? undefined : `${fmtBytes(s.finalDirtyRateBytes)}/s`],
    ['passes', s.passes === undefined ? undefined : String(s.passes)],
    ['throughput', megabytesPerSecond(s) === undefined ? undefined : `${megabytesPerSecond(s)!.toFixed(1)} MB/s`],
    ['expected downtime', s.expectedDowntimeMs === undefined ? undefined : fmtDuration(s.expectedDowntimeMs)],
    ['disk copied', diskPercent(s) === undefined ? undefined : `${fmtPercent(diskPercent(s)!)} (${fmtBytes(s.diskCopiedBytes ?? 0)} of ${fmtBytes(s.diskTotalBytes ?? 0)})`],
    ['total time', s.totalTimeMs === undefined ? undefined : fmtDuration(s.totalTimeMs)],
    ['downtime', s.downtimeMs === undefined ? undefined : fmtDuration(s.downtimeMs)],
  ];
  const known = f.flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, v]]));
  // The engine may record more (e.g. which side was released); show it rather than hide it.
  const other = Object.entries(raw).filter(([k]) => !KNOWN_STATS_KEYS.has(k)).map(([k, v]): [string, string] => [k, plain(v)]);
  return [...known, ...other];
}

const POLICY_FORMATS: Readonly<Record<string, (v: unknown) => string>> = {
  maxBandwidthMiBps: (v) => `${plain(v)} MiB/s`,
  downtimeMs: (v) => `${plain(v)} ms`,
  maxDowntimeMs: (v) => `${plain(v)} ms`,
  autoConverge: (v) => (v === true ? 'on' : v === false ? 'off' : plain(v)),
  xbzrle: (v) => (v === true ? 'on' : v === false ? 'off' : plain(v)),
  postcopy: (v) => (v === true ? 'on' : v === false ? 'off' : plain(v)),
  timeoutS: (v) => `${plain(v)} s`,
};

/** The policy under the names of the flags that set it, so that an operator sees what to change. */
const POLICY_LABELS: Readonly<Record<string, string>> = {
  maxBandwidthMiBps: 'bandwidth',
  downtimeMs: 'downtime',
  maxDowntimeMs: 'max downtime',
  autoConverge: 'auto-converge',
  xbzrle: 'xbzrle',
  postcopy: 'postcopy',
  timeoutS: 'timeout',
};

function section(title: string, fields: readonly [string, string][]): void {
  process.stdout.write(`\n${title}:\n`);
  if (fields.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  printFields(fields);
}

function convergenceRows(m: MigrationView, s: MigrationStats): string[][] {
  return s.convergence.map((c) => [c.at === '' ? '-' : fmtOffset(c.at, m.startedAt), c.kind, dash(c.reason)]);
}

/** `nubo migration show`: the record, the journal with offsets from the start, the numbers, the policy. */
export function printMigrationDetail(m: MigrationView, now: number = Date.now()): void {
  const s = readStats(m);
  const took = elapsedMs(m, now);
  printFields([
    ['id', m.id],
    ['vm', `${m.vm} (${m.vmId})`],
    ['kind', m.kind],
    ['route', route(m)],
    ['state', m.state],
    ['stage', m.stage],
    ['reason', dash(m.reason)],
    ['started', fmtTime(m.startedAt)],
    ['finished', m.finishedAt === null ? '-' : fmtTime(m.finishedAt)],
    [m.state === 'running' ? 'running for' : 'total time', took === undefined ? '-' : fmtDuration(took)],
    ['downtime', s.downtimeMs === undefined ? '-' : fmtDuration(s.downtimeMs)],
  ]);
  process.stdout.write('\njournal:\n');
  process.stdout.write(
    m.journal.length === 0 ? '(none)\n' : renderTable(['AT', 'STAGE', 'DATA'], m.journal.map((e) => [fmtOffset(e.at, m.startedAt), e.stage, dash(fmtData(e.data))])),
  );
  section('stats', statsFields(s, m.stats));
  process.stdout.write('\nconvergence:\n');
  const conv = convergenceRows(m, s);
  process.stdout.write(conv.length === 0 ? '(none)\n' : renderTable(['AT', 'ACTION', 'REASON'], conv));
  section('policy', Object.entries(m.policy).map(([k, v]): [string, string] => [POLICY_LABELS[k] ?? k, (POLICY_FORMATS[k] ?? plain)(v)]));
  if (m.prediction !== undefined) section('plan', [...plannedVsActualFields(m), ...(m.actual ? [] : predictionFields(m.prediction))]);
}

/** What `nubo vm migrate --wait` prints when the migration succeeded. */
export function printMigrationSummary(m: MigrationView): void {
  const s = readStats(m);
  const took = elapsedMs(m);
  process.stdout.write(`migration ${shortId(m.id)} of ${m.vm} ${m.state}: ${route(m)}\n`);
  printFields([
    ['total time', took === undefined ? '-' : fmtDuration(took)],
    ['downtime', s.downtimeMs === undefined ? '-' : fmtDuration(s.downtimeMs)],
    ['transferred', s.transferredBytes === undefined ? '-' : fmtBytes(s.transferredBytes)],
    ...(s.diskTotalBytes !== undefined ? [['disks copied', fmtBytes(s.diskCopiedBytes ?? s.diskTotalBytes)] as const] : []),
    ['passes', dash(s.passes)],
    ['final dirty rate', s.finalDirtyRateBytes === undefined ? '-' : `${fmtBytes(s.finalDirtyRateBytes)}/s`],
    ['convergence', s.convergence.length === 0 ? 'none needed' : `${s.convergence.length} action${s.convergence.length === 1 ? '' : 's'}`],
  ]);
  for (const [at, kind, reason] of convergenceRows(m, s)) process.stdout.write(`  ${at} ${kind}: ${reason}\n`);
  if (m.reason !== null) process.stdout.write(`note: ${m.reason}\n`);
}
