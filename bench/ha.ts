/**
 * HA recovery time after a host kill (issue 16 item 5): detect → fence →
 * running elsewhere. A 3-host lab (run under `flock /tmp/nubo-lab.lock`) with
 * its own controller process, heartbeats every 500 ms, the `lab` fence method;
 * each run puts one 128 MiB HA guest on the shared datastore on a host, kills
 * that host's agent and QEMUs, and times from the kill to the guest running on
 * another host, split by the host's fencing times as the controller recorded
 * them (suspected, fenced, recovered). The host is then brought back
 * (`lab up`) before the next run, the hosts taken in turn. Not a test; there is
 * no raw counterpart to compare with, so the table reports the phases and
 * their medians.
 *
 * Run count: --runs (BENCH_HA_RUNS, default 3). Prints a table, writes JSON to bench/results/.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killQemusIn } from '../src/lab/lab-process.js';
import { pollUntil } from '../src/util/deadline.js';
import { MigrationLab } from '../test/support/migration-lab.js';
import { HaLab } from '../test/support/ha-lab.js';
import { benchFlag } from './support/bench-flag.js';
import { median } from './support/quantile.js';
import { textTable } from './support/text-table.js';

const runs = benchFlag('runs', 'BENCH_HA_RUNS', 3);

interface Run { host: string; detectMs: number; fenceMs: number; restartMs: number; totalMs: number; copiesMax: number }

async function main(): Promise<void> {
  const lab = new MigrationLab();
  const ha = new HaLab(lab);
  const results: Run[] = [];
  try {
    await lab.start(3, 'process');
    for (const h of lab.hosts) {
      await lab.api.setFenceConfig(h.name, { method: 'lab', labDir: lab.dir });
      await lab.api.updateHost(h.name, { cpuOvercommit: 4 });
    }
    for (let r = 0; r < runs; r++) {
      const i = (r % 3) + 1;
      const host = lab.host(i).name;
      const [vm] = await ha.vmsOn(i, [{ name: `bench-ha-${r}`, ha: true, datastore: 'shared' }]);
      if (!vm) throw new Error('no VM');
      await lab.killAgent(i);
      const killedAt = Date.now();
      await killQemusIn(lab.host(i).runDir);
      const { maxCopies } = await ha.waitRestarted(vm.id, host, 300_000);
      const runningAt = Date.now();
      const f = await pollUntil(`${host} recovered`, async () => { const x = await lab.api.hostHa(host); return x.state === 'recovered' ? x : undefined; }, { timeoutMs: 60_000 });
      const suspected = Date.parse(f.suspectedAt ?? '');
      const fenced = Date.parse(f.fencedAt ?? '');
      results.push({ host, detectMs: suspected - killedAt, fenceMs: fenced - suspected, restartMs: runningAt - fenced, totalMs: runningAt - killedAt, copiesMax: maxCopies });
      process.stdout.write(`run ${r + 1}/${runs}: ${host} ${runningAt - killedAt} ms\n`);
      await lab.agentsUp(3);
      await pollUntil(`${host} enabled`, async () => ((await lab.api.getHost(host)).state === 'enabled' ? true : undefined), { timeoutMs: 60_000 });
      await lab.api.vmAction(vm.id, 'terminate-hard');
    }
  } finally {
    await lab.stop();
  }
  const s = (n: number): string => (n / 1000).toFixed(2);
  const rows = results.map((x, k) => [String(k + 1), x.host, s(x.detectMs), s(x.fenceMs), s(x.restartMs), s(x.totalMs), String(x.copiesMax)]);
  rows.push(['median', '', s(median(results.map((x) => x.detectMs))), s(median(results.map((x) => x.fenceMs))), s(median(results.map((x) => x.restartMs))), s(median(results.map((x) => x.totalMs))), '']);
  process.stdout.write(`\nHA recovery after a host kill (heartbeat 500 ms, lab fence, 128 MiB guest)\n${textTable(['run', 'host', 'detect s', 'fence s', 'restart s', 'total s', 'max copies'], rows)}\n`);
  await mkdir('bench/results', { recursive: true });
  const out = join('bench/results', `ha-${Date.now()}.json`);
  await writeFile(out, `${JSON.stringify({ bench: 'ha', runs, heartbeatMs: 500, results }, null, 2)}\n`);
  process.stdout.write(`wrote ${out}\n`);
}

await main();
