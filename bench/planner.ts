/**
 * The migration planner's prediction against what happened (issue 16 item 2):
 * a 2-host lab (run under `flock /tmp/nubo-lab.lock`) with an in-process
 * controller; two 128 MiB tiny guests on the shared datastore, one idle and
 * one rewriting a 32 MiB tmpfs buffer from a random 4 MiB block in a loop.
 * Each run live-migrates both to the other host through the API (the order
 * alternates between runs); every migration's record carries the planner's
 * prediction (dirty rate from QEMU's calc-dirty-rate, link bandwidth from past
 * migrations or the policy's cap) next to QEMU's actual total time and
 * downtime. Prints each migration and the median |error| per case, where the
 * error is (predicted − actual) / actual. The first migration of a lab has no
 * past migration to measure the link by (basis `policy`): it is reported,
 * and counted, like the others.
 *
 * Run count: --runs (BENCH_PLANNER_RUNS, default 3). Prints a table, writes JSON to bench/results/. Not a test.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pollUntil } from '../src/util/deadline.js';
import { MigrationLab } from '../test/support/migration-lab.js';
import { benchFlag } from './support/bench-flag.js';
import { median } from './support/quantile.js';
import { textTable } from './support/text-table.js';

const runs = benchFlag('runs', 'BENCH_PLANNER_RUNS', 3);
const LONG = 600_000;
const MiB = 1024 * 1024;

// Always on from boot: a loop the dirty-rate measurement and the migration both see.
const DIRTY_USER_DATA = [
  '#!/bin/sh',
  '(',
  '  dd if=/dev/urandom of=/run/dirty-src bs=1M count=4 2>/dev/null',
  '  n=0',
  '  while :; do',
  '    dd if=/run/dirty-src of=/run/dirty-buf bs=1M count=4 seek=$((n % 8 * 4)) conv=notrunc 2>/dev/null',
  '    n=$((n + 1))',
  '    usleep 50000',
  '  done',
  ') &',
  'echo USERDATA-DONE',
  '',
].join('\n');

type Case = 'idle' | 'dirty';
interface Sample {
  case: Case; run: number; from: string; to: string;
  predictedTotalMs: number; actualTotalMs: number; predictedDowntimeMs: number; actualDowntimeMs: number;
  dirtyMiBps: number; bandwidthBasis: string; passes: number;
}

const errPct = (p: number, a: number): number => (a > 0 ? ((p - a) / a) * 100 : NaN);

async function main(): Promise<void> {
  const lab = new MigrationLab();
  const samples: Sample[] = [];
  try {
    await lab.start(2);
    const [h1, h2] = [lab.host(1), lab.host(2)];
    await lab.api.updateHost(h1.name, { cpuOvercommit: 4 });
    await lab.api.updateHost(h2.name, { cpuOvercommit: 4 });
    // Both on h1 to begin with, without requirements (the moves name their destination).
    await lab.api.disableHost(h2.name);
    const idle = (await lab.api.createVm({ template: 'tiny-mig', name: 'plan-idle', datastore: 'shared' })).id;
    await lab.waitState(idle, 'running', LONG);
    const dirty = (await lab.api.createVm({ template: 'tiny-mig', name: 'plan-dirty', datastore: 'shared', userData: DIRTY_USER_DATA })).id;
    await lab.waitState(dirty, 'running', LONG);
    const vms: Record<Case, string> = { idle, dirty };
    await pollUntil('the dirtying loop started', async () => (/USERDATA-DONE/.test(await lab.api.vmConsole(vms.dirty)) ? true : undefined), { timeoutMs: LONG, intervalMs: 500 });
    await lab.api.enableHost(h2.name);
    for (let r = 0; r < runs; r++) {
      const order: Case[] = r % 2 === 0 ? ['idle', 'dirty'] : ['dirty', 'idle'];
      for (const c of order) {
        const vm = await lab.api.getVm(vms[c]);
        const to = vm.host === h1.name ? h2.name : h1.name;
        const started = await lab.api.migrateVm(vm.id, { to });
        const m = await lab.waitMigration(started.id, LONG);
        if (m.state !== 'succeeded') throw new Error(`${c} migration ${m.state}: ${m.reason}`);
        const p = m.prediction ?? {};
        samples.push({
          case: c, run: r + 1, from: m.source, to: m.destination,
          predictedTotalMs: Number(p['totalMs']), actualTotalMs: m.actual?.totalMs ?? NaN,
          predictedDowntimeMs: Number(p['downtimeMs']), actualDowntimeMs: m.actual?.downtimeMs ?? NaN,
          dirtyMiBps: Number(p['dirtyBytesPerSec']) / MiB, bandwidthBasis: typeof p['bandwidthBasis'] === 'string' ? p['bandwidthBasis'] : '', passes: Number(p['passes']),
        });
        process.stdout.write(`run ${r + 1}/${runs} ${c}: predicted ${Number(p['totalMs'])} ms, actual ${m.actual?.totalMs ?? NaN} ms\n`);
      }
    }
  } finally {
    await lab.stop();
  }
  const f = (n: number, d = 0): string => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const rows = samples.map((x) => [
    x.case, String(x.run), `${x.from}→${x.to}`, f(x.dirtyMiBps, 1), x.bandwidthBasis,
    f(x.predictedTotalMs), f(x.actualTotalMs), f(errPct(x.predictedTotalMs, x.actualTotalMs), 1),
    f(x.predictedDowntimeMs, 1), f(x.actualDowntimeMs, 1), f(errPct(x.predictedDowntimeMs, x.actualDowntimeMs), 1),
  ]);
  process.stdout.write(`\nPlanner: predicted vs actual live migrations (128 MiB guests, shared datastore, default policy)\n`);
  process.stdout.write(`${textTable(['case', 'run', 'route', 'dirty MiB/s', 'bw basis', 'pred total ms', 'actual ms', 'err %', 'pred downtime ms', 'actual ms', 'err %'], rows)}\n`);
  const summary = (['idle', 'dirty', 'all'] as const).map((c) => {
    const xs = samples.filter((x) => c === 'all' || x.case === c);
    return {
      case: c, n: xs.length,
      medianAbsTotalErrPct: median(xs.map((x) => Math.abs(errPct(x.predictedTotalMs, x.actualTotalMs)))),
      medianAbsDowntimeErrPct: median(xs.map((x) => Math.abs(errPct(x.predictedDowntimeMs, x.actualDowntimeMs)))),
    };
  });
  process.stdout.write(`\n${textTable(['case', 'migrations', 'median |err| total %', 'median |err| downtime %'], summary.map((s) => [s.case, String(s.n), f(s.medianAbsTotalErrPct, 1), f(s.medianAbsDowntimeErrPct, 1)]))}\n`);
  await mkdir('bench/results', { recursive: true });
  const out = join('bench/results', `planner-${Date.now()}.json`);
  await writeFile(out, `${JSON.stringify({ bench: 'planner', runs, samples, summary }, null, 2)}\n`);
  process.stdout.write(`wrote ${out}\n`);
}

await main();
