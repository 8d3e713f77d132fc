/**
 * Suspend/resume benchmark (issue 12, performance item 3): suspend and resume
 * through the API at ≥ 0.8× the disk's write and read bandwidth. One host is
 * enough, so no lab: an in-process controller and agent with real QEMU on
 * loopback (test/support/in-process-cloud.ts). Not a test.
 *
 * Guests of 256 and 512 MiB, each with half its memory filled by the guest
 * (non-zero pages: QEMU skips zero pages, so an idle guest saves almost
 * nothing), are suspended and resumed `--reps` times: the time from the
 * history's running → saving to → suspended, and suspended → boot to →
 * running, per GiB of configured guest memory; and the request → state time
 * seen by polling, as a cross-check. Each suspend is paired with a raw `dd`
 * writing the same number of bytes to the same datastore (fdatasync: nubo
 * makes the state file durable before it reports `suspended`), each resume
 * with a `dd` reading them back (O_DIRECT, so the page cache does not stand in
 * for the disk) — and the same read into a new file on /dev/shm, whose pages
 * are allocated as they are written, as a resumed guest's memory is (on a VM
 * whose fresh memory is slow to fault in, that, not the disk, bounds a
 * resume). Which of the pair goes first alternates. The verdict is on
 * the median of the per-pair speed ratios with a bootstrap CI (bench/support).
 *
 * Beside each, QEMU alone on the same datastore (bench/support/raw-save.ts):
 * a second guest of the same size and fill, saved by `stop` + `migrate` into
 * a detached `dd conv=fdatasync` (timed from `stop` to the file durable) and
 * restored by a fresh QEMU with nubo's command line (`-incoming fd:3`, the
 * file read ahead into the page cache meanwhile as nubo does, timed from its
 * spawn to running after `cont`) — so the table tells how much of the
 * gap to dd is QEMU's own and how much nubo's. Its side of each pair also
 * alternates.
 *
 * The MB/s are of the bytes the state file stores (blocks × 512), and the
 * dd's are of that many: a file of format 2 (docs/suspend.md) is sparse, the
 * guest's never-touched pages holes that are neither written nor read; the
 * apparent size is printed beside. --ram-threads N (BENCH_SUSPEND_RAM_THREADS)
 * sets the agent's RAM-copy threads, --format-qemu 1 saves format 1 instead.
 *
 * Run counts: --reps (BENCH_SUSPEND_REPS, default 4); --mem (BENCH_SUSPEND_MEM,
 * default 0 = both 256 and 512 MiB, else one size in MiB); --poll-ms
 * (BENCH_SUSPEND_POLL_MS, default 20): how often the API is polled for the
 * end of each (the req→ columns are that coarse).
 *
 * Prints tables, writes JSON to bench/results/.
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import type { VmDetailView } from '../src/contract/vm-schemas.js';
import { waitForConsole } from '../src/hypervisor/qemu/wait-for-console.js';
import { parseVmSpec } from '../src/hypervisor/vm-spec.js';
import { prepareTinyVm } from '../src/storage/prepare-tiny-vm.js';
import { startInProcessCloud, type InProcessCloud } from '../test/support/in-process-cloud.js';
import { startRawQemu, stopRawQemu, type RawQemu } from './raw-qemu.js';
import { benchFlag } from './support/bench-flag.js';
import { evictFromPageCache, rawRestoreFromFile, rawSaveToFile } from './support/raw-save.js';
import { ddRead, ddWrite } from './support/dd-probe.js';
import { comparePairs, describeComparison, type PairedComparison } from './support/paired-comparison.js';
import { median } from './support/quantile.js';
import { textTable } from './support/text-table.js';
import { waitConsole, waitState } from './support/vm-waits.js';

const MiB = 1024 * 1024;
const suspendReps = benchFlag('reps', 'BENCH_SUSPEND_REPS', 4);
const memFlag = benchFlag('mem', 'BENCH_SUSPEND_MEM', 0);
const sizes = memFlag === 0 ? [256, 512] : [memFlag];
// The API is polled this often while a suspend or resume runs. The controller and the agent share this process, so
// the polls take CPU from the agent being timed (the history's times are what count, not the poll's); an A/B of 20
// vs 100 ms on a loaded machine (load 4-5) was lost in the noise: 20 stays the default, the flag is for a quiet A/B.
const pollMs = benchFlag('poll-ms', 'BENCH_SUSPEND_POLL_MS', 20);
// Threads of the format-2 RAM copy, each way (the agent's --ram-copy-threads; 0: its default), and the format
// (--format-qemu 1: QEMU's own whole stream, format 1, for an A/B in one build).
const ramThreads = benchFlag('ram-threads', 'BENCH_SUSPEND_RAM_THREADS', 0);
const formatQemu = benchFlag('format-qemu', 'BENCH_SUSPEND_FORMAT_QEMU', 0) === 1;
const logger = pino({ level: process.env['NUBO_BENCH_LOG'] ?? 'silent' });
const say = (line: string): void => void process.stderr.write(`${line}\n`);

interface SuspendSample { memoryMiB: number; filledMiB: number; rep: number; stateBytes: number; apparentBytes: number; suspendMs: number; resumeMs: number; suspendPolledMs: number; resumePolledMs: number; ddWriteMs: number; ddReadMs: number; ddReadIntoMemoryMs: number; rawBytes: number; rawSaveMs: number; rawRestoreMs: number; rawLaunchMs: number }

const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);

/** The first history entry into `to` at or after `after` (the controller's clock is this process's: it runs in-process). */
function historyAt(vm: VmDetailView, to: string, after = 0): number {
  const h = vm.history.filter((e) => e.to === to && Date.parse(e.at) >= after).at(0);
  if (!h) throw new Error(`VM ${vm.id} history has no ${to} after ${new Date(after).toISOString()}`);
  return Date.parse(h.at);
}

let cloud: InProcessCloud | undefined;
let raw: RawQemu | undefined;
try {
  cloud = await startInProcessCloud({ prefix: 'nubo-bench-suspend-', logger, ...(ramThreads > 0 ? { ramCopyThreads: ramThreads } : {}), ...(formatQemu ? { saveFormat: 'qemu' as const } : {}) });
  say(`state file format ${formatQemu ? '1 (QEMU\'s stream)' : `2 (RAM copied by nubo, ${ramThreads > 0 ? ramThreads : 'default'} threads)`}`);
  const api = cloud.api;
  const hostDir = cloud.hostDir('h1');
  const image = cloud.image;
  const boot = { kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: image.cmdline, nics: [] };
  for (const mem of sizes) await api.createTemplate({ name: `mem${mem}`, vcpus: 1, memoryMiB: mem, image: 'tiny-disk', ...boot });

  const suspendSamples: SuspendSample[] = [];
  for (const mem of sizes) {
    const filled = mem / 2;
    say(`suspend/resume: ${mem} MiB guest, filling ${filled} MiB`);
    const userData = ['#!/bin/sh', `yes nubo-fill-0123456789abcdef | head -c ${filled}m > /tmp/fill`, 'echo FILL-DONE', ''].join('\n');
    const vm0 = await api.createVm({ template: `mem${mem}`, name: `mem-${mem}`, userData });
    await waitState(api, vm0.id, 'running');
    await waitConsole(api, vm0.id, 'FILL-DONE', 600_000);
    const statePath = join(hostDir, 'vms', agentVmId(vm0.id), 'memory.state');
    // QEMU alone: the same guest beside it (its files on the same datastore), filled alike.
    const rawDir = join(cloud.root, `raw-${mem}`);
    await mkdir(rawDir, { recursive: true });
    const rawRun = join(rawDir, 'run');
    const rawSpec = parseVmSpec(await prepareTinyVm({ image, dir: rawDir, id: `rawsusp${mem}`, memoryMiB: mem, userData }));
    const rawFile = join(rawDir, 'memory.state');
    raw = await startRawQemu(rawSpec, { accel: 'tcg', runDir: rawRun, timeoutMs: 60_000 });
    await waitForConsole(raw.paths.serialLog, 'FILL-DONE', { timeoutMs: 600_000 });
    const rawSave = async (): Promise<{ ms: number; bytes: number }> => {
      const r = await rawSaveToFile(raw!.qmp, rawFile);
      // Ended as nubo's save ends its QEMU (untimed here): the restore starts a fresh one.
      await stopRawQemu(raw!);
      raw = undefined;
      return { ms: r.doneMs, bytes: r.bytes };
    };
    const rawRestore = async (): Promise<{ ms: number; launchMs: number }> => {
      await evictFromPageCache(rawFile);
      // With the same read-ahead as nubo's restore (warmPageCache): what is left between the two is nubo's own.
      const r = await rawRestoreFromFile(rawSpec, rawRun, rawFile, { mode: 'MIGRATION event', warm: true });
      raw = r.q;
      await rm(rawFile, { force: true });
      return { ms: r.runningMs, launchMs: r.launchMs };
    };
    for (let rep = 1; rep <= suspendReps; rep++) {
      // The disk's bandwidth next to each suspend and resume, on alternate sides of it, for the same byte count.
      const sizeHint = suspendSamples.find((s) => s.memoryMiB === mem)?.stateBytes ?? filled * MiB;
      const ddWriteBefore = rep % 2 === 1 ? await ddWrite(hostDir, sizeHint) : undefined;
      const rawSaveBefore = rep % 2 === 0 ? await rawSave() : undefined;
      const t0 = Date.now();
      await api.vmAction(vm0.id, 'suspend');
      const suspended = await waitState(api, vm0.id, 'suspended', 300_000, pollMs);
      const suspendPolledMs = Date.now() - t0;
      // The bytes stored (blocks × 512), not the apparent size: a state file of format 2 is sparse (the guest's
      // never-touched pages are holes, neither written nor read), and the disk's speed is measured on what moved.
      const st = await stat(statePath);
      const stateBytes = Math.min(st.size, st.blocks * 512);
      const apparentBytes = st.size;
      const ddWriteMs = ddWriteBefore ?? await ddWrite(hostDir, stateBytes);
      const rawSaved = rawSaveBefore ?? await rawSave();
      const ddReadBefore = rep % 2 === 1 ? await ddRead(hostDir, stateBytes) : undefined;
      const rawRestoreBefore = rep % 2 === 0 ? await rawRestore() : undefined;
      // Evicted, so that the resume reads the disk as the dd read does, not the page cache the save just filled.
      await evictFromPageCache(statePath);
      const t1 = Date.now();
      await api.vmAction(vm0.id, 'resume');
      const running = await waitState(api, vm0.id, 'running', 300_000, pollMs);
      const resumePolledMs = Date.now() - t1;
      const { ms: ddReadMs, intoMemoryMs: ddReadIntoMemoryMs } = ddReadBefore ?? await ddRead(hostDir, stateBytes);
      const rawRestored = rawRestoreBefore ?? await rawRestore();
      const s: SuspendSample = {
        memoryMiB: mem, filledMiB: filled, rep, stateBytes, apparentBytes, ddWriteMs, ddReadMs, ddReadIntoMemoryMs,
        rawBytes: rawSaved.bytes, rawSaveMs: rawSaved.ms, rawRestoreMs: rawRestored.ms, rawLaunchMs: rawRestored.launchMs,
        suspendMs: historyAt(suspended, 'suspended', t0) - historyAt(suspended, 'saving', t0),
        resumeMs: historyAt(running, 'running', t1) - historyAt(running, 'boot', t1),
        suspendPolledMs, resumePolledMs,
      };
      suspendSamples.push(s);
      say(`  rep ${rep}: suspend ${mbps(stateBytes, s.suspendMs).toFixed(0)} MB/s (dd ${mbps(stateBytes, ddWriteMs).toFixed(0)}, raw QEMU ${mbps(s.rawBytes, s.rawSaveMs).toFixed(0)}), resume ${mbps(stateBytes, s.resumeMs).toFixed(0)} MB/s (dd ${mbps(stateBytes, ddReadMs).toFixed(0)}, into RAM ${mbps(stateBytes, ddReadIntoMemoryMs).toFixed(0)}, raw QEMU ${mbps(s.rawBytes, s.rawRestoreMs).toFixed(0)})`);
    }
    if (raw) await stopRawQemu(raw);
    raw = undefined;
    await api.vmAction(vm0.id, 'terminate-hard');
    await waitState(api, vm0.id, 'terminated');
  }

  // ---- report ----
  const srows = suspendSamples.map((s) => {
    const gib = s.memoryMiB / 1024;
    return [
      `${s.memoryMiB} MiB`, `${s.filledMiB} MiB`, `${s.rep}`, `${(s.stateBytes / MiB).toFixed(0)} MiB`, `${(s.apparentBytes / MiB).toFixed(0)} MiB`,
      `${(s.suspendMs / 1000).toFixed(2)} s`, `${(s.suspendMs / 1000 / gib).toFixed(2)}`, `${mbps(s.stateBytes, s.suspendMs).toFixed(0)}`, `${mbps(s.stateBytes, s.ddWriteMs).toFixed(0)}`,
      `${(s.resumeMs / 1000).toFixed(2)} s`, `${(s.resumeMs / 1000 / gib).toFixed(2)}`, `${mbps(s.stateBytes, s.resumeMs).toFixed(0)}`, `${mbps(s.stateBytes, s.ddReadMs).toFixed(0)}`, `${mbps(s.stateBytes, s.ddReadIntoMemoryMs).toFixed(0)}`,
      `${(s.suspendPolledMs / 1000).toFixed(2)} s`, `${(s.resumePolledMs / 1000).toFixed(2)} s`,
      `${(s.rawBytes / MiB).toFixed(0)} MiB`, `${mbps(s.rawBytes, s.rawSaveMs).toFixed(0)}`, `${mbps(s.rawBytes, s.rawRestoreMs).toFixed(0)}`, `${s.rawLaunchMs.toFixed(0)} ms`,
    ];
  });
  console.log('\nSuspend and resume through the API (history: running→saving→suspended, suspended→boot→running); per GiB of configured guest memory; MB/s of the state file\'s stored bytes (blocks × 512: a format-2 file is sparse, its apparent size counts holes never written nor read), against dd of the same byte count on the same datastore');
  console.log(textTable(['guest', 'filled', 'rep', 'state stored', 'apparent', 'suspend', 's/GiB', 'MB/s', 'dd write MB/s', 'resume', 's/GiB', 'MB/s', 'dd read MB/s', 'dd→RAM MB/s', 'req→suspended', 'req→running', 'raw QEMU file', 'raw save MB/s', 'raw restore MB/s', 'raw launch'], srows));
  console.log('dd→RAM: the same dd read (O_DIRECT) into a new file on /dev/shm, each page allocated on its first write as a resumed guest\'s memfd is');
  console.log('raw QEMU: the same guest saved by stop + migrate into a detached dd conv=fdatasync (stop → file durable), restored by a fresh QEMU with nubo\'s argv (-incoming fd:3, the file read ahead as nubo does; spawn → running after cont; "raw launch": until -daemonize returned)');
  for (const mem of sizes) {
    const xs = suspendSamples.filter((s) => s.memoryMiB === mem);
    const gib = mem / 1024;
    console.log(`median ${mem} MiB: suspend ${(median(xs.map((s) => s.suspendMs)) / 1000 / gib).toFixed(2)} s/GiB, resume ${(median(xs.map((s) => s.resumeMs)) / 1000 / gib).toFixed(2)} s/GiB`);
  }

  // Speeds, so the ratio is nubo's share of the disk's: ≥ the target passes.
  const comparisons: PairedComparison[] = [
    comparePairs('suspend vs dd write of the state size (speed)', suspendSamples.map((s) => ({ raw: mbps(s.stateBytes, s.ddWriteMs), nubo: mbps(s.stateBytes, s.suspendMs) })), 'ratio', { limit: 0.8, kind: 'atLeast' }, 'MB/s'),
    comparePairs('resume vs dd read of the state size (speed)', suspendSamples.map((s) => ({ raw: mbps(s.stateBytes, s.ddReadMs), nubo: mbps(s.stateBytes, s.resumeMs) })), 'ratio', { limit: 0.8, kind: 'atLeast' }, 'MB/s'),
    // How much of the gap to dd is nubo's own: against QEMU doing the same alone, each with its own file's bytes;
    // and against the disk read into RAM not in use before (a resumed guest's memory is that), which dd read is not.
    comparePairs('resume vs dd read into fresh memory (tmpfs) of the state size (speed)', suspendSamples.map((s) => ({ raw: mbps(s.stateBytes, s.ddReadIntoMemoryMs), nubo: mbps(s.stateBytes, s.resumeMs) })), 'ratio', { limit: 0.8, kind: 'atLeast' }, 'MB/s'),
    comparePairs('suspend vs raw QEMU save (speed)', suspendSamples.map((s) => ({ raw: mbps(s.rawBytes, s.rawSaveMs), nubo: mbps(s.stateBytes, s.suspendMs) })), 'ratio', { limit: 0.9, kind: 'atLeast' }, 'MB/s'),
    comparePairs('resume vs raw QEMU restore (speed)', suspendSamples.map((s) => ({ raw: mbps(s.rawBytes, s.rawRestoreMs), nubo: mbps(s.stateBytes, s.resumeMs) })), 'ratio', { limit: 0.9, kind: 'atLeast' }, 'MB/s'),
  ];
  console.log('');
  for (const c of comparisons) console.log(describeComparison(c));

  await mkdir('bench/results', { recursive: true });
  const out = join('bench/results', `suspend-${Date.now()}.json`);
  await writeFile(out, `${JSON.stringify({
    at: new Date().toISOString(), reps: suspendReps, sizes, format: formatQemu ? 1 : 2, ramThreads: ramThreads > 0 ? ramThreads : 'default',
    comparisons: comparisons.map(({ pairs: _pairs, ...c }) => c),
    suspendResume: suspendSamples.map((s) => ({ ...s, suspendSPerGiB: s.suspendMs / 1000 / (s.memoryMiB / 1024), resumeSPerGiB: s.resumeMs / 1000 / (s.memoryMiB / 1024) })),
  }, null, 2)}\n`);
  console.log(`\nwrote ${out}`);
} finally {
  if (raw) await stopRawQemu(raw).catch((err: unknown) => say(`clean-up: ${String(err)}`));
  await cloud?.stop().catch((err: unknown) => say(`clean-up: ${String(err)}`));
}
