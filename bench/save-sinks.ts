/**
 * Where a suspend's and a resume's time goes, below nubo (issue 12,
 * performance item 3): one raw QEMU (bench/raw-qemu.ts, nubo's own command
 * line), its guest filling half its memory, saved again and again into
 * different sinks side by side — QEMU's stream alone (`exec:cat >/dev/null`,
 * a pipe), a C writer that makes the file durable (`dd conv=fdatasync`,
 * detached from QEMU so that QEMU's end of the channel does not kill it), a
 * Node unix socket that drops what it reads (how nubo received a save
 * before: its socket reads alone were the bound), and nubo's own save both
 * ways (`qmpSaveState`: the detached dd flushed behind by the agent — the
 * fallback —, and fd mode: the file handed to QEMU with `getfd` by the fd
 * sender, QEMU writing it itself, flushed behind) — each next
 * to a raw `dd` of the same size. Then the
 * saved file restored by fresh QEMUs started as nubo starts them
 * (`-incoming fd:3`, `-S`), the end of the load polled for (every 10 ms) or
 * told by QEMU's MIGRATION event, then `cont`, with the launch, the QMP
 * connect and the load timed apart. Not a test; a measurement.
 *
 * --mem (BENCH_SAVE_MEM, default 256 MiB), --reps (BENCH_SAVE_REPS, default 3).
 * Prints tables, writes JSON to bench/results/.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENDED_MIGRATION } from '../src/hypervisor/qemu/ended-migration.js';
import { qmpSaveState } from '../src/hypervisor/qemu/qmp-save-state.js';
import { FdSender } from '../src/hypervisor/qemu/fd-sender.js';
import type { QmpMigrationStatus } from '../src/hypervisor/qemu/qmp-schema.js';
import { settleMigration } from '../src/hypervisor/qemu/settle-migration.js';
import { waitForConsole } from '../src/hypervisor/qemu/wait-for-console.js';
import { parseVmSpec } from '../src/hypervisor/vm-spec.js';
import { prepareTinyVm } from '../src/storage/prepare-tiny-vm.js';
import { buildTinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { startRawQemu, stopRawQemu, type RawQemu } from './raw-qemu.js';
import { ddReadFile, ddWrite } from './support/dd-probe.js';
import { detachedDdUri, evictFromPageCache, prepareRawSave, rawRestoreFromFile, waitDetachedDd } from './support/raw-save.js';
import { benchFlag } from './support/bench-flag.js';
import { median } from './support/quantile.js';
import { textTable } from './support/text-table.js';

const MiB = 1024 * 1024;
const mem = benchFlag('mem', 'BENCH_SAVE_MEM', 256);
const reps = benchFlag('reps', 'BENCH_SAVE_REPS', 3);
const say = (line: string): void => void process.stderr.write(`${line}\n`);
const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);

type Sink = 'qemu→pipe→/dev/null' | 'qemu→pipe→dd fdatasync' | 'qemu→socket→node (drop)' | 'qemu→pipe→dd, flushed behind (nubo)' | 'qemu→fd (getfd), flushed behind (nubo)';
const SINKS: readonly Sink[] = ['qemu→pipe→/dev/null', 'qemu→pipe→dd fdatasync', 'qemu→socket→node (drop)', 'qemu→pipe→dd, flushed behind (nubo)', 'qemu→fd (getfd), flushed behind (nubo)'];
// One for the run, as the agent keeps one: its python's start is not on a save's path.
const fdSender = new FdSender();

interface SaveSample { sink: Sink; rep: number; bytes: number; stopMs: number; completedMs: number; doneMs: number; qemuTotalMs: number; ddWriteMs: number }
interface RestoreSample { mode: 'polled (10 ms)' | 'MIGRATION event'; rep: number; bytes: number; launchMs: number; connectMs: number; runningMs: number; ddReadMs: number }

/** One save of the stopped guest into `sink`; the guest runs again after it (`cont` from postmigrate). */
async function saveInto(q: RawQemu, sink: Sink, dir: string, rep: number): Promise<SaveSample> {
  const qmp = q.qmp;
  // The nubo sink's file is kept for the restores below.
  const file = join(dir, sink === 'qemu→pipe→dd, flushed behind (nubo)' ? `state-${rep}.bin` : `sink-${rep}.bin`);
  await rm(file, { force: true });
  await rm(`${file}.rc`, { force: true });
  await prepareRawSave(qmp);
  const sock = join(dir, 'save.sock');
  let done: Promise<number> = Promise.resolve(0);
  let uri: string;
  let closeSink = (): void => {};
  if (sink === 'qemu→pipe→/dev/null') {
    uri = 'exec:cat > /dev/null';
  } else if (sink === 'qemu→pipe→dd fdatasync') {
    uri = detachedDdUri(file);
    done = waitDetachedDd(file).then(() => 0);
  } else if (sink === 'qemu→socket→node (drop)') {
    await rm(sock, { force: true });
    let n = 0;
    const server = createServer();
    done = new Promise<number>((resolve, reject) => {
      server.on('connection', (s) => {
        s.on('data', (b: Buffer) => (n += b.length));
        s.on('end', () => resolve(n));
        s.on('error', reject);
      });
    });
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    closeSink = () => server.close();
    uri = `unix:${sock}`;
  } else {
    uri = '';
  }
  try {
    const t0 = performance.now();
    await qmp.execute('stop');
    const t1 = performance.now();
    if (sink === 'qemu→pipe→dd, flushed behind (nubo)' || sink === 'qemu→fd (getfd), flushed behind (nubo)') {
      const every = process.env['BENCH_SAVE_FLUSH_MIB'];
      const via = sink === 'qemu→fd (getfd), flushed behind (nubo)'
        ? { sender: fdSender, socket: q.paths.fdpassSocket, onFallback: (err: Error) => { throw err; } }
        : undefined;
      const r = await qmpSaveState(qmp, file, randomBytes(8).toString('hex'), { timeoutMs: 120_000 }, every === undefined ? {} : { flushEveryBytes: Number(every) * MiB }, via);
      if (via !== undefined && r.mode !== 'fd') throw new Error('the fd sink saved through the exec: writer');
      const t3 = performance.now();
      await settleMigration(qmp, { timeoutMs: 10_000 });
      await qmp.execute('cont');
      const ddWriteMs = await ddWrite(dir, r.bytes);
      return { sink, rep, bytes: r.bytes, stopMs: t1 - t0, completedMs: r.streamMs, doneMs: t3 - t1, qemuTotalMs: r.info['total-time'] ?? NaN, ddWriteMs };
    }
    const completed = qmp.waitForEvent('MIGRATION', { timeoutMs: 120_000, match: (e) => ENDED_MIGRATION.has(e.data['status'] as QmpMigrationStatus) });
    await qmp.execute('migrate', { uri });
    const ev = await completed;
    const t2 = performance.now();
    if (ev.data['status'] !== 'completed') throw new Error(`save into ${sink}: ${String(ev.data['status'])}`);
    await done;
    const t3 = performance.now();
    const info = await qmp.execute('query-migrate');
    const bytes = sink === 'qemu→pipe→dd fdatasync' ? (await stat(file)).size : (info.ram?.transferred ?? 0);
    // `cont` is refused until QEMU has finalized the migration (postmigrate).
    await settleMigration(qmp, { timeoutMs: 10_000 });
    await qmp.execute('cont');
    const ddWriteMs = await ddWrite(dir, bytes);
    return { sink, rep, bytes, stopMs: t1 - t0, completedMs: t2 - t1, doneMs: t3 - t1, qemuTotalMs: info['total-time'] ?? NaN, ddWriteMs };
  } finally {
    closeSink();
    await rm(sock, { force: true });
    if (sink !== 'qemu→pipe→dd, flushed behind (nubo)') await rm(file, { force: true });
  }
}

/** A fresh QEMU restoring `file` as nubo starts one (`-incoming fd:3`, read ahead), timed to a running guest, then ended. */
async function restoreFrom(spec: ReturnType<typeof parseVmSpec>, runDir: string, file: string, mode: RestoreSample['mode'], rep: number): Promise<RestoreSample> {
  const bytes = (await stat(file)).size;
  await evictFromPageCache(file);
  const r = await rawRestoreFromFile(spec, runDir, file, { mode, warm: true });
  await stopRawQemu(r.q);
  const ddReadMs = await ddReadFile(file);
  return { mode, rep, bytes, launchMs: r.launchMs, connectMs: r.connectMs, runningMs: r.runningMs, ddReadMs };
}

const root = await mkdtemp(join(tmpdir(), 'nubo-bench-save-sinks-'));
let q: RawQemu | undefined;
try {
  const image = await buildTinyImage({ cacheDir: imageCacheDir() });
  const filled = mem / 2;
  const userData = ['#!/bin/sh', `yes nubo-fill-0123456789abcdef | head -c ${filled}m > /tmp/fill`, 'echo FILL-DONE', ''].join('\n');
  const spec = parseVmSpec(await prepareTinyVm({ image, dir: root, id: 'savesinks', memoryMiB: mem, userData }));
  const runDir = join(root, 'run');
  q = await startRawQemu(spec, { accel: 'tcg', runDir, timeoutMs: 60_000 });
  say(`save sinks: ${mem} MiB guest, filling ${filled} MiB`);
  await waitForConsole(q.paths.serialLog, 'FILL-DONE', { timeoutMs: 600_000 });

  const saves: SaveSample[] = [];
  for (let rep = 1; rep <= reps; rep++) {
    // Every sink once per round, the order turned each round.
    const order = SINKS.map((_, i) => SINKS[(i + rep) % SINKS.length]!);
    for (const sink of order) {
      const s = await saveInto(q, sink, root, rep);
      saves.push(s);
      say(`  ${sink} rep ${rep}: ${(s.bytes / MiB).toFixed(0)} MiB, QEMU completed in ${s.completedMs.toFixed(0)} ms, done in ${s.doneMs.toFixed(0)} ms (dd ${s.ddWriteMs.toFixed(0)} ms)`);
    }
  }
  await stopRawQemu(q);
  q = undefined;

  const restores: RestoreSample[] = [];
  for (let rep = 1; rep <= reps; rep++) {
    const modes: RestoreSample['mode'][] = rep % 2 === 1 ? ['polled (10 ms)', 'MIGRATION event'] : ['MIGRATION event', 'polled (10 ms)'];
    for (const mode of modes) {
      const r = await restoreFrom(spec, runDir, join(root, `state-${rep}.bin`), mode, rep);
      restores.push(r);
      say(`  restore ${mode} rep ${rep}: launch ${r.launchMs.toFixed(0)} ms, connect ${r.connectMs.toFixed(0)} ms, running at ${r.runningMs.toFixed(0)} ms (dd read ${r.ddReadMs.toFixed(0)} ms)`);
    }
  }

  const f0 = (n: number): string => n.toFixed(0);
  console.log(`\nSaves of one ${mem} MiB guest (${filled} MiB filled) into each sink: from \`migrate\` after \`stop\`; "done" = the sink has all of it (for the file sinks: durable)`);
  console.log(textTable(['sink', 'rep', 'MiB', 'stop ms', 'QEMU completed ms', 'QEMU total-time ms', 'done ms', 'MB/s', 'dd write ms', 'dd MB/s', 'done/dd'], saves.map((s) => [
    s.sink, `${s.rep}`, f0(s.bytes / MiB), f0(s.stopMs), f0(s.completedMs), f0(s.qemuTotalMs), f0(s.doneMs), f0(mbps(s.bytes, s.doneMs)), f0(s.ddWriteMs), f0(mbps(s.bytes, s.ddWriteMs)), (s.ddWriteMs / s.doneMs).toFixed(2),
  ])));
  for (const sink of SINKS) {
    const xs = saves.filter((s) => s.sink === sink);
    console.log(`median ${sink}: done ${f0(median(xs.map((s) => s.doneMs)))} ms, speed vs dd ${median(xs.map((s) => s.ddWriteMs / s.doneMs)).toFixed(2)}×`);
  }
  console.log('\nRestores of the saved file by a fresh QEMU (-incoming fd:3, file evicted from the page cache, read ahead as nubo does); times from the launch');
  console.log(textTable(['mode', 'rep', 'MiB', 'launch ms', 'QMP connect ms', 'running at ms', 'MB/s', 'dd read ms', 'dd MB/s', 'speed/dd'], restores.map((r) => [
    r.mode, `${r.rep}`, f0(r.bytes / MiB), f0(r.launchMs), f0(r.connectMs), f0(r.runningMs), f0(mbps(r.bytes, r.runningMs)), f0(r.ddReadMs), f0(mbps(r.bytes, r.ddReadMs)), (r.ddReadMs / r.runningMs).toFixed(2),
  ])));
  for (const mode of ['polled (10 ms)', 'MIGRATION event'] as const) {
    const xs = restores.filter((r) => r.mode === mode);
    console.log(`median ${mode}: running at ${f0(median(xs.map((r) => r.runningMs)))} ms (launch ${f0(median(xs.map((r) => r.launchMs)))}, connect ${f0(median(xs.map((r) => r.connectMs)))}), speed vs dd ${median(xs.map((r) => r.ddReadMs / r.runningMs)).toFixed(2)}×`);
  }
  await mkdir('bench/results', { recursive: true });
  const out = join('bench/results', `save-sinks-${Date.now()}.json`);
  await writeFile(out, `${JSON.stringify({ at: new Date().toISOString(), mem, reps, saves, restores }, null, 2)}\n`);
  console.log(`\nwrote ${out}`);
} finally {
  if (q) await stopRawQemu(q).catch((err: unknown) => say(`clean-up: ${String(err)}`));
  await fdSender.close();
  await rm(root, { recursive: true, force: true });
}
