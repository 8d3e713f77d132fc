/**
 * Cold-migration benchmark (issue 6; DESIGN §5 "Cold migration"), in one lab
 * of two hosts with an in-process controller. Not a test.
 *
 * 1. Throughput: a powered-off VM whose disk overlay holds 1 GiB of written
 *    data (written into the overlay with qemu-io after a boot and an ACPI
 *    power-off; its base is the nubo-tiny data disk grown to 1088 MiB) is
 *    cold-migrated h1 → h2 → h1 … through POST /vms/:id/migrate, and before
 *    each run the same overlay file is copied raw over the same lab link:
 *    a plain Node HTTP server in the source host's namespace, `curl` in the
 *    destination's writing into its datastore, then `sync` on the file (nubo
 *    fsyncs what it received before it commits, so the raw copy does too).
 *    Raw and nubo runs are interleaved (which goes first alternates), and the
 *    verdict is on the median of the per-pair speed ratios with a bootstrap
 *    CI (bench/support): target ≥ 0.9× raw.
 *    The hosts of a lab share one machine, so nubo copies with the kernel
 *    (copyLocalFile: copy_file_range, the source's sha256 in a worker thread beside it): each
 *    round also times that path raw — `cp` of the same file between the same
 *    two datastores (coreutils uses copy_file_range too), then `sync` — and
 *    the copy stage is compared with both raw copies.
 *    Cold migration: the copy stage (journal `copying` → `verified`: offer,
 *    pull with sha256 on both sides, overlay rebase, fsync, rename) and end to
 *    end (request → `succeeded`, the record's totalTimeMs). The policy asks
 *    for no cap (maxBandwidthMiBps at its maximum); the migration queue clamps
 *    it to the host's migration budget (2 GiB/s by default, above this disk's
 *    copy speed), and the cap each run got is printed.
 *
 * Suspend and resume are measured by bench/suspend.ts.
 *
 * Run counts: --runs (BENCH_RUNS, default 5), --data-mib (BENCH_COLD_DATA_MIB,
 * default 512). NUBO_BENCH_KEEP_LOGS=1 copies the agents' logs to bench/results/.
 *
 * Prints tables, writes JSON to bench/results/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { NuboClient } from '../src/client/nubo-client.js';
import type { MigrationView } from '../src/contract/migration-schemas.js';
import { labDown, labFabricUp, labUp } from '../src/lab/lab.js';
import { FABRIC_ADDRESS, type LabHost } from '../src/lab/lab-state.js';
import { buildTinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { waitForFreeFabric } from './wait-for-free-fabric.js';
import { benchFlag } from './support/bench-flag.js';
import { interleaved } from './support/interleaved.js';
import { comparePairs, describeComparison, type PairedComparison } from './support/paired-comparison.js';
import { median } from './support/quantile.js';
import { waitConsole, waitState } from './support/vm-waits.js';

const MiB = 1024 * 1024;
const runs = benchFlag('runs', 'BENCH_RUNS', 5);
const dataBytes = benchFlag('data-mib', 'BENCH_COLD_DATA_MIB', 512) * MiB;
const RAW_PORT = 7499;
const logger = pino({ level: process.env['NUBO_BENCH_LOG'] ?? 'silent' });
const say = (line: string): void => void process.stderr.write(`${line}\n`);

const prefix = `cb${randomBytes(3).toString('hex')}`;
const root = await mkdtemp(join(tmpdir(), 'nubo-bench-cold-'));
const labDir = join(root, 'lab');
let controller: ControllerDaemon | undefined;
let labMade = false;
let rawServer: ChildProcess | undefined;

interface CopySample { run: number; from: string; to: string; bytes: number; rawFirst: boolean; rawMs: number; rawLocalMs: number; copyMs: number; totalMs: number; capMiBps: number; migrationId: string }

const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);

async function cleanup(api: NuboClient | undefined): Promise<void> {
  if (rawServer?.pid !== undefined && rawServer.exitCode === null) rawServer.kill('SIGTERM');
  if (process.env['NUBO_BENCH_KEEP_LOGS'] === '1') await cp(join(labDir, 'logs'), join('bench/results', `cold-migrate-logs-${Date.now()}`), { recursive: true }).catch(() => {});
  for (const vm of api ? await api.listVms().catch(() => []) : []) {
    if (vm.state !== 'terminated') await api!.vmAction(vm.id, 'terminate-hard').catch(() => {});
  }
  await controller?.orchestrator.idle().catch(() => {});
  if (labMade) await labDown(labDir).catch((err: unknown) => say(`lab down: ${String(err)}`));
  await controller?.stop().catch(() => {});
  await rm(root, { recursive: true, force: true });
}

async function waitMigration(api: NuboClient, id: string): Promise<MigrationView> {
  return pollUntil(`migration ${id}`, async () => {
    const m = await api.getMigration(id);
    return m.state === 'running' ? undefined : m;
  }, { timeoutMs: 900_000, intervalMs: 50 });
}

/** A file server in `from`'s namespace: one GET streams `file`. */
async function startRawServer(from: LabHost, file: string): Promise<ChildProcess> {
  const script = [
    "const http = require('node:http'), fs = require('node:fs');",
    'const [file, host, port] = process.argv.slice(1);',
    "http.createServer((q, s) => { s.writeHead(200, { 'content-length': fs.statSync(file).size }); fs.createReadStream(file).pipe(s); })",
    "  .listen(Number(port), host, () => console.log('ready'));",
  ].join('\n');
  const child = spawn('ip', ['netns', 'exec', from.netns, process.execPath, '-e', script, file, from.address, String(RAW_PORT)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  if (!chunk.toString().includes('ready')) throw new Error(`raw server: ${chunk.toString()}`);
  return child;
}

/** The raw baseline: `curl` in `to`'s namespace fetches the file from `from`, then the copy is fsynced. */
async function rawCopy(from: LabHost, to: LabHost, file: string): Promise<number> {
  rawServer = await startRawServer(from, file);
  const dest = join(to.dataDir, 'raw-copy.bin');
  try {
    const t0 = performance.now();
    await runCommand('ip', ['netns', 'exec', to.netns, 'curl', '-sS', '--fail', '-o', dest, `http://${from.address}:${RAW_PORT}/`], { timeoutMs: 600_000 });
    await runCommand('sync', [dest], { timeoutMs: 600_000 });
    const ms = performance.now() - t0;
    const [a, b] = [(await stat(file)).size, (await stat(dest)).size];
    if (a !== b) throw new Error(`raw copy: ${b} bytes of ${a}`);
    return ms;
  } finally {
    rawServer.kill('SIGTERM');
    await once(rawServer, 'exit').catch(() => {});
    rawServer = undefined;
    await rm(dest, { force: true });
  }
}

/** The raw local baseline: `cp` of the file into `to`'s datastore (copy_file_range, or a reflink where the fs has them), then `sync` of the copy. */
async function rawLocalCopy(to: LabHost, file: string): Promise<number> {
  const dest = join(to.dataDir, 'raw-local-copy.bin');
  try {
    const t0 = performance.now();
    await runCommand('cp', ['--reflink=auto', file, dest], { timeoutMs: 600_000 });
    await runCommand('sync', [dest], { timeoutMs: 600_000 });
    return performance.now() - t0;
  } finally {
    await rm(dest, { force: true });
  }
}

let api: NuboClient | undefined;
const ac = new AbortController();
process.once('SIGINT', () => ac.abort(new Error('interrupted')));
try {
  const image = await buildTinyImage({ cacheDir: imageCacheDir() });
  await waitForFreeFabric({ signal: ac.signal, timeoutMs: 30 * 60_000, say });
  labMade = true;
  await labFabricUp(prefix, labDir);
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: FABRIC_ADDRESS, port: 0 }, heartbeatIntervalMs: 1_000, logger });
  const token = (await controller.bootstrapAdmin())!;
  api = new NuboClient(controller.url, token);
  const r = await labUp({ prefix, dir: labDir, hosts: 2, controller: { url: controller.url, token }, heartbeatMs: 1_000, signal: ac.signal });
  const [h1, h2] = r.state.hosts as [LabHost, LabHost];

  // The tiny data disk (an ext4 of 64 MiB) grown to hold 1 GiB more behind it.
  const bigDisk = join(root, 'big-disk.qcow2');
  await runCommand('qemu-img', ['convert', '-q', '-O', 'qcow2', image.dataDisk, bigDisk], { timeoutMs: 120_000 });
  await runCommand('qemu-img', ['resize', '-q', bigDisk, String(64 * MiB + dataBytes)], { timeoutMs: 60_000 });
  await api.uploadImage({ name: 'big-disk', file: bigDisk });
  await api.uploadImage({ name: 'tiny-disk', file: image.dataDisk });
  await api.uploadImage({ name: 'tiny-kernel', file: image.kernel, format: 'kernel' });
  await api.uploadImage({ name: 'tiny-initrd', file: image.initrd, format: 'initrd' });
  const boot = { kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: image.cmdline, nics: [] };
  await api.createTemplate({ name: 'big', vcpus: 1, memoryMiB: 128, image: 'big-disk', ...boot });

  // ---- 1. throughput ----
  say('cold migration: booting the 1 GiB VM on h1');
  const created = await api.createVm({ template: 'big', name: 'cold-1g', host: h1.name });
  await waitState(api, created.id, 'running');
  await waitConsole(api, created.id, 'NUBO-READY');
  await api.vmAction(created.id, 'poweroff');
  await waitState(api, created.id, 'poweroff');
  const vmDirOn = (h: LabHost): string => join(h.dataDir, 'vms', agentVmId(created.id));
  await runCommand('qemu-io', ['-f', 'qcow2', '-c', `write -P 0xa5 ${64 * MiB} ${dataBytes}`, join(vmDirOn(h1), 'disk.qcow2')], { timeoutMs: 600_000 });
  const overlayBytes = (await stat(join(vmDirOn(h1), 'disk.qcow2'))).size;
  say(`overlay: ${(overlayBytes / MiB).toFixed(0)} MiB`);

  const samples: CopySample[] = [];
  // Where the VM's disk lives now; a raw run copies it from there to the other host, over the same link the migration takes.
  let [from, to] = [h1, h2];
  const copyPairs = await interleaved(runs, async (round) => {
    const rawMs = await rawCopy(from, to, join(vmDirOn(from), 'disk.qcow2'));
    const rawLocalMs = await rawLocalCopy(to, join(vmDirOn(from), 'disk.qcow2'));
    say(`run ${round + 1} raw ${from.name}→${to.name}: ${mbps(overlayBytes, rawMs).toFixed(0)} MB/s over the link, ${mbps(overlayBytes, rawLocalMs).toFixed(0)} MB/s cp`);
    return { rawMs, rawLocalMs };
  }, async (round) => {
    const m0 = await api!.migrateVm(created.id, { to: to.name, policy: { maxBandwidthMiBps: 100 * 1024 } });
    const m = await waitMigration(api!, m0.id);
    if (m.state !== 'succeeded') throw new Error(`migration ${m.id} ${m.state}: ${m.reason}`);
    const at = (stage: string): number => Date.parse(m.journal.find((j) => j.stage === stage)!.at);
    const bytes = Number(m.stats['transferredBytes']);
    const s: CopySample = { run: round + 1, from: from.name, to: to.name, bytes, rawFirst: round % 2 === 0, rawMs: NaN, rawLocalMs: NaN, copyMs: at('verified') - at('copying'), totalMs: Number(m.stats['totalTimeMs']), capMiBps: Number(m.policy['maxBandwidthMiBps']), migrationId: m.id };
    samples.push(s);
    say(`run ${round + 1} nubo ${from.name}→${to.name}: cold copy ${mbps(bytes, s.copyMs).toFixed(0)} MB/s, end to end ${mbps(bytes, s.totalMs).toFixed(0)} MB/s`);
    [from, to] = [to, from];
    return s;
  });
  for (const p of copyPairs) Object.assign(p.nubo, p.raw);
  await api.vmAction(created.id, 'terminate-hard');
  await waitState(api, created.id, 'terminated');

  // ---- report ----
  const rows = samples.map((s) => [
    `${s.run}`, `${s.from}→${s.to}`, `${(s.bytes / MiB).toFixed(0)} MiB`,
    `${(s.rawMs / 1000).toFixed(2)} s`, `${mbps(overlayBytes, s.rawMs).toFixed(0)}`,
    `${(s.copyMs / 1000).toFixed(2)} s`, `${mbps(s.bytes, s.copyMs).toFixed(0)}`,
    `${(s.totalMs / 1000).toFixed(2)} s`, `${mbps(s.bytes, s.totalMs).toFixed(0)}`,
    `${((100 * mbps(s.bytes, s.copyMs)) / mbps(overlayBytes, s.rawMs)).toFixed(0)}%`,
    `${(s.rawLocalMs / 1000).toFixed(2)} s`, `${mbps(overlayBytes, s.rawLocalMs).toFixed(0)}`,
    `${((100 * mbps(s.bytes, s.copyMs)) / mbps(overlayBytes, s.rawLocalMs)).toFixed(0)}%`,
  ]);
  const header = ['run', 'route', 'moved', 'raw copy', 'raw MB/s', 'cold copy', 'copy MB/s', 'cold total', 'total MB/s', 'copy/raw', 'raw cp', 'cp MB/s', 'copy/cp'];
  const table = (h: string[], rs: string[][]): string => {
    const w = h.map((c, i) => Math.max(c.length, ...rs.map((r) => (r[i] ?? '').length)));
    const line = (r: string[]): string => r.map((c, i) => c.padStart(w[i]!)).join('  ');
    return [line(h), line(w.map((n) => '-'.repeat(n))), ...rs.map(line)].join('\n');
  };
  const medRaw = median(samples.map((s) => mbps(overlayBytes, s.rawMs)));
  const medCopy = median(samples.map((s) => mbps(s.bytes, s.copyMs)));
  const medTotal = median(samples.map((s) => mbps(s.bytes, s.totalMs)));
  const medRawLocal = median(samples.map((s) => mbps(overlayBytes, s.rawLocalMs)));
  console.log(`\nCold migration of a powered-off VM with ${(dataBytes / MiB).toFixed(0)} MiB written in its overlay (${(overlayBytes / MiB).toFixed(0)} MiB file), 2 lab hosts, cap ${[...new Set(samples.map((s) => s.capMiBps))].join('/')} MiB/s (the policy's maximum, clamped to the host's migration budget), ${runs} interleaved pairs`);
  console.log(table(header, rows));
  console.log(`median: raw ${medRaw.toFixed(0)} MB/s over the link, raw cp ${medRawLocal.toFixed(0)} MB/s, cold copy stage ${medCopy.toFixed(0)} MB/s, cold end to end ${medTotal.toFixed(0)} MB/s`);

  // Speeds, so the ratio is nubo's share of the raw path's: ≥ the target passes.
  const comparisons: PairedComparison[] = [
    comparePairs('cold-migration copy stage vs raw copy (speed)', samples.map((s) => ({ raw: mbps(overlayBytes, s.rawMs), nubo: mbps(s.bytes, s.copyMs) })), 'ratio', { limit: 0.9, kind: 'atLeast' }, 'MB/s'),
    comparePairs('cold-migration copy stage vs raw cp + sync (speed)', samples.map((s) => ({ raw: mbps(overlayBytes, s.rawLocalMs), nubo: mbps(s.bytes, s.copyMs) })), 'ratio', { limit: 0.9, kind: 'atLeast' }, 'MB/s'),
    comparePairs('cold migration end to end vs raw copy (speed)', samples.map((s) => ({ raw: mbps(overlayBytes, s.rawMs), nubo: mbps(s.bytes, s.totalMs) })), 'ratio', { limit: 0.9, kind: 'atLeast' }, 'MB/s'),
  ];
  console.log('');
  for (const c of comparisons) if (c.pairs.length > 0) console.log(describeComparison(c));

  await mkdir('bench/results', { recursive: true });
  const out = join('bench/results', `cold-migrate-${Date.now()}.json`);
  await writeFile(out, `${JSON.stringify({
    at: new Date().toISOString(), dataBytes, overlayBytes, runs,
    copy: samples.map((s) => ({ ...s, rawMBps: mbps(overlayBytes, s.rawMs), copyMBps: mbps(s.bytes, s.copyMs), totalMBps: mbps(s.bytes, s.totalMs) })),
    median: { rawMBps: medRaw, rawLocalMBps: medRawLocal, copyMBps: medCopy, totalMBps: medTotal },
    comparisons: comparisons.map(({ pairs: _pairs, ...c }) => c),
  }, null, 2)}\n`);
  console.log(`\nwrote ${out}`);
} finally {
  await cleanup(api);
}
