#!/usr/bin/env node
// Runs the compiled test files with node's own test runner, one `node --test`
// per file so that each file's wall time (set-up hooks included) is known.
//
// Two passes:
//  1. unit test files under dist/src, `--jobs` at a time (default 2): they are
//     pure or use only their own temp dirs, ephemeral ports and unix sockets.
//  2. every suite under dist/test (real QEMU under TCG, their own namespaces
//     and ports) and the src files in SERIAL, which start QEMU or a PostgreSQL
//     cluster or time real processes: two at a time, but never two suites
//     that bring up the namespace lab (only one lab can exist on a machine).
//     A free runner takes a lab suite when the lab is free, else the next
//     other suite, the known slow ones first: the lab suites alone are about
//     a third of the pass, so fixed lanes (lab | other) left one runner idle
//     for half of it. A suite spends much of its time waiting on processes
//     and timers, so two overlap well on 2 cores; `--lanes 1` runs pass 2 one
//     file at a time.
// A src test file that starts QEMU, a database or anything CPU-heavy goes into
// SERIAL; a suite that uses the lab (test/support/migration-lab.ts, src/lab/,
// debian-lab-cloud.ts) is told by its imports and never runs beside another. Output is printed per file as each ends
// (streamed live with --lanes 1). At the end: the failed files, then the
// slowest files.
//
//   node scripts/run-tests.mjs [--unit] [--jobs N] [--lanes 1|2] [FILTER...]
// --unit runs dist/src only; a FILTER keeps the files whose path contains it.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';

const SERIAL = [
  'dist/src/hypervisor/qemu/qmp-client.test.js',
  'dist/src/security/migration-pki.test.js',
  'dist/src/store/postgres-store.test.js',
  'dist/src/store/repositories/leadership-repository.test.js',
];

/**
 * The slowest suites (minutes each in CI), started first so that none of them
 * is left running alone at the end of pass 2; the rest follow by name.
 */
const SLOW_FIRST = [
  'dist/test/leases.e2e.test.js',
  'dist/test/debian-guest.e2e.test.js',
  'dist/test/ha-failover.e2e.test.js',
  'dist/test/scale-fleet.e2e.test.js',
  'dist/test/qemu-live-migration.e2e.test.js',
  'dist/test/autoscale-crash.e2e.test.js',
  'dist/test/live-migration.e2e.test.js',
  'dist/test/cold-migration.e2e.test.js',
  'dist/test/suspend-crash.e2e.test.js',
  'dist/test/autoscale.e2e.test.js',
];

/** A suite that uses the namespace lab (never two at once), told by what it imports. */
const usesLab = (file) => /migration-lab\.js|\/lab\/|debian-lab-cloud\.js/.test(readFileSync(file, 'utf8'));

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const jobsAt = args.indexOf('--jobs');
const jobs = jobsAt >= 0 ? Number(args[jobsAt + 1]) : Math.max(1, Math.min(2, cpus().length));
if (!Number.isInteger(jobs) || jobs < 1) {
  console.error('--jobs takes a positive integer');
  process.exit(2);
}
const lanesAt = args.indexOf('--lanes');
const lanes = lanesAt >= 0 ? Number(args[lanesAt + 1]) : 2;
if (lanes !== 1 && lanes !== 2) {
  console.error('--lanes takes 1 or 2');
  process.exit(2);
}
const filters = args.filter((a, i) => !a.startsWith('--') && !(jobsAt >= 0 && i === jobsAt + 1) && !(lanesAt >= 0 && i === lanesAt + 1));

for (const s of [...SERIAL, ...SLOW_FIRST]) {
  // A moved or renamed file would silently join the parallel pass.
  if (!existsSync(s)) {
    console.error(`scripts/run-tests.mjs: lists ${s}, which does not exist (moved? update the list)`);
    process.exit(2);
  }
}

// bench/support holds the pure statistics the benchmarks' verdicts rest on: unit tests too.
const roots = unitOnly ? ['dist/src', 'dist/bench'] : ['dist/src', 'dist/bench', 'dist/test'];
let files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
};
for (const r of roots) {
  try { walk(r); } catch { /* a root without tests */ }
}
files.sort();
if (filters.length > 0) files = files.filter((f) => filters.some((x) => f.includes(x)));

const serial = (f) => f.startsWith('dist/test/') || SERIAL.includes(f);
const parallelFiles = files.filter((f) => !serial(f));
const serialFiles = files.filter(serial);

const reporter = process.stdout.isTTY ? 'spec' : 'tap';
const nodeArgs = (file) => ['--enable-source-maps', '--test', '--test-concurrency=1', '--test-timeout=600000', `--test-reporter=${reporter}`, file];

/** @type {{ file: string, ms: number, code: number }[]} */
const results = [];
// Interrupted: the files still running end too (each test's own after hooks clean up), not orphaned.
const running = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const c of running) c.kill(sig);
    process.exit(130);
  });
}

const runOne = (file, buffered) => new Promise((resolve) => {
  const started = Date.now();
  const chunks = [];
  const child = spawn(process.execPath, nodeArgs(file), { stdio: buffered ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
  running.add(child);
  if (buffered) {
    child.stdout.on('data', (c) => chunks.push(c));
    child.stderr.on('data', (c) => chunks.push(c));
  } else {
    process.stdout.write(`# file: ${file}\n`);
  }
  child.on('close', (code, signal) => {
    running.delete(child);
    const ms = Date.now() - started;
    const status = code ?? (signal ? 1 : 0);
    if (buffered) process.stdout.write(`# file: ${file}\n${Buffer.concat(chunks).toString()}`);
    process.stdout.write(`# file ${status === 0 ? 'ok' : 'FAILED'}: ${file} (${(ms / 1000).toFixed(1)} s)\n`);
    results.push({ file, ms, code: status });
    resolve();
  });
});

const t0 = Date.now();
const queue = [...parallelFiles];
await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, async () => {
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) await runOne(f, jobs > 1);
}));
const parallelMs = Date.now() - t0;
if (lanes === 1) {
  for (const f of serialFiles) await runOne(f, false);
} else {
  const rank = (f) => { const i = SLOW_FIRST.indexOf(f); return i < 0 ? SLOW_FIRST.length : i; };
  const labQueue = serialFiles.filter(usesLab).sort((a, b) => rank(a) - rank(b));
  const otherQueue = serialFiles.filter((f) => !usesLab(f)).sort((a, b) => rank(a) - rank(b));
  let labBusy = false;
  /** Wakes a runner that waits for the lab while only lab suites are left. */
  let labFreed = () => {};
  const runner = async () => {
    for (;;) {
      if (!labBusy && labQueue.length > 0) {
        const f = labQueue.shift();
        labBusy = true;
        try { await runOne(f, true); } finally { labBusy = false; labFreed(); }
      } else if (otherQueue.length > 0) {
        await runOne(otherQueue.shift(), true);
      } else if (labQueue.length > 0) {
        await new Promise((resolve) => { labFreed = resolve; });
      } else {
        return;
      }
    }
  };
  await Promise.all([runner(), runner()]);
}
const totalMs = Date.now() - t0;

const failed = results.filter((r) => r.code !== 0);
const slowest = [...results].sort((a, b) => b.ms - a.ms).slice(0, 15);
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
console.log(`\n# ${results.length} files: ${parallelFiles.length} at ${jobs} at a time in ${s(parallelMs)}, ${serialFiles.length} ${lanes === 2 ? 'two at a time (one lab suite at a time)' : 'one at a time'} in ${s(totalMs - parallelMs)}; total ${s(totalMs)}`);
console.log('# slowest files (wall time, set-up included):');
for (const r of slowest) console.log(`#   ${s(r.ms).padStart(8)}  ${r.file}`);
if (failed.length > 0) {
  console.log(`# FAILED (${failed.length}):`);
  for (const r of failed) console.log(`#   ${r.file} (exit ${r.code})`);
}
process.exit(failed.length > 0 ? 1 : 0);
