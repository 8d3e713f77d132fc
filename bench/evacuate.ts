/**
 * Evacuation of a host with 6 VMs (issue 16 item 3): a 3-host lab (run under
 * `flock /tmp/nubo-lab.lock`) with an in-process controller at the queue's
 * default limits (2 migrations per host at once, 2048 MiB/s budget); six
 * 128 MiB tiny guests on the shared datastore are booted on h1 (h2 and h3 out
 * of service meanwhile), then `POST /hosts/h1/maintenance` and the clock runs
 * until the host is `maintenance` with zero VMs. Reports the time to empty,
 * the most migrations running at once (seen by polling the API every 100 ms,
 * and from the records' start and end times, per host), and the downtime QEMU
 * reported per VM (total, median, max). Each later run first brings the six
 * back to h1 (migrations with `to`) and evacuates again. There is no raw
 * counterpart: the table reports the figures themselves.
 *
 * Run count: --runs (BENCH_EVACUATE_RUNS, default 1); VMs: --vms (BENCH_EVACUATE_VMS, default 6).
 * Prints a table, writes JSON to bench/results/. Not a test.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MigrationView } from '../src/contract/migration-schemas.js';
import { pollUntil } from '../src/util/deadline.js';
import { MigrationLab } from '../test/support/migration-lab.js';
import { benchFlag } from './support/bench-flag.js';
import { median } from './support/quantile.js';
import { textTable } from './support/text-table.js';

const runs = benchFlag('runs', 'BENCH_EVACUATE_RUNS', 1);
const nVms = benchFlag('vms', 'BENCH_EVACUATE_VMS', 6);
const LONG = 600_000;

interface Run { emptyMs: number; maxConcurrentSeen: number; maxPerHostFromRecords: number; migrations: number; retries: number; downtimeMs: number[]; totalMs: number[] }

/** The most migrations any host was the source or destination of at one instant, from the records' start and end times. */
function maxPerHost(ms: readonly MigrationView[]): number {
  let max = 0;
  for (const m of ms) {
    const t = Date.parse(m.startedAt);
    for (const host of [m.source, m.destination]) {
      max = Math.max(max, ms.filter((o) => (o.source === host || o.destination === host) && Date.parse(o.startedAt) <= t && (o.finishedAt === null || Date.parse(o.finishedAt) > t)).length);
    }
  }
  return max;
}

async function main(): Promise<void> {
  const lab = new MigrationLab();
  const results: Run[] = [];
  try {
    await lab.start(3);
    const [h1, h2, h3] = [lab.host(1), lab.host(2), lab.host(3)];
    // Six 1-vCPU guests on one 2-core lab host: 4 vCPUs per core, as `nubo up` places them.
    for (const h of [h1, h2, h3]) await lab.api.updateHost(h.name, { cpuOvercommit: 4 });
    await lab.api.disableHost(h2.name);
    await lab.api.disableHost(h3.name);
    // One boot at a time: six at once on a loaded 2-core machine made heartbeats late, and the host monitor then
    // recorded booting VMs `poweroff` although their QEMUs ran (seen in the first run; a controller issue, reported).
    const ids: string[] = [];
    for (let i = 0; i < nVms; i++) {
      const id = (await lab.api.createVm({ template: 'tiny-mig', name: `evac-${i}`, datastore: 'shared' })).id;
      await pollUntil(`evac-${i} running`, async () => {
        const vm = await lab.api.getVm(id);
        if (vm.state === 'poweroff' || vm.state === 'failed') throw new Error(`evac-${i} ended ${vm.state} while booting: ${vm.stateReason ?? ''}`);
        return vm.state === 'running' ? true : undefined;
      }, { timeoutMs: LONG, intervalMs: 250 });
      ids.push(id);
    }
    await lab.api.enableHost(h2.name);
    await lab.api.enableHost(h3.name);
    const h1Id = (await lab.api.getHost(h1.name)).id;
    for (let r = 0; r < runs; r++) {
      if (r > 0) {
        await lab.api.enableHost(h1.name);
        for (const id of ids) {
          if ((await lab.api.getVm(id)).host === h1.name) continue;
          const m = await lab.api.migrateVm(id, { to: h1.name });
          await lab.waitMigration(m.id, LONG);
        }
      }
      const before = new Set((await lab.api.listMigrations()).map((m) => m.id));
      let seen = 0;
      const t0 = Date.now();
      await lab.api.beginHostMaintenance(h1Id, { poweredOff: 'move' });
      const done = await pollUntil('h1 in maintenance', async () => {
        const running = (await lab.api.listMigrations({ state: 'running' })).filter((m) => m.origin === `maintenance:${h1Id}`);
        seen = Math.max(seen, running.length);
        const m = await lab.api.getHostMaintenance(h1Id);
        if (m.state === 'blocked') throw new Error(`evacuation blocked: ${JSON.stringify(m.vms)}`);
        return m.state === 'maintenance' ? m : undefined;
      }, { timeoutMs: LONG, intervalMs: 100 });
      const emptyMs = Date.now() - t0;
      if (done.vmsOnHost !== 0) throw new Error(`h1 still holds ${done.vmsOnHost} VMs`);
      const ms = (await lab.api.listMigrations()).filter((m) => !before.has(m.id) && m.origin === `maintenance:${h1Id}`);
      // An attempt that did not succeed is a retry when the evacuation queued the VM again and it moved (a start
      // refused after a late heartbeat, a rolled-back copy): each VM must have moved exactly once, and the retries are reported.
      const moved = ms.filter((m) => m.state === 'succeeded');
      for (const id of ids) {
        const n = moved.filter((m) => m.vmId === id).length;
        if (n !== 1) throw new Error(`VM ${id} moved ${n} times (expected once): ${ms.filter((m) => m.vmId === id).map((m) => `${m.state}: ${m.reason ?? ''}`).join('; ')}`);
      }
      const retried = ms.filter((m) => m.state !== 'succeeded');
      for (const m of retried) process.stdout.write(`run ${r + 1}: a retried attempt for ${m.vm}: ${m.state}: ${m.reason ?? ''}\n`);
      results.push({
        emptyMs, maxConcurrentSeen: seen, maxPerHostFromRecords: maxPerHost(ms), migrations: moved.length, retries: retried.length,
        downtimeMs: moved.map((m) => m.actual?.downtimeMs ?? NaN), totalMs: moved.map((m) => m.actual?.totalMs ?? NaN),
      });
      process.stdout.write(`run ${r + 1}/${runs}: h1 empty after ${emptyMs} ms\n`);
    }
  } finally {
    await lab.stop();
  }
  const s = (n: number): string => (n / 1000).toFixed(2);
  const f = (n: number): string => n.toFixed(1);
  const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
  const rows = results.map((x, k) => [
    String(k + 1), String(x.migrations), String(x.retries), s(x.emptyMs), String(x.maxConcurrentSeen), String(x.maxPerHostFromRecords),
    f(sum(x.downtimeMs)), f(median(x.downtimeMs)), f(Math.max(...x.downtimeMs)), s(median(x.totalMs)),
  ]);
  process.stdout.write(`\nEvacuation of a host with ${nVms} VMs (128 MiB, shared datastore, queue limit 2 per host)\n`);
  process.stdout.write(`${textTable(['run', 'VMs moved', 'retried attempts', 'to empty s', 'max running (seen)', 'max per host (records)', 'downtime total ms', 'median ms', 'max ms', 'median migration s'], rows)}\n`);
  await mkdir('bench/results', { recursive: true });
  const out = join('bench/results', `evacuate-${Date.now()}.json`);
  await writeFile(out, `${JSON.stringify({ bench: 'evacuate', runs, vms: nVms, perHostLimit: 2, results }, null, 2)}\n`);
  process.stdout.write(`wrote ${out}\n`);
}

await main();
