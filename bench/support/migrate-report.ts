import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_MIGRATION_POLICY } from '../../src/core/migration/migration-policy.js';
import { CASE_LABEL, CASES, PATH_LABEL, isRaw, type PathName, type Sample } from './migrate-sample.js';
import { migrateVerdicts, type MigrateRow, type MigrateVerdictInput } from './migrate-verdicts.js';
import { describeComparison } from './paired-comparison.js';
import { median } from './quantile.js';

const MiB = 1024 * 1024;
const ms = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)} ms` : '—');
const mib = (x: number): string => (Number.isFinite(x) ? `${(x / MiB).toFixed(1)}` : '—');
const rps = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '—');

export interface MigrateReportInput extends Omit<MigrateVerdictInput, 'rows'> {
  readonly paths: readonly PathName[];
  readonly accel: 'kvm' | 'tcg';
  readonly memoryMiB: number;
  readonly tls: boolean;
  readonly dirtySleepUs: number;
  /** When the bench started (ms since the epoch): its runtime is printed. */
  readonly startedAt: number;
}

/** Prints bench/migrate.ts's tables and verdicts and writes its JSON to bench/results/. */
export async function reportMigrate(input: MigrateReportInput): Promise<void> {
  const { samples, failedMigrations, runs, memoryMiB, tls, dirtySleepUs, compareSwitch, compareRawResume } = input;
  const accelUsed = input.accel;
  const PATHS = input.paths;
  const ICMP_INTERVAL_MS = input.icmpIntervalMs;
  const startedAt = input.startedAt;
  const runtimeS = (Date.now() - startedAt) / 1000;
  const rows: MigrateRow[] = CASES.flatMap((cs) => PATHS.map((path): MigrateRow => {
    const xs = samples.filter((s) => s.case === cs && s.path === path);
    const col = (f: (s: Sample) => number | undefined | null): number => median(xs.map((s) => f(s) ?? NaN));
    return {
      case: cs, path, runs: xs.length,
      totalP50: col((s) => s.totalMs), recordTotalP50: col((s) => s.recordTotalMs),
      qemuDowntimeP50: col((s) => s.qemuDowntimeMs), clientGapP50: col((s) => s.client?.gapMs), icmpDowntimeP50: col((s) => s.icmp?.downtimeMs),
      mibSentP50: col((s) => s.transferredBytes / MiB), passesP50: col((s) => s.passes),
      dirtyMiBpsP50: col((s) => s.dirtyRateBytes / MiB), guestDirtyMiBpsP50: col((s) => s.guestDirtyMiBps),
      maxThrottle: Math.max(0, ...xs.map((s) => s.maxThrottlePercent ?? 0)),
      failed: xs.reduce((a, s) => a + (s.client?.failed ?? 0), 0),
      beforeP50: col((s) => s.client?.beforeRps), duringP50: col((s) => s.client?.duringRps), afterP50: col((s) => s.client?.afterRps),
      prepareP50: col((s) => s.phases.prepare), copyP50: col((s) => s.phases.copy), switchP50: col((s) => s.phases.switch),
    };
  }));
  const p = DEFAULT_MIGRATION_POLICY;
  console.log(`\nmigration benchmark — accel ${accelUsed.toUpperCase()}, ${memoryMiB} MiB / 1 vCPU nubo-tiny guests, 2 lab hosts, shared datastore (only memory moves), migration TLS ${tls ? 'on (both paths)' : 'off (both paths)'}, ${runs} runs per case and path (medians), ${new Date().toISOString()}`);
  console.log(`both paths: downtime-limit ${p.downtimeMs} ms, max-bandwidth ${p.maxBandwidthMiBps} MiB/s, auto-converge ${p.autoConverge ? 'on' : 'off'}, xbzrle ${p.xbzrle ? 'on' : 'off'}, no post-copy (nubo's default policy; nubo may also raise the limit when stalled, raw never does)`);
  console.log('total: raw = destination QEMU start → destination running; nubo = POST /migrate → journal `activated` (record totalTimeMs in brackets)');
  console.log(`ICMP downtime: the longest silence between echo replies to a ping every ${ICMP_INTERVAL_MS} ms from the fabric (no retransmit timers; exact to one interval); client gap: the HTTP client's, which adds the TCP retransmit it hit`);
  console.log('| case | path | runs | total p50 | QEMU downtime p50 | ICMP downtime p50 | client gap p50 | MiB sent p50 | passes p50 | QEMU dirty rate p50 (MiB/s) | failed requests | req/s before | during | after |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const web = r.case === 'web';
    const total = !isRaw(r.path) ? `${ms(r.totalP50)} (${ms(r.recordTotalP50)})` : ms(r.totalP50);
    const dirty = r.case === 'dirty' ? `${mib(r.dirtyMiBpsP50 * MiB)} (guest wrote ${rps(r.guestDirtyMiBpsP50)}${r.maxThrottle > 0 ? `, throttle ≤${r.maxThrottle} %` : ''})` : mib(r.dirtyMiBpsP50 * MiB);
    console.log(`| ${CASE_LABEL[r.case]} | ${PATH_LABEL[r.path]} | ${r.runs} | ${total} | ${ms(r.qemuDowntimeP50)} | ${ms(r.icmpDowntimeP50)} | ${web ? ms(r.clientGapP50) : '—'} | ${mib(r.mibSentP50 * MiB)} | ${r.passesP50} | ${dirty} | ${web ? r.failed : '—'} | ${web ? rps(r.beforeP50) : '—'} | ${web ? rps(r.duringP50) : '—'} | ${web ? rps(r.afterP50) : '—'} |`);
  }
  console.log('\nphases p50 — prepare: raw destination start → listening / nubo POST → `prepared`; copy: → source completed (nubo: `stop-and-copy`); switch: → destination running (nubo: `activated`)');
  console.log('| case | path | prepare | copy | switch |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${CASE_LABEL[r.case]} | ${PATH_LABEL[r.path]} | ${ms(r.prepareP50)} | ${ms(r.copyP50)} | ${ms(r.switchP50)} |`);

  // Where the client's silence falls against each path's own steps: how long the guest was already silent when the
  // completion was seen (raw: the 20 ms query-migrate poll; nubo: the controller's journal), how long from there to running.
  console.log('\ncase (c), the client\'s longest silence split at the steps, p50: last answer → completion seen → destination running → first answer');
  console.log('| path | silence | → completion seen | → running | → first answer |');
  console.log('|---|---|---|---|---|');
  const silence: Record<string, Record<string, number>> = {};
  for (const path of PATHS) {
    const xs = samples.filter((s) => s.case === 'web' && s.path === path && s.client);
    const [seen, running] = isRaw(path) ? ['sourceCompleted', 'destRunning'] : ['stop-and-copy', 'activated'];
    const split = {
      silence: median(xs.map((s) => s.client!.gapMs)),
      toSeen: median(xs.map((s) => s.steps[seen]! - s.client!.lastAnswerBeforeGap)),
      toRunning: median(xs.map((s) => s.steps[running]! - s.steps[seen]!)),
      toAnswer: median(xs.map((s) => s.client!.firstAnswerAfterGap - s.steps[running]!)),
    };
    silence[path] = split;
    console.log(`| ${PATH_LABEL[path]} | ${ms(split.silence)} | ${ms(split.toSeen)} | ${ms(split.toRunning)} | ${ms(split.toAnswer)} |`);
  }

  // nubo's prepare and switch against the raw steps that do the same work.
  console.log('\nwhere the time goes, p50 per case — raw: destination QEMU (TAP + launch + QMP up) | its QMP set-up to listening (of which the server tls-creds object-add); nubo: POST → agent gets `incoming` | → its QEMU up | → agent answers | → journal `prepared`; switch: `stop-and-copy` seen → agent gets `activate` | → answers | → journal `activated`');
  console.log('| case | raw QEMU up | raw QMP set-up | nubo POST → incoming | → QEMU up | → answered | → prepared | nubo stop-and-copy → activate | → answered | → activated | progress reads (p50 ms each) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  const where: Record<string, Record<string, number>> = {};
  for (const cs of CASES) {
    const r = samples.filter((s) => s.case === cs && s.path === 'raw');
    const n = samples.filter((s) => s.case === cs && s.path === 'nubo' && s.agent);
    const a = (s: Sample, k: string): number => s.agent?.[k] ?? NaN;
    const w = {
      rawQemuUp: median(r.map((s) => s.steps['destQmp'] ?? NaN)),
      rawQmpSetUp: median(r.map((s) => (s.steps['destListening'] ?? NaN) - (s.steps['destQmp'] ?? NaN))),
      rawTlsCreds: median(r.map((s) => (s.steps['destTls'] ?? NaN) - (s.steps['destCaps'] ?? NaN))),
      toIncoming: median(n.map((s) => a(s, 'incomingArrived'))),
      toQemuUp: median(n.map((s) => a(s, 'destQemuUp') - a(s, 'incomingArrived'))),
      toAnswered: median(n.map((s) => a(s, 'incomingAnswered') - a(s, 'destQemuUp'))),
      toPrepared: median(n.map((s) => (s.steps['prepared'] ?? NaN) - a(s, 'incomingAnswered'))),
      toActivate: median(n.map((s) => a(s, 'activateArrived') - (s.steps['stop-and-copy'] ?? NaN))),
      activateTook: median(n.map((s) => a(s, 'activateAnswered') - a(s, 'activateArrived'))),
      toActivated: median(n.map((s) => (s.steps['activated'] ?? NaN) - a(s, 'activateAnswered'))),
      progressReads: median(n.map((s) => a(s, 'progressReads'))),
      progressReadMs: median(n.map((s) => a(s, 'progressReadP50Ms'))),
    };
    where[cs] = w;
    console.log(`| ${CASE_LABEL[cs]} | ${ms(w.rawQemuUp)} | ${ms(w.rawQmpSetUp)} (${ms(w.rawTlsCreds)}) | ${ms(w.toIncoming)} | ${ms(w.toQemuUp)} | ${ms(w.toAnswered)} | ${ms(w.toPrepared)} | ${ms(w.toActivate)} | ${ms(w.activateTook)} | ${ms(w.toActivated)} | ${w.progressReads} (${ms(w.progressReadMs)}) |`);
  }

  const { verdicts, comparisons, sides, lines } = migrateVerdicts({ samples, failedMigrations, rows, runs, compareSwitch, compareRawResume, icmpIntervalMs: ICMP_INTERVAL_MS });
  console.log('');
  for (const v of verdicts) console.log(`${v.pass ? 'PASS' : 'FAIL'} ${v.target}: ${v.detail}`);
  for (const c of comparisons) {
    const own = lines.get(c);
    if (own !== undefined) {
      console.log(own);
      continue;
    }
    const named = sides.get(c);
    const line = describeComparison(c);
    console.log(named === undefined ? line : line.replace(/medians nubo (\S+) vs raw /, `medians ${named.path} $1 vs ${named.base} `));
  }
  // What nubo recorded that QEMU did not mean: worth knowing before reading its columns.
  const nubo = samples.filter((s) => s.path === 'nubo');
  const zeroDowntime = nubo.filter((s) => s.qemuDowntimeMs === 0).length;
  if (zeroDowntime > 0) console.log(`note: nubo recorded a QEMU downtime of 0 ms in ${zeroDowntime} of ${nubo.length} migrations (query-migrate says completed a moment before QEMU fills in downtime and total-time; the raw path reads them again)`);
  const dirtyNubo = nubo.filter((s) => s.case === 'dirty');
  if (dirtyNubo.length > 0 && dirtyNubo.every((s) => !(s.dirtyRateBytes > 0))) {
    const dirtyRaw = samples.filter((s) => s.path === 'raw' && s.case === 'dirty');
    const zeroAtCompletion = dirtyRaw.filter((s) => !((s.completedDirtyRateBytes ?? 0) > 0)).length;
    console.log(`note: nubo's finalDirtyRateBytes is 0 in every dirtying run; it is read from the \`completed\` query-migrate, whose dirty-pages-rate was 0 in ${zeroAtCompletion} of ${dirtyRaw.length} raw runs too, while their polls during pre-copy saw ${mib(median(dirtyRaw.map((s) => s.dirtyRateBytes)))} MiB/s (QEMU 7.2 computes the rate only at a bitmap sync more than 1 s after the last computation)`);
  }
  const spacing = median(samples.map((s) => s.icmp?.medianIntervalMs ?? NaN));
  const unclosed = samples.filter((s) => s.icmp !== undefined && !Number.isFinite(s.icmp.downtimeMs)).length;
  console.log(`note: the ICMP probe's replies came every ${spacing.toFixed(1)} ms (p50 over the migrations' medians; asked ${ICMP_INTERVAL_MS} ms): its downtime is exact to about that${unclosed > 0 ? `; in ${unclosed} migrations the silence was not closed inside the capture (no downtime)` : ''}`);
  console.log(`\nruntime ${runtimeS.toFixed(0)} s`);
  await mkdir('bench/results', { recursive: true });
  const out = join('bench/results', `migrate-${Date.now()}.json`);
  await writeFile(out, JSON.stringify({
    accel: accelUsed, memoryMiB, runs, tls, datastore: 'shared', dirtySleepUs,
    params: { downtimeLimitMs: p.downtimeMs, maxBandwidthMiBps: p.maxBandwidthMiBps, autoConverge: p.autoConverge, xbzrle: p.xbzrle },
    runtimeS, rows, silence, where, verdicts, comparisons: comparisons.map(({ pairs: _pairs, ...c }) => c), failedMigrations, samples,
  }, null, 2));
  console.log(`wrote ${out}`);
}
