/**
 * bench/leases.ts — the lease scheduler and its simulator (issue 15, items 6
 * and 7). Part 1 reproduces the shape of the HPDC 2008 result (Sotomayor,
 * Keahey, Foster): the 30-day SDSC Blue Horizon trace on 144 nodes (1 CPU,
 * 1 GiB), suspend/resume 50 MB/s, aggressive backfilling, with AR injections
 * requested 24 h ahead; all-best-effort against the no-AR baseline, without
 * and with suspend/resume — the saved state local to its hosts, or on shared
 * storage (any host resumes it: the setting the paper's numbers correspond
 * to) — and with the migration-aware policy (local state moved to other hosts
 * when that ends sooner), each row with its target verdict. Part 2: speed —
 * simulated ÷ wall time, AR admission rate with 1,000 hosts and 10,000
 * queued leases, peak RSS.
 *
 *   npm run bench:leases [-- --set paper|all|<substring>] [--admissions N]
 * `--set paper` (default) runs the paper's three [10/20/30 %, 3 h, medium]
 * injections; `all` the 72 (each about 10–20 s per setting on a busy 2-core
 * machine); any other value the injection files whose name contains it.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchFlag } from './support/bench-flag.js';
import { textTable } from './support/text-table.js';
import { seededRandom } from './support/seeded-random.js';
import { readInjections } from '../src/sim/read-injections.js';
import { readSwf } from '../src/sim/read-swf.js';
import { simulate } from '../src/sim/simulate.js';
import { compileSimConfig } from '../src/sim/sim-config.js';
import type { SimMetrics } from '../src/sim/sim-metrics.js';
import { LeaseScheduler } from '../src/core/leases/lease-scheduler.js';
import { compileLeasePolicies } from '../src/core/leases/lease-policies.js';
import { compileLeaseRates } from '../src/core/leases/lease-rates.js';
import type { Enactment } from '../src/core/leases/enactment.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HAIZEA = `${ROOT}test/fixtures/haizea/`;
const argv = process.argv.slice(2);
const setArg = argv.find((a, i) => argv[i - 1] === '--set') ?? argv.find((a) => a.startsWith('--set='))?.slice(6) ?? 'paper';
const admissions = benchFlag('admissions', 'BENCH_ADMISSIONS', 5000);

// The paper's numbers (README of the traces): all-best-effort change % and mean wait (10³ s) for [10/20/30 %, 3 h, medium].
const PAPER: Record<string, { noSr: number; sr: number; waitNoSr: number; waitSr: number }> = {
  'work_10-dur_3h-size_2medium.lwf': { noSr: 3.91, sr: -0.76, waitNoSr: 16.91, waitSr: 6.18 },
  'work_20-dur_3h-size_2medium.lwf': { noSr: 8.66, sr: 0.1, waitNoSr: 23.91, waitSr: 8.14 },
  'work_30-dur_3h-size_2medium.lwf': { noSr: 23.93, sr: 4.14, waitNoSr: 68.95, waitSr: 14.84 },
};
const PAPER_BASELINE_S = 2_674_265;

const files = readdirSync(`${HAIZEA}injected-30days`).filter((f) => (setArg === 'all' ? true : setArg === 'paper' ? f in PAPER : f.includes(setArg))).sort();
if (files.length === 0) throw new RangeError(`--set ${setArg}: no injection file matches`);

const be = readSwf(readFileSync(`${HAIZEA}blue-30days.swf`, 'utf8'));
const base = { hosts: { count: 144, cpus: 1, memoryMiB: 1024 }, rates: { suspendMiBps: 50, resumeMiBps: 50, bootS: 10, shutdownS: 10 } };
// Each setting: the policies, and the rates it adds to the base (where a suspended lease's state lives).
const SETTINGS = {
  'no S/R': { policies: { backfilling: 'aggressive', suspension: 'none' }, rates: {} },
  'S/R, state local': { policies: { backfilling: 'aggressive', suspension: 'all', migration: 'no' }, rates: {} },
  'S/R, state on shared storage': { policies: { backfilling: 'aggressive', suspension: 'all', migration: 'no' }, rates: { suspendTo: 'shared' } },
  'S/R, local + migration': { policies: { backfilling: 'aggressive', suspension: 'all', migration: 'yes' }, rates: {} },
} as const;
type Setting = keyof typeof SETTINGS;
/** The paper's S/R target: the ARs cost at most about this much of all-best-effort. */
const SR_TARGET_PCT = 10;
/** "Markedly more" without S/R: at least this many points above the same injection's S/R on shared storage (the paper's setting). */
const MARKED_PTS = 3;

let peakRss = process.memoryUsage().rss;
const sample = (): void => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
};

function run(ars: ReturnType<typeof readInjections>, setting: Setting): { m: SimMetrics; wallS: number } {
  const t0 = performance.now();
  const { policies, rates } = SETTINGS[setting];
  const r = simulate({ leases: [...be, ...ars] }, compileSimConfig({ ...base, rates: { ...base.rates, ...rates }, policies }));
  sample();
  return { m: r.metrics, wallS: (performance.now() - t0) / 1000 };
}

const say = (s: string): void => void process.stderr.write(`${s}\n`);
/**
 * An injection file's ARs. Two of the 72 (work_25- and work_30-dur_1h-size_1small) hold ARs whose start is
 * before the trace's (and their own submission's) time 0: no scheduler can grant those, and the reader rightly
 * refuses them as input; here they are left out of the run and counted as not admitted ("ARs in").
 */
function readArs(f: string): { ars: ReturnType<typeof readInjections>; past: number } {
  let past = 0;
  const lines = readFileSync(`${HAIZEA}injected-30days/${f}`, 'utf8').split('\n').filter((line) => {
    const fields = line.trim().split(/\s+/);
    const inPast = fields.length > 2 && !line.trim().startsWith('#') && Number(fields[1]) < 0;
    if (inPast) past++;
    return !inPast;
  });
  return { ars: readInjections(lines.join('\n'), f), past };
}
say(`baseline (no ARs) …`);
const baseline = run([], 'no S/R');
const change = (v: number | null): number | null => (v === null ? null : ((v - baseline.m.allBestEffortS!) / baseline.m.allBestEffortS!) * 100);
const pct = (v: number | null): string => (v === null ? '-' : v.toFixed(2));
const k = (v: number | null): string => (v === null ? '-' : (v / 1000).toFixed(2));
const rows: string[][] = [];
const results: Record<string, unknown>[] = [];
const speed: { file: string; policy: string; simulatedS: number; wallS: number }[] = [];
const verdicts: Record<Setting, { pass: number; of: number }> = { 'no S/R': { pass: 0, of: 0 }, 'S/R, state local': { pass: 0, of: 0 }, 'S/R, state on shared storage': { pass: 0, of: 0 }, 'S/R, local + migration': { pass: 0, of: 0 } };
for (const f of files) {
  const { ars, past } = readArs(f);
  const out = {} as Record<Setting, { m: SimMetrics; wallS: number }>;
  for (const name of Object.keys(SETTINGS) as Setting[]) {
    say(`${f}: ${name} …`);
    out[name] = run(ars, name);
    speed.push({ file: f, policy: name, simulatedS: out[name].m.simulatedS, wallS: out[name].wallS });
  }
  const paper = PAPER[f];
  const sharedPct = change(out['S/R, state on shared storage'].m.allBestEffortS);
  for (const name of Object.keys(SETTINGS) as Setting[]) {
    const m = out[name].m;
    const c = change(m.allBestEffortS);
    const sr = name !== 'no S/R';
    // With S/R the ARs cost at most ~10 %; without, markedly more than with S/R where the paper had it (shared storage).
    const pass = c !== null && (sr ? c <= SR_TARGET_PCT : sharedPct !== null && c >= sharedPct + MARKED_PTS);
    verdicts[name].of++;
    if (pass) verdicts[name].pass++;
    rows.push([
      f.replace('.lwf', ''),
      name,
      `${m.arsAccepted}/${m.arsAccepted + m.arsRejected + past}`,
      pct(c),
      paper ? (sr ? paper.sr : paper.noSr).toFixed(2) : '',
      k(m.meanWaitS),
      paper ? (sr ? paper.waitSr : paper.waitNoSr).toFixed(2) : '',
      String(m.preemptions),
      String(m.migrations),
      String(m.handoffs),
      String(m.requeues),
      `${sr ? `≤ ${SR_TARGET_PCT}` : `≥ shared S/R + ${MARKED_PTS}`}: ${pass ? 'PASS' : 'FAIL'}`,
    ]);
  }
  results.push({ file: f, settings: Object.fromEntries(Object.entries(out).map(([n, r]) => [n, r.m])), paper });
}

// Item 7: AR admission with 1,000 hosts and 10,000 queued best-effort leases.
const quiet: Enactment = { prepare() {}, migrate() {}, resume() {}, run() {}, suspend() {}, shutdown() {}, requeue() {}, cancel() {}, done() {} };
const s = new LeaseScheduler({ hosts: Array.from({ length: 1000 }, () => ({ cpus: 8, memoryMiB: 16384 })), rates: compileLeaseRates(), policies: compileLeasePolicies(), enactment: quiet });
const rnd = seededRandom(15);
const shape = { cpus: 1, memoryMiB: 1024 };
for (let i = 0; i < 10_000; i++) s.submit({ id: `be${i}`, kind: 'be', submit: 0, duration: 600 + Math.floor(rnd() * 36_000), vms: 1 + Math.floor(rnd() * 16), shape, preemptible: true }, 0);
s.schedule(0);
s.advance(0);
sample();
const t0 = performance.now();
let accepted = 0;
for (let i = 0; i < admissions; i++) {
  const start = 3600 + Math.floor(rnd() * 30 * 86_400);
  if (s.submit({ id: `ar${i}`, kind: 'ar', submit: 0, start, duration: 600 + Math.floor(rnd() * 14_400), vms: 1 + Math.floor(rnd() * 32), shape, preemptible: false }, 0).accepted) accepted++;
}
const admitS = (performance.now() - t0) / 1000;
sample();

console.log(`\nHPDC 2008 shape: 30-day Blue Horizon trace, 144 nodes (1 CPU, 1 GiB), suspend/resume 50 MB/s, boot ${base.rates.bootS} s + shutdown ${base.rates.shutdownS} s, aggressive backfilling, ARs requested 24 h ahead`);
console.log(`baseline (no ARs): all-best-effort ${baseline.m.allBestEffortS} s (paper, no VMs: ${PAPER_BASELINE_S} s); mean wait ${k(baseline.m.meanWaitS)} ×10³ s`);
console.log('all-best-effort change in % of the baseline, mean wait in 10³ s, the paper\'s S/R or no-S/R figure beside each. Settings: no S/R (suspension none);');
console.log('S/R, state local: a suspended lease resumes only where its memory is (migration no); S/R, state on shared storage: on any free hosts, read from the');
console.log('shared datastore at the resume rate, no move (Haizea 2008\'s behaviour); S/R, local + migration: elsewhere after moving memory + disk at 100 MiB/s.');
console.log('suspends = preemptions; moves = migrate steps; hand-offs = resumes elsewhere from shared storage; requeues = runs an AR ended because the lease could not be suspended');
console.log(
  textTable(['injection', 'setting', 'ARs in', 'all-BE %', 'paper', 'wait', 'paper', 'suspends', 'moves', 'hand-offs', 'requeues', 'target'], rows),
);
console.log(`\nTargets met: ${Object.entries(verdicts).map(([n, v]) => `${n} ${v.pass}/${v.of}`).join('; ')}`);
const totalSim = speed.reduce((a, x) => a + x.simulatedS, 0);
const totalWall = speed.reduce((a, x) => a + x.wallS, 0);
console.log(`\nSpeed: ${speed.length} runs of the 30-day trace with an injection: ${(totalWall / speed.length).toFixed(1)} s each on average, simulated ÷ wall = ${(totalSim / totalWall).toFixed(0)}×`);
console.log(`Admission: ${admissions} ARs against 1,000 hosts (8 CPU, 16 GiB) with 10,000 queued best-effort leases: ${(admissions / admitS).toFixed(0)} requests/s (${accepted} accepted) — target ≥ 1,000/s: ${admissions / admitS >= 1000 ? 'PASS' : 'FAIL'}`);
console.log(`Peak RSS: ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
mkdirSync(`${ROOT}bench/results`, { recursive: true });
const outFile = `${ROOT}bench/results/leases-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
writeFileSync(outFile, JSON.stringify({ baseline: baseline.m, paperBaselineS: PAPER_BASELINE_S, settings: SETTINGS, srTargetPct: SR_TARGET_PCT, markedPts: MARKED_PTS, verdicts, results, speed, admission: { requests: admissions, seconds: admitS, accepted }, peakRssBytes: peakRss }, null, 2));
console.log(`JSON: ${outFile}`);
