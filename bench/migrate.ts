/**
 * Live-migration benchmark (issue 5; DESIGN §5), in one lab, nubo against raw
 * QMP in the same run. Two lab hosts, one in-process controller, migration TLS
 * on both paths (or off on both: BENCH_MIGRATION_TLS=0). Both guests sit on the
 * shared datastore, so both paths move only memory.
 *
 * - raw: a QEMU started by hand in h1's namespace with nubo's device model
 *   (buildQemuArgv: kernel+initrd, virtio disk on a qcow2 overlay in the shared
 *   dir, config drive, TAP on br0 with a held address of the VMs' network), and
 *   migrated by the plain QMP commands (bench/raw-migration.ts). Total: from
 *   starting the destination QEMU to the destination running.
 * - raw, resume on completion (raw-rc): the same raw guest and script with
 *   nubo's QEMU settings for a VM on the shared datastore — `return-path` on
 *   the source, the destination started without `-S` so it runs the guest the
 *   moment the stream completed. Its pause splits nubo's against raw's: what
 *   the settings cost (raw-rc − raw) and what nubo's software adds
 *   (nubo − raw-rc). Off: BENCH_RAW_RESUME_COMPARE=0. Against raw-rc the pause is
 *   also split: QEMU's own downtime (query-migrate; with the return path it
 *   ends after the destination resumed) and the pause beyond it — the
 *   destination's wait, the part nubo's switch could add, steady to ±1–2 ms
 *   per run where the whole pause spreads over tens of ms.
 * - nubo: a VM created through the API on h1 (datastore shared), migrated with
 *   POST /vms/:id/migrate. Total: POST → journal `activated` (the VM runs on
 *   the destination); the record's own totalTimeMs is shown too.
 *
 * One guest per path, the same user data, migrated h1→h2→h1→… so each run
 * starts from where the previous left it; runs alternate raw/nubo (the first
 * path of each run alternates too) so drift hits both. Cases, in this order:
 * (a) idle; (c) a client in the fabric fetching /file-512k in a loop (Clark et
 * al.'s web-server experiment); (b) the guest rewriting a 64 MiB tmpfs buffer
 * from a random 4 MiB block in a loop (off outside its own case and on the
 * other path's guest, switched over HTTP, so only the migrating guest loads
 * the 2 cores). Around every migration, on every path, iputils ping every
 * 5 ms from the fabric gives the network-level downtime (the longest silence
 * between echo replies: no retransmit timers, unlike the HTTP client's gap,
 * which is informational). Prints tables and the issue's targets; writes JSON to
 * bench/results/. Not a test.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import type { VmDetailView } from '../src/contract/vm-schemas.js';
import type { MigrationView } from '../src/contract/migration-schemas.js';
import { DEFAULT_MIGRATION_POLICY } from '../src/core/migration/migration-policy.js';
import { parseVmSpec, type VmSpec } from '../src/hypervisor/vm-spec.js';
import { probeKvm } from '../src/hypervisor/qemu/probe-kvm.js';
import { waitForConsole } from '../src/hypervisor/qemu/wait-for-console.js';
import { labDown, labFabricUp, labUp } from '../src/lab/lab.js';
import { FABRIC_ADDRESS, HOST_BRIDGE, type LabHost } from '../src/lab/lab-state.js';
import { buildConfigDrive } from '../src/storage/config-drive.js';
import { createOverlay } from '../src/storage/qemu-img.js';
import { buildTinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { tinyFile512k } from '../src/storage/tiny-image/tiny-file-512k.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { pollUntil, sleep } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { startHttpLoop, type HttpLoop } from '../test/support/http-loop.js';
import { httpGet } from '../test/support/http-get.js';
import { startRawQemu, stopRawQemu, type RawQemu } from './raw-qemu.js';
import { rawMigrate, type RawEnd, type RawParams } from './raw-migration.js';
import { longestGap, throughput } from './client-windows.js';
import { fabricHolders, waitForFreeFabric } from './wait-for-free-fabric.js';
import { readAgentTimeline } from './agent-log-timeline.js';
import { benchFlag } from './support/bench-flag.js';
import { checkPing, startIcmpProbe, type IcmpProbe } from './icmp-probe.js';
import { networkDowntime, type PingReply } from './ping-replies.js';
import { CASES, isRaw, type CaseName, type ClientStats, type FailedMigration, type PathName, type Sample } from './support/migrate-sample.js';
import { reportMigrate } from './support/migrate-report.js';
import { median } from './support/quantile.js';

const MiB = 1024 * 1024;
const runs = benchFlag('runs', 'BENCH_RUNS', 5);
const memoryMiB = Number(process.env['BENCH_MEMORY_MIB'] ?? 256);
const tls = process.env['BENCH_MIGRATION_TLS'] !== '0';
/** Pause between two 4 MiB writes of the dirtying loop (µs). */
const dirtySleepUs = Number(process.env['BENCH_DIRTY_SLEEP_US'] ?? 50_000);
const CLIENT_WINDOW_MS = 5_000;
/** The ICMP probe's interval: the network-level downtime is exact to about this. */
const ICMP_INTERVAL_MS = 5;
const MIGRATION_TIMEOUT_MS = 180_000;
const logger = pino({ level: process.env['NUBO_BENCH_LOG'] ?? 'silent' });

const compareSwitch = process.env['BENCH_SWITCH_COMPARE'] !== '0';
const compareRawResume = process.env['BENCH_RAW_RESUME_COMPARE'] !== '0';
const PATHS: readonly PathName[] = ['raw', ...(compareRawResume ? ['raw-rc' as const] : []), 'nubo', ...(compareSwitch ? ['nubo-ctl' as const] : [])];

// The dirtier is off until /cgi-bin/dirty?on; the counter lets the bench read the rate the guest really wrote.
const USER_DATA = [
  '#!/bin/sh',
  "cat > /www/cgi-bin/dirty <<'EOF'",
  '#!/bin/sh',
  "printf 'Content-Type: text/plain\\r\\n\\r\\n'",
  'case "$QUERY_STRING" in on) touch /run/dirty-on ;; off) rm -f /run/dirty-on ;; esac',
  'cat /run/dirty-mib 2>/dev/null || echo 0',
  'EOF',
  'chmod 755 /www/cgi-bin/dirty',
  '(',
  '  n=0',
  '  while :; do',
  '    if [ -f /run/dirty-on ]; then',
  '      [ -f /run/dirty-src ] || dd if=/dev/urandom of=/run/dirty-src bs=1M count=4 2>/dev/null',
  '      dd if=/run/dirty-src of=/run/dirty-buf bs=1M count=4 seek=$((n % 16 * 4)) conv=notrunc 2>/dev/null',
  '      n=$((n + 1))',
  '      echo $((n * 4)) > /run/dirty-mib',
  `      usleep ${dirtySleepUs}`,
  '    else',
  '      usleep 200000',
  '    fi',
  '  done',
  ') &',
  'echo USERDATA-DONE',
  '',
].join('\n');

const ms = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)} ms` : '—');
const mib = (x: number): string => (Number.isFinite(x) ? `${(x / MiB).toFixed(1)}` : '—');

// ---------- lifecycle: everything made is recorded here and removed in `cleanup` ----------
const stop = new AbortController();
const onSignal = (sig: string): void => {
  console.error(`\n${sig}: stopping, cleaning up the lab…`);
  stop.abort(new Error(`interrupted by ${sig}`));
};
process.once('SIGINT', () => onSignal('SIGINT'));
process.once('SIGTERM', () => onSignal('SIGTERM'));
const signal = stop.signal;

const prefix = `bm${randomBytes(3).toString('hex')}`;
const root = await mkdtemp(join(tmpdir(), 'nubo-bench-mig-'));
const labDir = join(root, 'lab');
// Short: QEMU's unix sockets live under it.
const rawRunRoot = `/run/nubo-bench-${prefix}`;
let controller: ControllerDaemon | undefined;
let api: NuboClient | undefined;
let hosts: LabHost[] = [];
let labMade = false;
let raw: { vm: RawQemu; hostIndex: number } | undefined;
let nuboVm: { id: string; ip: string; hostIndex: number } | undefined;
let loop: HttpLoop | undefined;
let probe: IcmpProbe | undefined;
const samples: Sample[] = [];
const failedMigrations: FailedMigration[] = [];
const startedAt = Date.now();
let rawIp: string | undefined;
let accelUsed: 'kvm' | 'tcg' = 'tcg';

async function cleanup(): Promise<void> {
  const errors: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      errors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  if (loop) await attempt('client loop', () => loop!.stop());
  if (probe) await attempt(`ICMP probe (ping pid ${probe.pid})`, () => probe!.stop());
  if (raw) await attempt('raw QEMU', () => stopRawQemu(raw!.vm));
  if (api) {
    const c = api;
    await attempt('nubo VMs', async () => {
      for (const v of await c.listVms({}, { timeoutMs: 10_000 })) {
        if (v.state === 'terminated') continue;
        await pollUntil(`terminate-hard ${v.id}`, async () => c.vmAction(v.id, 'terminate-hard').then(() => true, async () => ((await c.getVm(v.id)).state === 'terminated' ? true : undefined)), { timeoutMs: 60_000, intervalMs: 500 });
      }
    });
  }
  if (controller) await attempt('controller idle', () => controller!.orchestrator.idle());
  if (labMade) await attempt('lab down', () => labDown(labDir));
  if (controller) await attempt('controller stop', () => controller!.stop());
  await attempt('raw run dir', () => rm(rawRunRoot, { recursive: true, force: true }));
  await attempt('temp dir', () => rm(root, { recursive: true, force: true }));
  if (errors.length > 0) console.error(`cleanup left something behind (lab prefix ${prefix}, dir ${root}):\n  ${errors.join('\n  ')}`);
}

/** The agents' logs die with the temp dir: show their ends before it goes. */
async function tailLabLogs(): Promise<void> {
  for (const h of ['h1', 'h2']) {
    const text = await readFile(join(labDir, 'logs', `${h}.log`), 'utf8').catch(() => '');
    if (text) console.error(`--- ${h} agent log (end) ---\n${text.split('\n').slice(-15).join('\n')}`);
  }
}

const host = (i: number): LabHost => {
  const h = hosts.find((x) => x.index === i);
  if (!h) throw new Error(`no lab host ${i}`);
  return h;
};
const rawEnd = (i: number): RawEnd => ({ netns: host(i).netns, runDir: join(rawRunRoot, host(i).name), address: host(i).address, tlsDir: tls ? host(i).migrationTlsDir : undefined });

async function guestGet(ip: string, path: string): Promise<string> {
  const r = await httpGet(`http://${ip}${path}`, 10_000);
  if (r.status !== 200) throw new Error(`GET http://${ip}${path}: HTTP ${r.status}`);
  return r.body.toString().trim();
}

// ---------- set-up ----------
async function setUp(): Promise<{ template: string; rawSpec: VmSpec; rawIp: string; accel: 'kvm' | 'tcg' }> {
  await checkPing({ signal });
  const image = await buildTinyImage({ cacheDir: imageCacheDir(), signal });
  await waitForFreeFabric({ signal, timeoutMs: Number(process.env['BENCH_LAB_WAIT_S'] ?? 600) * 1000, say: (l) => console.log(l) });
  await labFabricUp(prefix, labDir);
  labMade = true;
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: FABRIC_ADDRESS, port: 0 }, logger });
  const token = (await controller.bootstrapAdmin())!;
  const c = (api = new NuboClient(controller.url, token));
  // The agents log QEMU's STOP/RESUME events (with QEMU's timestamps) at debug level: the pause is read from them.
  process.env['NUBO_LOG_LEVEL'] ??= 'debug';
  // Agents beat every second; the controller keeps its default silence limit (3 × 5 s): busy TCG guests on 2 cores delay beats.
  const r = await labUp({ prefix, dir: labDir, hosts: 2, controller: { url: controller.url, token }, heartbeatMs: 1_000, migrationTls: tls, signal });
  hosts = r.state.hosts;
  await c.uploadImage({ name: 'tiny-disk', file: image.dataDisk }, { signal });
  await c.uploadImage({ name: 'tiny-kernel', file: image.kernel, format: 'kernel' }, { signal });
  await c.uploadImage({ name: 'tiny-initrd', file: image.initrd, format: 'initrd' }, { signal });
  // No VLAN, gateway on the fabric bridge: this process is a client in the fabric that both guests answer on-link.
  const net = await c.createNetwork({ name: 'mig', cidr: '198.18.66.0/24', gateway: '198.18.66.254' }, { signal });
  await runCommand('ip', ['addr', 'add', '198.18.66.254/24', 'dev', r.state.fabricBridge]);
  await c.createTemplate({ name: 'tiny-mig', vcpus: 1, memoryMiB, image: 'tiny-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: image.cmdline, nics: [{ network: 'mig' }] }, { signal });
  // The raw guest's address and MAC: held in the network, so no nubo VM ever leases it.
  const lease = await c.holdAddress(net.id, '198.18.66.200', { signal });

  // The raw guest, as the agent would make it on the shared datastore (agent-service #hvSpec).
  const id = `raw-${prefix}`;
  const dir = join(r.state.sharedDir, 'raw', id);
  await mkdir(dir, { recursive: true });
  await createOverlay(image.dataDisk, 'qcow2', join(dir, 'disk.qcow2'), { signal });
  await buildConfigDrive(join(dir, 'cidata.iso'), {
    instanceId: id, hostname: id, userData: USER_DATA,
    nics: [{ mac: lease.mac, addresses: [`${lease.address}/24`], gateway: '198.18.66.254' }],
  }, { signal });
  const rawSpec = parseVmSpec({
    id, vcpus: 1, memoryMiB, cpuModel: 'qemu64',
    boot: { kind: 'kernel', kernel: image.kernel, initrd: image.initrd, cmdline: image.cmdline },
    disks: [{ id: 'root', path: join(dir, 'disk.qcow2'), format: 'qcow2' }],
    configDrive: join(dir, 'cidata.iso'),
    nics: [{ kind: 'tap', id: 'nic0', mac: lease.mac, ifname: `nb${prefix.slice(2)}-0`, bridge: HOST_BRIDGE }],
  });
  // The agents run QEMU with accel=auto: the same probe decides here.
  const accel = (await probeKvm('qemu-system-x86_64')) ? 'kvm' : 'tcg';
  return { template: 'tiny-mig', rawSpec, rawIp: lease.address, accel };
}

async function bootGuests(template: string, rawSpec: VmSpec, accel: 'kvm' | 'tcg'): Promise<void> {
  const c = api!;
  const created = await c.createVm({ template, name: 'bench-nubo', datastore: 'shared', host: host(1).name, userData: USER_DATA }, { signal });
  const vmRaw = await startRawQemu({ ...rawSpec, netns: host(1).netns }, { accel, runDir: rawEnd(1).runDir, signal, timeoutMs: 30_000 });
  raw = { vm: vmRaw, hostIndex: 1 };
  const vm = await pollUntil('nubo VM running', async () => {
    const v = await c.getVm(created.id, { signal });
    if (v.state === 'failed') throw new Error(`nubo VM failed: ${v.stateReason}`);
    return v.state === 'running' ? v : undefined;
  }, { signal, timeoutMs: 120_000, intervalMs: 250 });
  const ip = vm.nics[0]?.address?.split('/')[0];
  if (ip === undefined) throw new Error('the nubo VM has no address');
  nuboVm = { id: vm.id, ip, hostIndex: 1 };
  await pollUntil('nubo guest user data done', async () => ((await c.vmConsole(created.id, { signal })).includes('USERDATA-DONE') ? true : undefined), { signal, timeoutMs: 120_000, intervalMs: 500 });
  await waitForConsole(vmRaw.paths.serialLog, 'USERDATA-DONE', { signal, timeoutMs: 120_000 });
}

// ---------- one migration on each path ----------
interface Migrated { totalMs: number; windowStart: number; windowEnd: number; sample: Omit<Sample, 'case' | 'run' | 'client' | 'guestDirtyMiBps'> }

async function migrateRaw(run: number, accel: 'kvm' | 'tcg', path: 'raw' | 'raw-rc'): Promise<Migrated> {
  const r = raw!;
  const toIndex = r.hostIndex === 1 ? 2 : 1;
  const p = DEFAULT_MIGRATION_POLICY;
  const params: RawParams = { downtimeLimitMs: p.downtimeMs, maxBandwidthBytes: p.maxBandwidthMiBps * MiB, autoConverge: p.autoConverge, xbzrle: p.xbzrle, resumeOnCompletion: path === 'raw-rc' };
  const windowStart = Date.now();
  const res = await rawMigrate(r.vm, r.vm.spec, rawEnd(toIndex), rawEnd(r.hostIndex), params, { accel, run, signal, timeoutMs: MIGRATION_TIMEOUT_MS });
  const windowEnd = Date.now();
  raw = { vm: res.vm, hostIndex: toIndex };
  const a = res.at;
  const ram = res.final.ram;
  const rel = (t: number): number => t - a.destStart;
  return {
    totalMs: a.destRunning - a.destStart, windowStart, windowEnd,
    sample: {
      path, from: host(r.hostIndex).name, to: host(toIndex).name,
      totalMs: a.destRunning - a.destStart,
      qemuDowntimeMs: res.final.downtime ?? null,
      pauseMs: res.pauseMs,
      transferredBytes: ram?.transferred ?? 0,
      passes: ram?.['dirty-sync-count'] ?? 0,
      dirtyRateBytes: res.lastDirtyRateBytes,
      maxThrottlePercent: res.maxThrottlePercent,
      completedDirtyRateBytes: res.completedDirtyRateBytes,
      phases: { prepare: a.destListening - a.destStart, copy: a.sourceCompleted - a.destListening, switch: a.destRunning - a.sourceCompleted },
      steps: { destQmp: rel(a.destQmp), destCaps: rel(a.destCaps), destTls: rel(a.destTls), destListening: rel(a.destListening), migrate: rel(a.migrate), sourceCompleted: rel(a.sourceCompleted), destPaused: rel(a.destPaused), destRunning: rel(a.destRunning), qemuTotalTime: res.final['total-time'] ?? NaN, qemuSetupTime: res.final['setup-time'] ?? NaN },
    },
  };
}

async function migrateNubo(path: 'nubo' | 'nubo-ctl'): Promise<Migrated> {
  const c = api!;
  const v = nuboVm!;
  const toIndex = v.hostIndex === 1 ? 2 : 1;
  const t0 = Date.now();
  const started = await c.migrateVm(v.id, { to: host(toIndex).name, ...(path === 'nubo-ctl' ? { policy: { resumeOnCompletion: false } } : {}) }, { signal });
  const m: MigrationView = await pollUntil(`migration ${started.id}`, async () => {
    const x = await c.getMigration(started.id, { signal });
    return x.state === 'running' ? undefined : x;
  }, { signal, timeoutMs: MIGRATION_TIMEOUT_MS, intervalMs: 50 });
  if (m.state !== 'succeeded') throw new Error(`nubo migration ${m.id} ${m.state}: ${m.reason}`);
  const at = (stage: string): number => {
    const j = m.journal.find((e) => e.stage === stage);
    return j === undefined ? NaN : Date.parse(j.at);
  };
  const activated = at('activated');
  const vm: VmDetailView = await pollUntil('nubo VM running on the destination', async () => {
    const x = await c.getVm(v.id, { signal });
    return x.state === 'running' && x.host === host(toIndex).name ? x : undefined;
  }, { signal, timeoutMs: 30_000, intervalMs: 100 });
  nuboVm = { ...v, hostIndex: toIndex };
  const s = m.stats;
  const num = (k: string): number => (typeof s[k] === 'number' ? s[k] : NaN);
  const steps: Record<string, number> = { recordStarted: Date.parse(m.startedAt) - t0 };
  for (const j of m.journal) steps[j.stage] = Date.parse(j.at) - t0;
  return {
    totalMs: activated - t0, windowStart: t0, windowEnd: activated,
    sample: {
      path, from: host(v.hostIndex).name, to: vm.host ?? '?',
      totalMs: activated - t0,
      recordTotalMs: num('totalTimeMs'),
      postToFinishedMs: m.finishedAt === null ? NaN : Date.parse(m.finishedAt) - t0,
      qemuDowntimeMs: typeof s['downtimeMs'] === 'number' ? s['downtimeMs'] : null,
      transferredBytes: num('transferredBytes'),
      passes: num('passes'),
      dirtyRateBytes: num('finalDirtyRateBytes'),
      phases: { prepare: at('prepared') - t0, copy: at('stop-and-copy') - at('prepared'), switch: activated - at('stop-and-copy') },
      steps, startedAtMs: t0,
      convergence: Array.isArray(s['convergence']) ? s['convergence'] : [],
    },
  };
}

/**
 * Puts each nubo migration's agent requests on its time line (ms from the POST): when the destination got
 * `incoming` and answered it, when its QEMU was up, when the source got `migration/start`, how many progress
 * reads the controller made, when the destination got `activate` and answered.
 */
async function placeAgentRequests(): Promise<void> {
  const t = await readAgentTimeline(hosts.map((h) => ({ host: h.name, file: join(labDir, 'logs', `${h.name}.log`) })));
  for (const s of samples) {
    if (isRaw(s.path) || s.startedAtMs === undefined) continue;
    const t0 = s.startedAtMs;
    const end = t0 + s.totalMs + 1_000;
    const on = (host: string, method: string, suffix: string, after: number) => t.requests.find((r) => r.host === host && r.method === method && r.url.endsWith(suffix) && r.at >= after && r.at <= end);
    const incoming = on(s.to, 'POST', '/incoming', t0);
    if (!incoming) continue;
    const qemu = t.incomingQemuStarted.find((q) => q.host === s.to && q.at >= incoming.at && q.at <= end);
    const start = on(s.from, 'POST', '/migration/start', incoming.at);
    const activate = start && on(s.to, 'POST', '/migration/activate', start.at);
    const polls = start ? t.requests.filter((r) => r.host === s.from && r.method === 'GET' && (r.url.split('?')[0] ?? '').endsWith('/migration') && r.at >= start.at && r.at <= t0 + (s.steps['stop-and-copy'] ?? 0)) : [];
    s.agent = {
      incomingArrived: incoming.at - t0,
      ...(qemu ? { destQemuUp: qemu.at - t0 } : {}),
      incomingAnswered: incoming.at + incoming.ms - t0,
      ...(start ? { startArrived: start.at - t0, startAnswered: start.at + start.ms - t0 } : {}),
      progressReads: polls.length,
      ...(polls.length > 0 ? { progressReadP50Ms: median(polls.map((r) => r.ms)) } : {}),
      ...(activate ? { activateArrived: activate.at - t0, activateAnswered: activate.at + activate.ms - t0 } : {}),
    };
    const stop = t.runStateEvents.find((e) => e.host === s.from && e.event === 'STOP' && e.at >= t0 && e.at <= end);
    const resume = stop && t.runStateEvents.find((e) => e.host === s.to && e.event === 'RESUME' && e.at >= stop.at && e.at <= end);
    if (stop && resume) s.pauseMs = resume.at - stop.at;
  }
}

async function settle(msToWait: number): Promise<void> {
  await sleep(msToWait, signal);
}

/** One migration of one path under one case's load, with the client or dirtier around it. */
/** After a failed migration the guest must still run where it was (QEMU and nubo both promise that before the switch). */
async function recover(path: PathName): Promise<void> {
  if (isRaw(path)) {
    const st = (await raw!.vm.qmp.execute('query-status', undefined, { signal, timeoutMs: 5_000 })).status;
    if (st !== 'running') throw new Error(`after the failed raw migration the source is ${st}, not running`);
    return;
  }
  const c = api!;
  const vm = await pollUntil('nubo VM running after the failed migration', async () => {
    const v = await c.getVm(nuboVm!.id, { signal });
    return v.state === 'running' ? v : undefined;
  }, { signal, timeoutMs: 120_000, intervalMs: 250 });
  nuboVm = { ...nuboVm!, hostIndex: vm.host === host(1).name ? 1 : 2 };
}

async function measure(caseName: CaseName, path: PathName, run: number, accel: 'kvm' | 'tcg'): Promise<Sample | undefined> {
  const ip = isRaw(path) ? rawIp : nuboVm!.ip;
  if (ip === undefined) throw new Error('no guest address');
  let guestDirtyMiBps: number | undefined;
  // From the fabric side (this process's namespace, like the HTTP client), on every path: started before the case's
  // load so that it has replies well before the migration, stopped after the settle that follows it.
  probe = startIcmpProbe(ip, { intervalMs: ICMP_INTERVAL_MS });
  if (caseName === 'dirty') {
    await guestGet(ip, '/cgi-bin/dirty?on');
    await settle(2_000); // past the one-off 4 MiB of urandom, into the steady loop
    const a = Number(await guestGet(ip, '/cgi-bin/dirty'));
    const ta = Date.now();
    await settle(2_000);
    const b = Number(await guestGet(ip, '/cgi-bin/dirty'));
    guestDirtyMiBps = ((b - a) * 1000) / (Date.now() - ta);
  } else if (caseName === 'web') {
    loop = startHttpLoop(`http://${ip}/file-512k`, { expectBytes: tinyFile512k().length });
    await settle(CLIENT_WINDOW_MS + 500);
  } else {
    await settle(1_000);
  }
  let done: Migrated | undefined;
  try {
    done = isRaw(path) ? await migrateRaw(run, accel, path) : await migrateNubo(path);
  } catch (err) {
    if (signal.aborted) throw err;
    // Recorded and survived: one failed migration (another lab on the machine, a stalled TCP connect) should not cost the whole run.
    const f: FailedMigration = { case: caseName, path, run, error: err instanceof Error ? err.message : String(err), fabricHolders: await fabricHolders().catch(() => []) };
    failedMigrations.push(f);
    console.log(`  ${caseName} ${path} run ${run + 1}: FAILED: ${f.error} (interfaces holding the fabric address: ${f.fabricHolders.join(', ')})`);
    await recover(path);
  } finally {
    if (caseName === 'dirty') await guestGet(ip, '/cgi-bin/dirty?off').catch(() => '');
  }
  if (done === undefined) {
    if (loop) await loop.stop();
    loop = undefined;
    await stopProbe();
    await settle(1_000);
    return undefined;
  }
  let client: ClientStats | undefined;
  if (caseName === 'web' && loop) {
    await settle(CLIENT_WINDOW_MS + 200);
    const l = await loop.stop();
    loop = undefined;
    const answers = l.answersAtMs.map((t) => l.startedAt + t);
    const gap = longestGap(answers, done.windowStart, done.windowEnd);
    client = {
      gapMs: gap.ms, lastAnswerBeforeGap: gap.lastBefore - done.windowStart, firstAnswerAfterGap: gap.firstAfter - done.windowStart,
      ok: l.ok, failed: l.failed, errors: [...l.errors],
      beforeRps: throughput(answers, done.windowStart - CLIENT_WINDOW_MS, done.windowStart),
      duringRps: throughput(answers, done.windowStart, done.windowEnd),
      afterRps: throughput(answers, done.windowEnd, done.windowEnd + CLIENT_WINDOW_MS),
    };
  }
  const sample: Sample = { case: caseName, run, ...done.sample, ...(guestDirtyMiBps !== undefined ? { guestDirtyMiBps } : {}), ...(client ? { client } : {}) };
  samples.push(sample);
  await settle(1_000);
  const replies = await stopProbe();
  const net = networkDowntime(replies, done.windowStart, done.windowEnd);
  sample.icmp = { downtimeMs: net.ms, lastReplyBefore: net.lastBefore - done.windowStart, firstReplyAfter: net.firstAfter - done.windowStart, lost: net.lost, replies: net.replies, medianIntervalMs: net.medianIntervalMs };
  const extra = client ? `, client gap ${ms(client.gapMs)}, failed ${client.failed}` : guestDirtyMiBps !== undefined ? `, guest wrote ${guestDirtyMiBps.toFixed(1)} MiB/s, QEMU dirty ${mib(sample.dirtyRateBytes)} MiB/s` : '';
  console.log(`  ${caseName} ${path} run ${run + 1}: ${sample.from}→${sample.to} total ${ms(sample.totalMs)}, QEMU downtime ${ms(sample.qemuDowntimeMs ?? NaN)}, ${mib(sample.transferredBytes)} MiB, ${sample.passes} passes, ICMP downtime ${ms(net.ms)} (${net.lost} echoes lost, replies every ${net.medianIntervalMs.toFixed(1)} ms p50)${extra}`);
  return sample;
}

async function stopProbe(): Promise<PingReply[]> {
  const p = probe;
  probe = undefined;
  return p === undefined ? [] : p.stop();
}

let failure: unknown;
try {
  const s = await setUp();
  rawIp = s.rawIp;
  accelUsed = s.accel;
  console.log(`lab ${prefix}: 2 hosts, migration TLS ${tls ? 'on' : 'off'}, accel ${s.accel.toUpperCase()}, guests ${memoryMiB} MiB / 1 vCPU on the shared datastore`);
  await bootGuests(s.template, s.rawSpec, s.accel);
  console.log(`guests up: raw ${rawIp} (QEMU pid ${raw!.vm.pid}), nubo ${nuboVm!.ip} (${nuboVm!.id}); ${runs} runs per case and path`);
  for (const cs of CASES) {
    for (let run = 0; run < runs; run++) {
      // Each path goes first in turn, so that drift hits all of them.
      const order: PathName[] = PATHS.map((_, i) => PATHS[(i + run) % PATHS.length]!);
      for (const path of order) await measure(cs, path, run, s.accel);
    }
  }
  await placeAgentRequests();
} catch (err) {
  failure = err;
  await tailLabLogs();
} finally {
  await cleanup();
}
if (failure !== undefined) {
  console.error('migration benchmark failed:', failure);
  process.exitCode = signal.aborted ? 130 : 1;
} else {
  await reportMigrate({ samples, failedMigrations, runs, memoryMiB, tls, accel: accelUsed, dirtySleepUs, startedAt, paths: PATHS, compareSwitch, compareRawResume, icmpIntervalMs: ICMP_INTERVAL_MS });
}
