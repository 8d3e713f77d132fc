/**
 * The control plane at scale (issue 13): (a) the pure placement rate over
 * core/placement with 1,000 and 10,000 synthetic hosts (goal ≥ 5,000/s at
 * 10,000); then, against a fake fleet (--hosts agents over the fake driver,
 * real agent HTTP APIs, in --fleet-procs processes of their own — default one
 * per 250 hosts —, apart from this one, which runs the API clients) and a real
 * `nubo controller` in a process of its own, for SQLite and PostgreSQL side by side: (b) the
 * end-to-end admission rate through the API (--vms requested by --clients
 * concurrent clients; VMs reaching running per second, failures), (c) API
 * latency p50/p99 with --clients concurrent clients on a show/list/create
 * mix, (d) the controller's CPU per heartbeat processed, (e) its RSS.
 * Prints tables, writes JSON to bench/results/. Not a test.
 *
 *   node dist/bench/scale.js [--hosts 1000] [--vms 10000] [--clients 200] [--fleet-procs N] [--stores sqlite,postgres] [--placement-only]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeFleetProcesses, HOSTS_PER_PROCESS } from '../src/agent/fake-fleet-processes.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { compilePlacementPolicy } from '../src/core/placement/placement-policy.js';
import { pollUntil } from '../src/util/deadline.js';
import { errorMessage } from '../src/errors/nubo-error.js';
import { runCommand } from '../src/util/run-command.js';
import { startPostgresCluster, type PostgresCluster } from '../test/support/postgres-cluster.js';
import { benchFlag } from './support/bench-flag.js';
import { startControllerProcess } from '../test/support/controller-process.js';
import { placementRate, syntheticHosts } from './support/placement-rate.js';
import { quantile } from './support/quantile.js';
import { textTable } from './support/text-table.js';

const hosts = benchFlag('hosts', 'BENCH_HOSTS', 1_000);
const vms = benchFlag('vms', 'BENCH_VMS', 10_000);
const clients = benchFlag('clients', 'BENCH_CLIENTS', 200);
// The fleet's agents in processes of their own: one process answering a thousand agents and beating for them, beside
// the clients, was saturated at the admission rate SQLite reaches — its late beats and connects were the failures.
const fleetProcs = benchFlag('fleet-procs', 'BENCH_FLEET_PROCS', Math.max(1, Math.ceil(hosts / HOSTS_PER_PROCESS)));
const placements = benchFlag('placements', 'BENCH_PLACEMENTS', 5_000);
const heartbeatWindowS = benchFlag('heartbeat-window', 'BENCH_HEARTBEAT_WINDOW', 15);
const latencyRequests = benchFlag('latency-requests', 'BENCH_LATENCY_REQUESTS', 2_000);
const storesAt = process.argv.indexOf('--stores');
const stores = (process.argv.find((a) => a.startsWith('--stores='))?.slice(9) ?? (storesAt >= 0 ? process.argv[storesAt + 1] : undefined) ?? process.env['BENCH_STORES'] ?? 'sqlite,postgres').split(',');
for (const s of stores) if (s !== 'sqlite' && s !== 'postgres') throw new RangeError(`--stores: sqlite and/or postgres, comma-separated (got ${s})`);
const HEARTBEAT_MS = 5_000;
const CREATING = new Set(['pending', 'prolog', 'boot']);
const fmt = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '-');

// (a) pure placement: placeVm over every host (before) and the PlacementIndex the controller uses (after), same decisions
const policy = compilePlacementPolicy({ cpuOvercommit: 4 });
const placementRows: { hosts: number; plainPerSecond: number; perSecond: number; unplaced: number; sameDecisions: boolean }[] = [];
for (const n of [1_000, 10_000]) {
  const fleetHosts = syntheticHosts(n);
  placementRate(fleetHosts, 200, policy); // warm-up: the JIT, not the numbers
  placementRate(fleetHosts, 200, policy, { indexed: true });
  const plain: ReturnType<typeof placementRate>[] = [];
  const indexed: ReturnType<typeof placementRate>[] = [];
  // Interleaved, so that the machine's noise falls on both alike.
  for (let run = 0; run < 3; run++) {
    plain.push(placementRate(fleetHosts, placements, policy));
    indexed.push(placementRate(fleetHosts, placements, policy, { indexed: true }));
  }
  const sameDecisions = plain.every((p, i) => p.chosen.length === indexed[i]!.chosen.length && p.chosen.every((id, j) => id === indexed[i]!.chosen[j]));
  placementRows.push({ hosts: n, plainPerSecond: quantile(plain.map((r) => r.perSecond), 0.5), perSecond: quantile(indexed.map((r) => r.perSecond), 0.5), unplaced: indexed[0]!.unplaced, sameDecisions });
}
console.log(`\n(a) pure placement (core/placement, packing, ${placements} VMs placed one after another, median of 3 interleaved runs), ${new Date().toISOString()}`);
console.log(textTable(['hosts', 'placeVm (every host)/s', 'PlacementIndex/s', 'goal', 'unplaced', 'same decisions'], placementRows.map((r) => [String(r.hosts), fmt(r.plainPerSecond, 0), fmt(r.perSecond, 0), r.hosts === 10_000 ? '≥ 5000' : '', String(r.unplaced), r.sameDecisions ? 'yes' : 'NO'])));
if (process.argv.includes('--placement-only')) process.exit(placementRows.every((r) => r.sameDecisions) ? 0 : 1);

interface StoreResult {
  store: string;
  admission: { requested: number; running: number; failed: number; seconds: number; perSecond: number; postP50: number; postP99: number; why: Record<string, number> };
  latency: Record<string, { n: number; p50: number; p99: number }>;
  latencyErrors: number;
  errors: Record<string, number>;
  heartbeat: { beats: number; cpuMs: number; cpuMsPerBeat: number; beatsPerSecond: number };
  /** VMs whose state the controller changed behind the API (heartbeat reconciliation, host loss): none should be, no fake VM stops. */
  unasked: { leftRunning: number; changed: number; why: Record<string, number> };
  /** The controller's longest event-loop stall while admitting (s), and the fleet's side of the beats: whose delay a silent host was. */
  lagMaxS: number;
  fleetBeats: { maxGapMs: number; maxSampleMs: number; maxSendMs: number };
  /** The fleet's processes: how many, and how many were still alive after it closed (goal 0). */
  fleetProcs: { processes: number; leftAlive: number };
  rssMiB: { idle: number; end: number; peak: number };
  startS: number;
}

async function measure(store: string): Promise<StoreResult> {
  const root = await mkdtemp(join(tmpdir(), 'nubo-bench-scale-'));
  let pg: PostgresCluster | undefined;
  let fleet: FakeFleetProcesses | undefined;
  const fleetProcsLeft = { processes: 0, leftAlive: 0 };
  let ctl: Awaited<ReturnType<typeof startControllerProcess>> | undefined;
  try {
    if (store === 'postgres') pg = await startPostgresCluster({ database: 'nubo_scale' });
    ctl = await startControllerProcess({ cli: join(import.meta.dirname, '../src/cli/nubo.js'), dataDir: join(root, 'controller'), home: join(root, 'home'), heartbeatMs: HEARTBEAT_MS, postgres: pg?.connectionString });
    const c = ctl;
    const idle = await c.rssMiB();
    const api = new NuboClient(c.url, c.adminToken);
    // Room for every VM on a quarter of the hosts: placement has real choices to make.
    const perHost = Math.max(4, Math.ceil((4 * vms) / hosts));
    const t0 = performance.now();
    fleet = await FakeFleetProcesses.start({ hosts, processes: fleetProcs, rootDir: join(root, 'fleet'), capacity: { cpus: perHost, memoryMiB: perHost * 256, diskMiB: perHost * 10_240 }, controllerUrl: c.url, heartbeatIntervalMs: HEARTBEAT_MS, logLevel: process.env['NUBO_BENCH_LOG'] });
    fleetProcsLeft.processes = fleet.pids.length;
    const f = fleet;
    const queue = [...f.hosts];
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (let h = queue.shift(); h !== undefined; h = queue.shift()) await api.registerHost({ name: h.name, agentUrl: h.url, agentToken: h.token }, { timeoutMs: 60_000 });
    }));
    await f.beatAll({ concurrency: 16 });
    await f.startBeating();
    const startS = (performance.now() - t0) / 1000;
    const disk = join(root, 'disk.qcow2');
    await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '1M'], { timeoutMs: 30_000 });
    await api.uploadImage({ name: 'disk', file: disk });
    await api.createTemplate({ name: 'small', vcpus: 1, memoryMiB: 128, image: 'disk' });

    // (b) admission
    const names = Array.from({ length: vms }, (_, i) => `s${i}`);
    const postMs: number[] = [];
    // Why each POST failed (a client time-out, a connection refused, the controller's error code): the fix depends on which.
    const postWhy: Record<string, number> = {};
    const a0 = performance.now();
    // The controller's longest event-loop stall while admitting, from its own /metrics (prom-client's, reset each read).
    let lagMaxS = 0;
    const lagTimer = setInterval(() => {
      void fetch(`${c.url}/metrics`).then((r) => r.text()).then((t) => {
        const m = /^nubo_controller_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(t);
        if (m) lagMaxS = Math.max(lagMaxS, Number(m[1]));
      }, () => undefined);
    }, 2_000);
    await Promise.all(Array.from({ length: clients }, async () => {
      for (let name = names.shift(); name !== undefined; name = names.shift()) {
        const p0 = performance.now();
        await api.createVm({ template: 'small', name }, { timeoutMs: 120_000 }).then(() => postMs.push(performance.now() - p0), (err: unknown) => {
          const k = `POST failed after ~${Math.round((performance.now() - p0) / 10_000) * 10} s: ${(err as { code?: string }).code ?? 'ERROR'} ${errorMessage(err).replace(/[0-9a-f-]{36}/g, 'ID').replace(/\d+/g, 'N').slice(0, 100)}`;
          postWhy[k] = (postWhy[k] ?? 0) + 1;
        });
      }
    }));
    const settled = await pollUntil(`${vms} VMs settled`, async () => {
      const all = await api.listVms({}, { timeoutMs: 120_000 });
      return all.every((v) => !CREATING.has(v.state)) ? all : undefined;
    }, { timeoutMs: 3_600_000, intervalMs: 2_000 });
    clearInterval(lagTimer);
    const fleetBeats = await f.stats();
    const seconds = (performance.now() - a0) / 1000;
    const running = settled.filter((v) => v.state === 'running').length;
    // What the failures were, counted by state and reason (a VM's own id in a reason would make each one distinct).
    const why: Record<string, number> = {};
    for (const v of settled.filter((x) => x.state !== 'running')) {
      const k = `${v.state}: ${(v.stateReason ?? '').replace(/[0-9a-f-]{36}/g, 'ID').replace(/\d+ s\b/, 'N s')}`;
      why[k] = (why[k] ?? 0) + 1;
    }
    Object.assign(why, postWhy);

    // (d) heartbeats alone: no API traffic, the fleet beating
    const cpu0 = await c.cpuMs();
    const b0 = (await f.stats()).taken;
    await new Promise((r) => setTimeout(r, heartbeatWindowS * 1000));
    const cpuMs = (await c.cpuMs()) - cpu0;
    const beats = (await f.stats()).taken - b0;

    // (c) latency under `clients` concurrent clients: show 60 %, list of one host's VMs 30 %, create 10 %
    const ids = settled.map((v) => v.id);
    const lat: Record<string, number[]> = { show: [], 'list (host)': [], create: [] };
    // A request that fails (a connect timeout on a saturated controller) is counted with its reason, not fatal:
    // the admission numbers measured before it would be lost with the process (a 1,000-host run was, twice).
    const errors: Record<string, number> = {};
    let next = 0;
    await Promise.all(Array.from({ length: clients }, async () => {
      for (let i = next++; i < latencyRequests; i = next++) {
        const kind = i % 10 < 6 ? 'show' : i % 10 < 9 ? 'list (host)' : 'create';
        const p0 = performance.now();
        try {
          if (kind === 'show') await api.getVm(ids[(i * 7919) % ids.length]!, { timeoutMs: 120_000 });
          else if (kind === 'list (host)') await api.listVms({ host: f.hosts[(i * 31) % f.hosts.length]!.name }, { timeoutMs: 120_000 });
          else await api.createVm({ template: 'small', name: `l${i}` }, { timeoutMs: 120_000 });
          lat[kind]!.push(performance.now() - p0);
        } catch (err) {
          const k = `${kind}: ${(err as { code?: string }).code ?? 'ERROR'} ${((err as { details?: { reason?: string } }).details?.reason ?? errorMessage(err)).slice(0, 80)}`;
          errors[k] = (errors[k] ?? 0) + 1;
        }
      }
    }));
    const all = Object.values(lat).flat();
    const latency = Object.fromEntries([...Object.entries(lat), ['all', all] as const].map(([k, xs]) => [k, { n: xs.length, p50: quantile(xs, 0.5), p99: quantile(xs, 0.99) }]));
    const latencyErrors = Object.values(errors).reduce((a, n) => a + n, 0);
    const end = await c.rssMiB();
    const unasked = await unaskedChanges(api);
    return {
      store, startS,
      // A VM whose POST failed is not running: counted once, among vms − running (its reason says 'POST failed').
      admission: { requested: vms, running, failed: vms - running, seconds, perSecond: running / seconds, postP50: quantile(postMs, 0.5), postP99: quantile(postMs, 0.99), why },
      latency, latencyErrors, errors,
      heartbeat: { beats, cpuMs, cpuMsPerBeat: cpuMs / beats, beatsPerSecond: beats / heartbeatWindowS },
      unasked, lagMaxS, fleetBeats: { maxGapMs: fleetBeats.maxGapMs, maxSampleMs: fleetBeats.maxSampleMs, maxSendMs: fleetBeats.maxSendMs }, fleetProcs: fleetProcsLeft,
      rssMiB: { idle: idle.now, end: end.now, peak: end.peak },
    };
  } finally {
    const pids = fleet?.pids ?? [];
    await fleet?.close();
    // No fleet process may outlive its run (each is ended by its pid): counted, and reported.
    fleetProcsLeft.leftAlive = pids.filter(isAlive).length;
    await ctl?.stop();
    await pg?.stop();
    await rm(root, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The VMs the controller moved on its own — a heartbeat's reconciliation
 * (`monitor`) or a host declared lost (`host-lost`) — read from the event log:
 * the fake VMs never stop by themselves and no host dies here, so every such
 * change is the control plane's mistake (a host taken for silent under load,
 * a report applied over a newer state). `leftRunning`: VMs that were running.
 */
async function unaskedChanges(api: NuboClient): Promise<StoreResult['unasked']> {
  const left = new Set<string>();
  const changed = new Set<string>();
  const why: Record<string, number> = {};
  for (let page = await api.listEvents(0, { timeoutMs: 120_000 }); page.length > 0; page = await api.listEvents(page.at(-1)!.seq, { timeoutMs: 120_000 })) {
    for (const e of page) {
      const action = e.data['action'];
      if (e.kind !== 'vm.state' || (action !== 'monitor' && action !== 'host-lost')) continue;
      changed.add(e.resourceId);
      if (e.data['from'] === 'running') left.add(e.resourceId);
      const reason = typeof e.data['reason'] === 'string' ? e.data['reason'] : '';
      const k = `${String(e.data['from'])} → ${String(e.data['to'])} (${action}): ${reason.replace(/\d+ s\b/, 'N s').replace(/host \S+:/, 'host H:')}`;
      why[k] = (why[k] ?? 0) + 1;
    }
  }
  return { leftRunning: left.size, changed: changed.size, why };
}

const results: StoreResult[] = [];
for (const s of stores) results.push(await measure(s));

console.log(`\n(b)–(e) fake fleet: ${hosts} hosts in ${fleetProcs} processes, ${vms} VMs, ${clients} concurrent clients; controller in its own process, heartbeats every ${HEARTBEAT_MS / 1000} s, ${new Date().toISOString()}`);
const col = (f: (r: StoreResult) => string): string[] => results.map(f);
const rows: string[][] = [
  ['fleet up (start + register + first beat)', ...col((r) => `${fmt(r.startS)} s`)],
  ['(b) VMs running / requested', ...col((r) => `${r.admission.running} / ${r.admission.requested}`)],
  ['(b) failures', ...col((r) => String(r.admission.failed))],
  ['(b) admission → running', ...col((r) => `${fmt(r.admission.perSecond)} VMs/s (${fmt(r.admission.seconds)} s)`)],
  ['(b) POST /vms p50 / p99 while admitting', ...col((r) => `${fmt(r.admission.postP50, 0)} / ${fmt(r.admission.postP99, 0)} ms`)],
  ...Object.keys(results[0]?.latency ?? {}).map((k) => [`(c) ${k} p50 / p99`, ...col((r) => `${fmt(r.latency[k]!.p50, 0)} / ${fmt(r.latency[k]!.p99, 0)} ms (n=${r.latency[k]!.n})`)]),
  ['(c) requests failed', ...col((r) => String(r.latencyErrors))],
  ['(b) controller event-loop stall, longest', ...col((r) => `${fmt(r.lagMaxS * 1000, 0)} ms`)],
  ['(b) fleet: longest gap between a host\'s beats', ...col((r) => `${fmt(r.fleetBeats.maxGapMs / 1000)} s (sampling ≤ ${fmt(r.fleetBeats.maxSampleMs / 1000)} s, send ≤ ${fmt(r.fleetBeats.maxSendMs / 1000)} s)`)],
  ['fleet processes / left alive after the run', ...col((r) => `${r.fleetProcs.processes} / ${r.fleetProcs.leftAlive}`)],
  ['(b)–(d) VMs that left running unasked', ...col((r) => String(r.unasked.leftRunning))],
  ['(b)–(d) VMs changed by beats or host loss', ...col((r) => String(r.unasked.changed))],
  ['(d) heartbeats processed', ...col((r) => `${r.heartbeat.beats} (${fmt(r.heartbeat.beatsPerSecond)}/s)`)],
  ['(d) controller CPU per heartbeat', ...col((r) => `${fmt(r.heartbeat.cpuMsPerBeat, 2)} ms`)],
  ['(d) controller CPU, fleet beating, no API traffic', ...col((r) => `${fmt(r.heartbeat.cpuMs / (heartbeatWindowS * 10), 1)} % of a core`)],
  ['(e) controller RSS idle / end / peak', ...col((r) => `${fmt(r.rssMiB.idle, 0)} / ${fmt(r.rssMiB.end, 0)} / ${fmt(r.rssMiB.peak, 0)} MiB`)],
];
console.log(textTable(['', ...results.map((r) => r.store)], rows));
for (const r of results) for (const [k, n] of Object.entries(r.admission.why)) console.log(`failed (${r.store}): ${n} × ${k}`);
for (const r of results) for (const [k, n] of Object.entries(r.errors)) console.log(`(c) request failed (${r.store}): ${n} × ${k}`);
for (const r of results) for (const [k, n] of Object.entries(r.unasked.why)) console.log(`changed unasked (${r.store}): ${n} × ${k}`);
const failed = results.reduce((a, r) => a + r.admission.failed, 0);
const pl = placementRows.find((r) => r.hosts === 10_000)!;
console.log(`\n${pl.perSecond >= 5_000 && pl.sameDecisions ? 'PASS' : 'FAIL'} pure placement at 10,000 hosts: ${fmt(pl.perSecond, 0)}/s (goal ≥ 5,000/s), decisions ${pl.sameDecisions ? 'the same as' : 'DIFFERENT from'} placeVm's`);
console.log(`${failed === 0 ? 'PASS' : 'FAIL'} admission: ${failed} failures (goal 0)`);
const latencyFailed = results.reduce((a, r) => a + r.latencyErrors, 0);
console.log(`${latencyFailed === 0 ? 'PASS' : 'FAIL'} API under ${clients} clients: ${latencyFailed} requests failed (goal 0)`);
const unaskedVms = results.reduce((a, r) => a + r.unasked.changed, 0);
console.log(`${unaskedVms === 0 ? 'PASS' : 'FAIL'} reconciliation: ${unaskedVms} VMs changed by beats or host loss, none of which stopped or lost a host (goal 0)`);
const left = results.reduce((a, r) => a + r.fleetProcs.leftAlive, 0);
console.log(`${left === 0 ? 'PASS' : 'FAIL'} fleet processes: ${left} left alive after their run (goal 0)`);
await mkdir('bench/results', { recursive: true });
const out = join('bench/results', `scale-${Date.now()}.json`);
await writeFile(out, JSON.stringify({ hosts, vms, clients, fleetProcs, placements, placement: placementRows, stores: results }, null, 2));
console.log(`wrote ${out}`);
