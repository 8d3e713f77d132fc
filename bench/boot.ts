/**
 * Boot benchmark: time from Hypervisor.start() to QMP `running` and to the
 * guest's NUBO-READY line, for 1 VM and for 4 started at once. Prints a table
 * and writes JSON to bench/results/. Not a test: numbers vary with the machine.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuDriver } from '../src/hypervisor/qemu/qemu-driver.js';
import { waitForConsole } from '../src/hypervisor/qemu/wait-for-console.js';
import { buildTinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { prepareTinyVm } from '../src/storage/prepare-tiny-vm.js';
import { imageCacheDir } from '../src/util/nubo-home.js';

interface Sample { case: string; vm: string; toRunningMs: number; toReadyMs: number }

const image = await buildTinyImage({ cacheDir: imageCacheDir() });
const root = await mkdtemp(join(tmpdir(), 'nubo-bench-'));
const ds = join(root, 'ds');
await mkdir(ds);
const driver = await QemuDriver.create({ runDir: join(root, 'run'), allowedDirs: [ds, image.dir] });
const samples: Sample[] = [];
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);

async function bootOne(caseName: string, id: string): Promise<void> {
  const spec = await prepareTinyVm({ image, dir: ds, id, memoryMiB: 128 });
  const t0 = performance.now();
  await driver.start(spec); // resolves once QMP reports `running`
  const t1 = performance.now();
  await waitForConsole(driver.pathsOf(id).serialLog, `NUBO-READY ${id}`, { timeoutMs: 120_000 });
  const t2 = performance.now();
  samples.push({ case: caseName, vm: id, toRunningMs: t1 - t0, toReadyMs: t2 - t0 });
}

try {
  for (let r = 0; r < rounds; r++) {
    await bootOne('1 VM', `b1-r${r}`);
    await driver.destroy(`b1-r${r}`);
    const ids = [0, 1, 2, 3].map((i) => `b4-r${r}-${i}`);
    await Promise.all(ids.map((id) => bootOne('4 VMs at once', id)));
    for (const id of ids) await driver.destroy(id);
  }
} finally {
  for (const s of await driver.list()) await driver.destroy(s.id).catch(() => {});
  await driver.close();
  await rm(root, { recursive: true, force: true });
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};
const rows = ['1 VM', '4 VMs at once'].map((c) => {
  const xs = samples.filter((s) => s.case === c);
  const run = xs.map((s) => s.toRunningMs);
  const ready = xs.map((s) => s.toReadyMs);
  return { case: c, boots: xs.length, runningP50: pct(run, 50), runningMax: Math.max(...run), readyP50: pct(ready, 50), readyMax: Math.max(...ready) };
});
const f = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
console.log(`\nboot benchmark — accel ${driver.accel.toUpperCase()}, 128 MiB, 1 vCPU, ${rounds} rounds, ${new Date().toISOString()}`);
console.log('| case | boots | start→running p50 | max | start→NUBO-READY p50 | max |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.case} | ${r.boots} | ${f(r.runningP50)} | ${f(r.runningMax)} | ${f(r.readyP50)} | ${f(r.readyMax)} |`);
const slowdown = (rows[1]!.readyP50 / rows[0]!.readyP50).toFixed(2);
console.log(`\n4-at-once vs 1: ready p50 ratio ${slowdown}× (2 cores; TCG boots are CPU-bound)`);
await mkdir('bench/results', { recursive: true });
const out = join('bench/results', `boot-${Date.now()}.json`);
await writeFile(out, JSON.stringify({ accel: driver.accel, rounds, rows, samples }, null, 2));
console.log(`wrote ${out}`);
