/**
 * Boot benchmark: time from Hypervisor.start() to QMP `running` and to the
 * guest's NUBO-READY line. One VM: interleaved pairs with a raw QEMU launched
 * by hand (bench/raw-qemu.ts) on the same image, both timed to NUBO-READY
 * with the same serial-log poll; verdict on the median of the per-pair
 * differences, driver − raw ≤ 100 ms (the driver's share of issue 12's
 * provisioning budget), with a bootstrap CI. Four started at once: p50 and
 * max (no raw counterpart). Prints tables and writes JSON to bench/results/.
 * Not a test: numbers vary with the machine.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuDriver } from '../src/hypervisor/qemu/qemu-driver.js';
import { waitForConsole } from '../src/hypervisor/qemu/wait-for-console.js';
import { buildTinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { prepareTinyVm } from '../src/storage/prepare-tiny-vm.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { benchFlag } from './support/bench-flag.js';
import { formatDistinct } from './support/format-distinct.js';
import { interleaved } from './support/interleaved.js';
import { comparePairs, describeComparison } from './support/paired-comparison.js';
import { quantile } from './support/quantile.js';
import { rawBootToReady } from './raw-qemu.js';

interface Sample { case: string; vm: string; toRunningMs: number; toReadyMs: number }

const pairCount = benchFlag('pairs', 'BENCH_PAIRS', 9);
const rounds = benchFlag('rounds', 'BENCH_ROUNDS', 2);
const image = await buildTinyImage({ cacheDir: imageCacheDir() });
const root = await mkdtemp(join(tmpdir(), 'nubo-bench-'));
const ds = join(root, 'ds');
await mkdir(ds);
const driver = await QemuDriver.create({ runDir: join(root, 'run'), allowedDirs: [ds, image.dir] });
const rawOpts = { accel: driver.accel, runDir: join(root, 'raw-run'), dir: ds, memoryMiB: 128 } as const;
const samples: Sample[] = [];

async function bootOne(caseName: string, id: string): Promise<number> {
  const spec = await prepareTinyVm({ image, dir: ds, id, memoryMiB: 128 });
  const t0 = performance.now();
  await driver.start(spec); // resolves once QMP reports `running`
  const t1 = performance.now();
  await waitForConsole(driver.pathsOf(id).serialLog, `NUBO-READY ${id}`, { timeoutMs: 120_000 });
  const t2 = performance.now();
  samples.push({ case: caseName, vm: id, toRunningMs: t1 - t0, toReadyMs: t2 - t0 });
  return t2 - t0;
}

const pairs: { raw: number; nubo: number }[] = [];
try {
  // Untimed: the first launch pays for loading QEMU and the images into the page cache.
  await rawBootToReady(image, 'warm', rawOpts);
  pairs.push(...await interleaved(pairCount, (r) => rawBootToReady(image, `raw-${r}`, rawOpts), async (r) => {
    const ms = await bootOne('1 VM', `b1-r${r}`);
    await driver.destroy(`b1-r${r}`);
    return ms;
  }));
  for (let r = 0; r < rounds; r++) {
    const ids = [0, 1, 2, 3].map((i) => `b4-r${r}-${i}`);
    await Promise.all(ids.map((id) => bootOne('4 VMs at once', id)));
    for (const id of ids) await driver.destroy(id);
  }
} finally {
  for (const s of await driver.list()) await driver.destroy(s.id).catch(() => {});
  await driver.close();
  await rm(root, { recursive: true, force: true });
}

const rows = ['1 VM', '4 VMs at once'].map((c) => {
  const xs = samples.filter((s) => s.case === c);
  const run = xs.map((s) => s.toRunningMs);
  const ready = xs.map((s) => s.toReadyMs);
  return { case: c, boots: xs.length, runningP50: quantile(run, 0.5), runningMax: Math.max(...run), readyP50: quantile(ready, 0.5), readyMax: Math.max(...ready) };
});
console.log(`\nboot benchmark — accel ${driver.accel.toUpperCase()}, 128 MiB, 1 vCPU, ${pairCount} interleaved raw/driver pairs, ${rounds} rounds of 4 at once, ${new Date().toISOString()}`);
console.log('| case | boots | start→running p50 | max | start→NUBO-READY p50 | max |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  const [a, b, c, d] = formatDistinct([r.runningP50, r.runningMax, r.readyP50, r.readyMax].map((x) => x / 1000), 2);
  console.log(`| ${r.case} | ${r.boots} | ${a} s | ${b} s | ${c} s | ${d} s |`);
}
const cmp = comparePairs('boot to ready (driver vs raw QEMU)', pairs, 'difference', { limit: 100, kind: 'atMost' }, 'ms');
console.log(`\n4-at-once vs 1: ready p50 ratio ${formatDistinct([rows[1]!.readyP50 / rows[0]!.readyP50], 2)[0]}× (2 cores; TCG boots are CPU-bound)`);
console.log(describeComparison(cmp));
await mkdir('bench/results', { recursive: true });
const out = join('bench/results', `boot-${Date.now()}.json`);
await writeFile(out, JSON.stringify({ accel: driver.accel, pairCount, rounds, rows, samples, pairs, comparison: cmp }, null, 2));
console.log(`wrote ${out}`);
