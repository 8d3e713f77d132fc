/**
 * Hybrid bursting benchmark (issue 18): how long a VM takes to run when it
 * bursts to a remote cloud, against a local create. Two nubo sites on
 * loopback (test/support/hybrid-clouds.ts): the local one with room for one
 * VM, the remote one as the public cloud behind its EC2 listener; both on the
 * fake driver, so what is measured is the control plane — the local
 * scheduler, RunInstances through the AWS SDK and SigV4, the remote's own
 * placement and boot, and the local controller seeing `running` through
 * DescribeInstances — not a guest's boot (which both sides would pay alike).
 *
 * Each side is timed from `POST /api/v1/vms` on the local site until its API
 * first shows the VM `running` (polled every --poll-ms); the VM is then
 * terminated (and its remote instance with it) before the next one, so one
 * VM runs at a time on each side. Pairs are interleaved. The guide (no
 * target was set by the issue): the control plane a burst adds stays under
 * a second (median of per-pair differences burst − local ≤ 1000 ms); on a
 * real public cloud the instance's own boot (tens of seconds) dwarfs it.
 *
 * --runs (BENCH_BURST_RUNS, default 7); --poll-ms (BENCH_BURST_POLL_MS, default 50).
 * Prints a table, writes JSON to bench/results/.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { HybridClouds } from '../test/support/hybrid-clouds.js';
import { benchFlag } from './support/bench-flag.js';
import { interleaved } from './support/interleaved.js';
import { comparePairs, describeComparison } from './support/paired-comparison.js';
import { median, quantile } from './support/quantile.js';
import { textTable } from './support/text-table.js';
import { pollUntil } from '../src/util/deadline.js';

const runs = benchFlag('runs', 'BENCH_BURST_RUNS', 7);
const pollMs = benchFlag('poll-ms', 'BENCH_BURST_POLL_MS', 50);
const say = (line: string): void => void process.stderr.write(`${line}\n`);
const TIMEOUT_MS = 300_000;

/** Polls with the shared helper: a deadline of TIMEOUT_MS, every --poll-ms. */
const until = <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => pollUntil(what, probe, { timeoutMs: TIMEOUT_MS, intervalMs: pollMs });

const root = await mkdtemp(join(tmpdir(), 'nubo-bench-burst-'));
let h: HybridClouds | undefined;
try {
  h = await HybridClouds.start({ root, localCpus: 1, logger: pino({ level: process.env['NUBO_BENCH_LOG'] ?? 'silent' }), localArgs: ['--cloud-poll-ms', '1000'] });
  const api = h.localApi;
  await api.addCloud(h.cloudBody({ capacity: 10 }));
  let n = 0;
  const timed = async (template: string): Promise<number> => {
    const t0 = performance.now();
    const vm = await api.createVm({ template, name: `${template}-${n++}` });
    await until(`${vm.id} running`, async () => {
      const v = await api.getVm(vm.id);
      if (v.state === 'failed' || v.state === 'terminated') throw new Error(`${vm.name} ended ${v.state}: ${v.stateReason ?? ''}`);
      return v.state === 'running' ? true : undefined;
    });
    const ms = performance.now() - t0;
    await api.vmAction(vm.id, 'terminate-hard');
    await until(`${vm.id} terminated`, async () => ((await api.getVm(vm.id)).state === 'terminated' ? true : undefined));
    return ms;
  };
  // `small` runs on the local host (it has room for one); `cloudy` asks for burst-1 by name, as a VM no local host takes would go there.
  say(`${runs} interleaved pairs: local create → running, burst (RunInstances on the remote nubo) → running (poll every ${pollMs} ms)`);
  const pairs = await interleaved(runs, () => timed('small'), () => timed('cloudy'));
  for (const [i, p] of pairs.entries()) say(`  pair ${i + 1}: local ${(p.raw / 1000).toFixed(2)} s, burst ${(p.nubo / 1000).toFixed(2)} s`);
  const c = comparePairs('burst → running vs local create → running', pairs, 'difference', { limit: 1000, kind: 'atMost' }, 'ms');
  const row = (name: string, xs: readonly number[]): string[] => [name, (median(xs) / 1000).toFixed(2), (quantile(xs, 0.9) / 1000).toFixed(2), `${xs.length}`];
  console.log(`\nCreate → running, fake driver on both sites, one VM at a time, ${new Date().toISOString()}`);
  console.log(textTable(['placement', 'p50 s', 'p90 s', 'runs'], [row('local host', pairs.map((p) => p.raw)), row('burst to remote EC2 cloud', pairs.map((p) => p.nubo))]));
  console.log('');
  console.log(describeComparison(c));
  await mkdir('bench/results', { recursive: true });
  const out = join('bench/results', `burst-${Date.now()}.json`);
  await writeFile(out, `${JSON.stringify({ at: new Date().toISOString(), runs, pollMs, comparison: c }, null, 2)}\n`);
  console.log(`\nwrote ${out}`);
} finally {
  await h?.close().catch((err: unknown) => say(`clean-up: ${String(err)}`));
  await rm(root, { recursive: true, force: true });
}
