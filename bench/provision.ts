/**
 * Provisioning benchmark (DESIGN §4; issue 12 item 4), through the real API:
 *  1. Side by side: a raw QEMU boot of the same nubo-tiny image (prepared
 *     beforehand, untimed; launched by hand: bench/raw-qemu.ts; with the one
 *     unconfigured user-mode NIC nubo gives a VM whose template names no
 *     network, so both boot the same device model) to NUBO-READY,
 *     interleaved with nubo's POST /api/v1/vms → NUBO-READY; verdict on the
 *     per-pair differences: nubo − raw ≤ 100 ms (bootstrap CI of the median).
 *     Both sides read NUBO-READY from the serial log file with the same poll.
 *     The pairs are also split where the guest started (nubo: `running` in
 *     the history; raw: QEMU's QMP answering): before it what nubo adds,
 *     verdict ≤ 100 ms; after it the guest's own boot, informational — under
 *     TCG it spreads over seconds from run to run and buries the total.
 *  2. N requests at once (--concurrent, default 10; --batches of them): the
 *     schedule / prolog / boot split from the VM's history and the
 *     control-plane overhead (request→running minus the agent's QEMU start);
 *     verdict: overhead p95 < 300 ms (bootstrap CI of the p95, resampling
 *     whole batches), 0 failures.
 *  3. Prolog disk: copy-on-write overlay (createOverlay) vs full copy
 *     (`qemu-img convert -O qcow2`, the agent's `mode: copy`) of a 1 GiB and an
 *     8 GiB base image that hold real data.
 * The fake-driver scale case (100 at once) is bench/provision-scale.ts.
 * Prints tables and verdicts, writes JSON to bench/results/. Not a test.
 *
 * Timing of `running`: the controller writes the boot→running history row
 * (ms timestamps, same process clock as t0) the moment the agent's start call
 * returns (QMP `running`), so request→running is read from the history — no
 * polling lag. A 20 ms poll of GET /vms?state=running is kept as a cross-check.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { AgentDaemon } from '../src/agent/agent-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { QemuDriver } from '../src/hypervisor/qemu/qemu-driver.js';
import { buildTinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { createImage, createOverlay, imageInfo } from '../src/storage/qemu-img.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil, sleep } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import type { VmDetailView } from '../src/contract/vm-schemas.js';
import { agentVmId } from '../src/controller/agent-vm-id.js';
import { hypervisorNic } from '../src/agent/hypervisor-vm-spec.js';
import { waitForConsole } from '../src/hypervisor/qemu/wait-for-console.js';
import { benchFlag } from './support/bench-flag.js';
import { clusterBootstrapCi } from './support/cluster-bootstrap-ci.js';
import { formatDistinct } from './support/format-distinct.js';
import { interleaved } from './support/interleaved.js';
import { comparePairs, describeComparison } from './support/paired-comparison.js';
import { median, quantile } from './support/quantile.js';
import { verdict } from './support/verdict.js';
import { rawBoot, rawBootToReady } from './raw-qemu.js';
import { VmRecordStore } from '../src/agent/vm-record-store.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
// 15, not 9: the guest's own boot under TCG varies by ±50 ms, and with 9 pairs the CI of a median difference of a few ms
// still reached past the 100 ms target (s19: +6 ms, CI 1…110, INCONCLUSIVE).
const pairCount = benchFlag('pairs', 'BENCH_PAIRS', 15);
const concurrent = benchFlag('concurrent', 'BENCH_CONCURRENT', 10);
// 6, not 2: the p95's interval resamples whole batches (their VMs share a load), and two batches give it two values;
// with 4, one slow batch of four (p95s 336, 130, 156, 118 ms in a run) left the interval across the target.
const batches = benchFlag('batches', 'BENCH_BATCHES', 6);
const cloneReps = benchFlag('clone-reps', 'BENCH_CLONE_REPS', 3);
const overlayReps = benchFlag('overlay-reps', 'BENCH_OVERLAY_REPS', 31);
const controllerHeartbeatMs = benchFlag('controller-heartbeat-ms', 'BENCH_CONTROLLER_HEARTBEAT_MS', 5_000);
const logger = pino({ level: process.env['NUBO_BENCH_LOG'] ?? 'silent' });
const wallNow = (): number => performance.timeOrigin + performance.now();
/** On stderr, so that a long run shows where it is and the table on stdout stays clean. */
const progress = (msg: string): void => console.error(`${new Date().toISOString()} ${msg}`);

interface VmSample {
  case: string; vm: string;
  postMs: number; // request → 201
  toRunningMs: number; // request → history `running`
  toRunningPolledMs: number; // request → first 20 ms poll that shows running
  scheduleMs: number; prologMs: number; bootMs: number; // history: pending→prolog, prolog→boot, boot→running
  overheadMs: number; // toRunning − boot
  toReadyMs: number;
}
interface CloneSample { size: string; mode: 'overlay' | 'copy'; rep: number; ms: number }

const ms = (x: number): string => `${Math.round(x)} ms`;
const sec = (x: number): string => `${(x / 1000).toFixed(2)} s`;

const image = await buildTinyImage({ cacheDir: imageCacheDir() });
const root = await mkdtemp(join(tmpdir(), 'nubo-bench-prov-'));
const runDir = join(root, 'run');
const hostDir = join(root, 'h1');
// Same runDir as the agent: tells the accelerator and, at the end, reaps any QEMU the API failed to end.
const reaper = await QemuDriver.create({ runDir, allowedDirs: [hostDir] });
/** Where the agent keeps its VMs' files (the console log among them). */
const agentRecords = new VmRecordStore(hostDir);
const vmSamples: VmSample[] = [];
const cloneSamples: CloneSample[] = [];
const baseInfo: Record<string, { virtualSize: number; actualSize: number; dataBytes: number }> = {};

async function terminateAll(c: NuboClient): Promise<void> {
  const live = (await c.listVms()).filter((v) => v.state !== 'terminated');
  for (const v of live) {
    // A VM mid-operation may refuse the action for a moment (409): retry until it takes.
    await pollUntil(`terminate-hard ${v.id}`, async () => c.vmAction(v.id, 'terminate-hard').then(() => true, async (err: unknown) => {
      if ((await c.getVm(v.id)).state === 'terminated') return true;
      if ((err as { status?: number }).status === 409) return undefined;
      throw err;
    }), { timeoutMs: 60_000, intervalMs: 200 });
  }
  for (const v of live) {
    await pollUntil(`VM ${v.id} terminated`, async () => ((await c.getVm(v.id)).state === 'terminated' ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
  }
}

/**
 * One shared 20 ms poll of the running VMs: first time each id is seen running. It stops by itself once it has seen
 * the case's `expected` VMs (the cases before were terminated to the last): polling on while the guests boot would
 * take CPU from nubo's side that the raw side does not pay, and slow its guests' boot under TCG.
 */
function runningWatcher(c: NuboClient, expected: number): { seen: Map<string, number>; stop(): Promise<void> } {
  const seen = new Map<string, number>();
  let on = true;
  const loop = (async () => {
    while (on && seen.size < expected) {
      const vms = await c.listVms({ state: 'running' }).catch(() => []);
      const t = wallNow();
      for (const v of vms) if (!seen.has(v.id)) seen.set(v.id, t);
      await sleep(20);
    }
  })();
  return { seen, async stop() { on = false; await loop; } };
}

function historyAt(vm: VmDetailView, to: string): number {
  const h = vm.history.find((e) => e.to === to);
  if (!h) throw new Error(`VM ${vm.id} history has no ${to}: ${vm.history.map((e) => e.to).join(',')}`);
  return Date.parse(h.at);
}

/** A VM that did not get to NUBO-READY, or that the controller moved out of `running` by the time it was ready. */
interface Failure { case: string; vm: string; error: string }
const failures: Failure[] = [];
const readyPairs: { raw: number; nubo: number }[] = [];
/** Per pair, when each side's guest started running (nubo: request → `running` in the history; raw: launch → QMP). */
const runningAt = { raw: new Map<number, number>(), nubo: new Map<number, number>() };
const manyCase = `${concurrent} at once`;
// Template `tiny` names no network, so the agent gives each VM one NIC on a private user-mode subnet (hypervisorNic):
// the raw guest gets that very device, or the two would not boot the same machine.
const rawNic = hypervisorNic('raw', { mac: '52:54:00:0b:0b:01' }, 0);
const rawOpts = { accel: reaper.accel, runDir: join(root, 'raw-run'), dir: join(root, 'raw'), memoryMiB: 128, nics: [rawNic] } as const;
await mkdir(rawOpts.dir, { recursive: true });

async function provisionOne(c: NuboClient, caseName: string, name: string, seen: Map<string, number>): Promise<VmSample | undefined> {
  let last: VmDetailView | undefined;
  try {
    const t0 = wallNow();
    const created = await c.createVm({ template: 'tiny', name });
    const postMs = wallNow() - t0;
    // Read from the agent's serial log as the raw side reads its own: the same 50 ms poll on both sides.
    // nubo-tiny prints its instance id after the marker, and the agent's instance id is the agent's VM id.
    const agentId = agentVmId(created.id);
    // The agent keeps a VM's console log beside its disk (its QEMU appends to it), not in the run directory.
    const ready = waitForConsole(agentRecords.paths(agentId).consoleLog, `NUBO-READY ${agentId}`, { timeoutMs: 300_000 }).then(() => wallNow());
    ready.catch(() => {}); // awaited below; a failure before then must not go unhandled
    // Only detects `running`/`failed`: the time of `running` comes from the history.
    const vm = await pollUntil(`VM ${name} running`, async () => {
      const v = (last = await c.getVm(created.id));
      if (v.state === 'failed') throw new Error(`failed: ${v.stateReason}`);
      return v.state === 'running' ? v : undefined;
    }, { timeoutMs: 180_000, intervalMs: 100 });
    const readyAt = await ready;
    const polled = await pollUntil(`poll saw ${name}`, () => seen.get(created.id), { timeoutMs: 5_000, intervalMs: 20 });
    const pending = historyAt(vm, 'pending'), prolog = historyAt(vm, 'prolog'), boot = historyAt(vm, 'boot'), running = historyAt(vm, 'running');
    const toRunningMs = running - t0;
    const sample: VmSample = {
      case: caseName, vm: name, postMs, toRunningMs, toRunningPolledMs: polled - t0,
      scheduleMs: prolog - pending, prologMs: boot - prolog, bootMs: running - boot,
      overheadMs: toRunningMs - (running - boot), toReadyMs: readyAt - t0,
    };
    // The guest booted; the controller must still agree it runs.
    const after = (last = await c.getVm(created.id));
    if (after.state !== 'running') throw new Error(`booted, but the controller now says ${after.state}: ${after.stateReason}`);
    vmSamples.push(sample);
    return sample;
  } catch (err) {
    const trail = last ? ` [history: ${last.history.map((h) => `${h.to}${h.action === 'monitor' || h.action === 'host-lost' ? `(${h.action}: ${h.reason})` : ''}`).join(' → ')}]` : '';
    failures.push({ case: caseName, vm: name, error: `${err instanceof Error ? err.message : String(err)}${trail}` });
    return undefined;
  }
}

async function runCase(c: NuboClient, caseName: string, names: string[]): Promise<(VmSample | undefined)[]> {
  const w = runningWatcher(c, names.length);
  try {
    return await Promise.all(names.map((n) => provisionOne(c, caseName, n, w.seen)));
  } finally {
    await w.stop();
    await terminateAll(c);
  }
}

// ---------- 1. provisioning through the API ----------
async function provisioning(): Promise<void> {
  let controller: ControllerDaemon | undefined;
  let agent: AgentDaemon | undefined;
  let api: NuboClient | undefined;
  try {
    controller = await ControllerDaemon.start({
      dataDir: join(root, 'controller'),
      listen: { host: '127.0.0.1', port: 0 },
      // The controller's silence limit is 3 × this interval: at 500 ms (1.5 s) ten TCG guests starting
      // at once on 2 cores delayed a heartbeat past it, the host went to `error` and the booting VMs to
      // `unknown`. 5 s is the default, as is the agent's own 5 s beat below.
      heartbeatIntervalMs: controllerHeartbeatMs,
      placement: { cpuOvercommit: 8 }, // 2 real CPUs here: room for 10+ 1-vCPU VMs
      logger,
    });
    const c = (api = new NuboClient(controller.url, (await controller.bootstrapAdmin())!));
    const agentToken = randomBytes(24).toString('hex');
    const port = await freePort();
    await c.registerHost({ name: 'h1', agentUrl: `http://127.0.0.1:${port}`, agentToken });
    agent = await AgentDaemon.start({
      name: 'h1', dataDir: hostDir, runDir, listen: { host: '127.0.0.1', port }, token: agentToken,
      controllerUrl: controller.url, logger, // the agent's default heartbeat (5 s), as a host runs it
    });
    await pollUntil('host h1 enabled', async () => ((await c.getHost('h1')).state === 'enabled' ? true : undefined), { timeoutMs: 20_000 });
    await c.uploadImage({ name: 'tiny-disk', file: image.dataDisk });
    await c.uploadImage({ name: 'tiny-kernel', file: image.kernel, format: 'kernel' });
    await c.uploadImage({ name: 'tiny-initrd', file: image.initrd, format: 'initrd' });
    await c.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, image: 'tiny-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: image.cmdline });

    // Warm-up (not counted): the agent's image cache fetches the images once per host.
    await runCase(c, 'warm-up', ['warm']);
    await rawBootToReady(image, 'raw-warm', rawOpts);
    vmSamples.length = 0;
    readyPairs.push(...await interleaved(
      pairCount,
      (r) => rawBoot(image, `raw-r${r}`, rawOpts).then(
        (t) => (runningAt.raw.set(r, t.runningMs), progress(`pair ${r}: raw ${Math.round(t.readyMs)} ms`), t.readyMs),
        (err: unknown) => (failures.push({ case: 'raw', vm: `raw-r${r}`, error: String(err) }), NaN),
      ),
      async (r) => {
        const one = (await runCase(c, '1 VM', [`one-r${r}`]))[0];
        if (one !== undefined) runningAt.nubo.set(r, one.toRunningMs);
        const t = one?.toReadyMs ?? NaN;
        progress(`pair ${r}: nubo ${Math.round(t)} ms`);
        return t;
      },
    ));
    for (let b = 0; b < batches; b++) {
      await runCase(c, manyCase, Array.from({ length: concurrent }, (_, i) => `many-b${b}-${i}`));
      progress(`batch ${b} of ${concurrent} done`);
    }
  } finally {
    if (api) await terminateAll(api).catch((err: unknown) => console.error('terminate-hard failed:', err));
    await controller?.orchestrator.idle();
    await agent?.stop();
    await controller?.stop();
    // Backstop: any QEMU still alive in the agent's run dir is ended here, by its pid.
    for (const s of await reaper.adopt().catch(() => [])) await reaper.destroy(s.id).catch(() => {});
    await reaper.close();
  }
}

// ---------- 2. prolog disk: overlay vs full copy ----------
const sizes = [
  { label: '1 GiB', virtual: 1 * GiB, data: 512 * MiB },
  { label: '8 GiB', virtual: 8 * GiB, data: 2 * GiB },
];

async function prologDisk(): Promise<void> {
  const dir = join(root, 'prolog');
  await mkdir(dir, { recursive: true });
  const { stdout: df } = await runCommand('df', ['-B1', '--output=avail', dir]);
  const avail = Number(df.trim().split('\n').pop());
  const need = sizes.reduce((a, s) => a + 2 * s.data, 0);
  if (!(avail > need + 2 * GiB)) throw new Error(`not enough disk in ${dir}: ${avail} bytes free, need ~${need}`);
  const baseOf = (s: (typeof sizes)[number]): string => join(dir, `base-${s.virtual / GiB}g.qcow2`);
  for (const s of sizes) {
    await createImage(baseOf(s), 'qcow2', s.virtual);
    // Data spread over the image in 256 MiB chunks (0xab, not zero, so a full copy must copy it).
    const chunk = 256 * MiB;
    const stride = Math.floor(s.virtual / (s.data / chunk));
    const cmds = Array.from({ length: s.data / chunk }, (_, i) => ['-c', `write -q -P 0xab ${i * stride} ${chunk}`]).flat();
    await runCommand('qemu-io', ['-f', 'qcow2', ...cmds, baseOf(s)], { timeoutMs: 600_000 });
    const info = await imageInfo(baseOf(s));
    baseInfo[s.label] = { virtualSize: info.virtualSize, actualSize: info.actualSize, dataBytes: s.data };
  }
  // Untimed warm-up: the first qemu-img spawn pays for loading the binary and its libraries.
  for (const s of sizes) {
    await createOverlay(baseOf(s), 'qcow2', join(dir, 'warm.qcow2'));
    await rm(join(dir, 'warm.qcow2'));
  }
  // Overlays first, so no copy's write-back is still draining under them; sizes interleaved
  // within each repetition, so drift hits both alike. An overlay is one ~13 ms qemu-img
  // spawn with a few ms of jitter: more repetitions than the copies, or a 20 % test is noise.
  const ov = join(dir, 'overlay.qcow2');
  for (let rep = 0; rep < overlayReps; rep++) {
    for (const s of sizes) {
      const t = performance.now();
      await createOverlay(baseOf(s), 'qcow2', ov);
      cloneSamples.push({ size: s.label, mode: 'overlay', rep, ms: performance.now() - t });
      await rm(ov);
    }
  }
  const cp = join(dir, 'copy.qcow2');
  for (let rep = 0; rep < cloneReps; rep++) {
    for (const s of sizes) {
      await runCommand('sync', []); // untimed: the previous copy's write-back is not charged to this one
      const t = performance.now();
      await runCommand('qemu-img', ['convert', '-q', '-O', 'qcow2', baseOf(s), cp], { timeoutMs: 3_600_000 });
      cloneSamples.push({ size: s.label, mode: 'copy', rep, ms: performance.now() - t });
      await rm(cp);
    }
  }
}

try {
  await provisioning();
  await prologDisk();
} finally {
  await rm(root, { recursive: true, force: true });
}

// ---------- report ----------
const cases = ['1 VM', manyCase];
const rows = cases.map((cs) => {
  const xs = vmSamples.filter((s) => s.case === cs);
  const col = (k: keyof Omit<VmSample, 'case' | 'vm'>): number[] => xs.map((s) => s[k]);
  const p = (k: keyof Omit<VmSample, 'case' | 'vm'>, q: number): number => quantile(col(k), q / 100);
  return {
    case: cs, n: xs.length, failed: failures.filter((f) => f.case === cs).length,
    postP50: p('postMs', 50),
    runningP50: p('toRunningMs', 50), runningP95: p('toRunningMs', 95),
    runningPolledP50: p('toRunningPolledMs', 50),
    scheduleP50: p('scheduleMs', 50), prologP50: p('prologMs', 50), prologP95: p('prologMs', 95), bootP50: p('bootMs', 50),
    overheadP50: p('overheadMs', 50), overheadP95: p('overheadMs', 95),
    readyP50: p('toReadyMs', 50), readyP95: p('toReadyMs', 95),
  };
});
const accel = reaper.accel.toUpperCase();
console.log(`\nprovision benchmark — accel ${accel}, template tiny (1 vCPU, 128 MiB, overlay disk), ${pairCount} interleaved raw/nubo pairs of 1 VM, ${batches} × ${concurrent} at once, heartbeat 500 ms (controller silence limit ${(3 * controllerHeartbeatMs) / 1000} s), ${new Date().toISOString()}`);
console.log('| case | VMs measured | failed | POST→201 p50 | request→running p50 | p95 | (20 ms poll p50) | schedule p50 | prolog p50 | prolog p95 | boot (QEMU start) p50 | overhead p50 | overhead p95 | request→NUBO-READY p50 | p95 |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.case} | ${r.n} | ${r.failed} | ${ms(r.postP50)} | ${ms(r.runningP50)} | ${ms(r.runningP95)} | ${ms(r.runningPolledP50)} | ${ms(r.scheduleP50)} | ${ms(r.prologP50)} | ${ms(r.prologP95)} | ${ms(r.bootP50)} | ${ms(r.overheadP50)} | ${ms(r.overheadP95)} | ${sec(r.readyP50)} | ${sec(r.readyP95)} |`);
}
console.log('schedule = created→prolog, prolog = prolog→boot, boot = boot→running (history); overhead = request→running − boot.');
for (const f of failures) console.log(`failed: ${f.case} / ${f.vm}: ${f.error}`);

console.log(`\nside by side — raw QEMU start → NUBO-READY (same device model: the user-mode NIC nubo gives) vs nubo request → NUBO-READY, ${readyPairs.length} interleaved pairs`);
console.log('| pair | raw | nubo | nubo − raw |');
console.log('|---|---|---|---|');
readyPairs.forEach((p, i) => {
  const [raw, nubo, diff] = formatDistinct([p.raw, p.nubo, p.nubo - p.raw]);
  console.log(`| ${i} | ${raw} ms | ${nubo} ms | ${diff} ms |`);
});

const cloneRows = sizes.flatMap((s) => (['overlay', 'copy'] as const).map((mode) => {
  const xs = cloneSamples.filter((c) => c.size === s.label && c.mode === mode).map((c) => c.ms);
  return { size: s.label, mode, reps: xs.length, medianMs: median(xs), minMs: Math.min(...xs), maxMs: Math.max(...xs) };
}));
console.log(`\nprolog disk — qcow2 base with data; median of ${overlayReps} overlays / ${cloneReps} full copies`);
console.log('| base (virtual) | data (actual size) | mode | reps | median | min | max |');
console.log('|---|---|---|---|---|---|---|');
for (const r of cloneRows) {
  const b = baseInfo[r.size]!;
  console.log(`| ${r.size} | ${(b.actualSize / MiB).toFixed(0)} MiB | ${r.mode === 'overlay' ? 'overlay (createOverlay)' : 'full copy (qemu-img convert)'} | ${r.reps} | ${ms(r.medianMs)} | ${ms(r.minMs)} | ${ms(r.maxMs)} |`);
}

const sideBySide = comparePairs('provision to ready (1 VM)', readyPairs, 'difference', { limit: 100, kind: 'atMost' }, 'ms');
// The same pairs split at the moment the guest started: before it, what nubo adds (schedule, prolog, launch, the
// API and the journal) against a raw launch; after it, the guest's own boot to NUBO-READY under TCG — the same
// kernel and init on both sides, which spreads over seconds from run to run on this machine and leaves the
// whole difference INCONCLUSIVE at any number of pairs it can run.
const split = readyPairs.map((p, r) => ({ p, raw: runningAt.raw.get(r) ?? NaN, nubo: runningAt.nubo.get(r) ?? NaN }));
const toStarted = comparePairs('provision to the guest started (1 VM; nubo: request → running, raw: launch → QMP)', split.map((x) => ({ raw: x.raw, nubo: x.nubo })), 'difference', { limit: 100, kind: 'atMost' }, 'ms');
const guestBoot = comparePairs('the guest\'s own boot, started → NUBO-READY (1 VM; informational: the noise of the total)', split.map((x) => ({ raw: x.p.raw - x.raw, nubo: x.p.nubo - x.nubo })), 'difference', { limit: 100, kind: 'atMost' }, 'ms');
// The VMs of one batch share its circumstances (a neighbour's load slows all ten): resampled by batch, so that the
// interval spans how far batches differ (with 20 VMs drawn one by one it was 368…388 ms in a run, while runs of one
// tree ranged 259–433).
const batchOverheads = Array.from({ length: batches }, (_, b) => vmSamples.filter((x) => x.case === manyCase && x.vm.startsWith(`many-b${b}-`)).map((x) => x.overheadMs));
const p95Ci = clusterBootstrapCi(batchOverheads, { statistic: (xs) => quantile(xs, 0.95) });
const p95Target = { limit: 300, kind: 'atMost' } as const;
const manyFailed = failures.filter((f) => f.case === manyCase).length;
const ov1 = cloneRows.find((r) => r.size === '1 GiB' && r.mode === 'overlay')!.medianMs;
const ov8 = cloneRows.find((r) => r.size === '8 GiB' && r.mode === 'overlay')!.medianMs;
const cp1 = cloneRows.find((r) => r.size === '1 GiB' && r.mode === 'copy')!.medianMs;
const cp8 = cloneRows.find((r) => r.size === '8 GiB' && r.mode === 'copy')!.medianMs;
const dev = Math.abs(ov8 - ov1) / ov1;
const [p95, p95lo, p95hi, p95limit] = formatDistinct([p95Ci.point, p95Ci.lo, p95Ci.hi, p95Target.limit]);
const [o1, o8, c1, c8] = formatDistinct([ov1, ov8, cp1, cp8]);
const verdicts: { target: string; verdict: string; detail: string }[] = [
  { target: 'nubo − raw ≤ 100 ms to NUBO-READY', verdict: sideBySide.verdict, detail: describeComparison(sideBySide) },
  { target: 'nubo − raw ≤ 100 ms to the guest started', verdict: toStarted.verdict, detail: describeComparison(toStarted) },
  { target: 'nubo − raw, the guest\'s own boot (informational)', verdict: guestBoot.verdict, detail: describeComparison(guestBoot) },
  { target: `control-plane overhead p95 < 300 ms (${manyCase})`, verdict: verdict(p95Ci, p95Target), detail: `overhead p95 ${p95} ms (95% CI ${p95lo}…${p95hi} resampling batches; ${p95Ci.n} VMs in ${batches} batches; p95 per batch ${batchOverheads.map((g) => Math.round(quantile(g, 0.95))).join(', ')} ms) vs limit ${p95limit} ms` },
  { target: `0 failures (${manyCase}, ${batches} batches)`, verdict: manyFailed === 0 ? 'PASS' : 'FAIL', detail: `${manyFailed} of ${batches * concurrent} failed` },
  { target: 'clone time independent of image size (within 20 %)', verdict: dev <= 0.2 ? 'PASS' : 'FAIL', detail: `overlay 1 GiB ${o1} ms vs 8 GiB ${o8} ms (${(dev * 100).toFixed(1)} %); full copy ${c1} ms vs ${c8} ms (${(cp8 / cp1).toFixed(1)}×)` },
];
console.log('');
for (const v of verdicts) console.log(v.target.startsWith('nubo − raw') ? v.detail : `${v.verdict} ${v.target}: ${v.detail}`);

await mkdir('bench/results', { recursive: true });
const out = join('bench/results', `provision-${Date.now()}.json`);
await writeFile(out, JSON.stringify({ accel: reaper.accel, pairCount, batches, concurrent, readyPairs, sideBySide, toStarted, guestBoot, controllerHeartbeatMs, cloneReps, overlayReps, rows, vmSamples, failures, baseImages: baseInfo, cloneRows, cloneSamples, verdicts }, null, 2));
console.log(`wrote ${out}`);
