/**
 * Provisioning at scale on the fake driver (issue 12 item 4): N VMs requested
 * at once (--vms, default 100; --rounds) through the real API, controller,
 * scheduler, store and agent HTTP API, with the prolog's real files (overlay
 * and config drive) on disk — only QEMU is replaced by FakeDriver, so what is
 * measured is the control plane. Reports failures (target: 0) and the
 * throughput (VMs reaching `running` per second, from the first request to the
 * last `running` in the history). Prints a table, writes JSON to
 * bench/results/. Not a test. The QEMU counterpart (10 at once) is
 * bench/provision.ts.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { AgentService } from '../src/agent/agent-service.js';
import { createAgentServer } from '../src/agent/agent-server.js';
import { ImageCache } from '../src/agent/image-cache.js';
import { readHostFacts, readHostUsage } from '../src/agent/host-facts.js';
import { FakeDriver } from '../src/hypervisor/fake/fake-driver.js';
import { jsonRequest } from '../src/client/json-request.js';
import { NuboClient } from '../src/client/nubo-client.js';
import type { HostReport } from '../src/contract/agent-api.js';
import { buildTinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../src/util/nubo-home.js';
import { pollUntil } from '../src/util/deadline.js';
import { benchFlag } from './support/bench-flag.js';
import { formatDistinct } from './support/format-distinct.js';
import { quantile } from './support/quantile.js';

const vmsPerRound = benchFlag('vms', 'BENCH_VMS', 100);
const rounds = benchFlag('rounds', 'BENCH_ROUNDS', 1);
const logger = pino({ level: process.env['NUBO_BENCH_LOG'] ?? 'silent' });
const CREATING = new Set(['pending', 'prolog', 'boot']);
const wallNow = (): number => performance.timeOrigin + performance.now();

interface RoundResult { round: number; requested: number; running: number; failed: { vm: string; state: string; reason: string | null }[]; wallMs: number; vmsPerS: number; toRunning: number[]; prolog: number[] }

const image = await buildTinyImage({ cacheDir: imageCacheDir() });
const root = await mkdtemp(join(tmpdir(), 'nubo-bench-scale-'));
const dataDir = join(root, 'h1');
await mkdir(dataDir, { recursive: true });
const results: RoundResult[] = [];
let controller: ControllerDaemon | undefined;
let timer: NodeJS.Timeout | undefined;
const driver = new FakeDriver({ allowedDirs: [dataDir] });
const token = randomBytes(24).toString('hex');
const service = new AgentService({ dataDir, hypervisor: driver, images: new ImageCache(join(dataDir, 'images'), token), logger });
// Room for every VM: the fake host claims what the machine does not have, as the simulator does.
const facts = { ...(await readHostFacts('qemu-system-x86_64')), totalCpus: 64, totalMemoryMiB: 256 * 1024 };
const hostReport = async (): Promise<HostReport> => {
  const at = new Date().toISOString();
  const usage = await readHostUsage(dataDir, facts.totalCpus);
  return {
    name: 'h1', cpuModel: facts.cpuModel, cpuModels: [...facts.cpuModels], cpuFlags: [...facts.cpuFlags], kvm: false,
    totalCpus: facts.totalCpus, totalMemoryMiB: facts.totalMemoryMiB, totalDiskMiB: usage.totalDiskMiB,
    usage: { load: 0, usedMemoryMiB: 0, usedDiskMiB: usage.usedDiskMiB },
    vms: await service.lifecycle.list(), bridges: [], migration: { address: '127.0.0.1', tls: false, sharedDatastore: false }, at,
  };
};
const server = createAgentServer({ service, token, hostReport, logger });
try {
  await server.listen({ host: '127.0.0.1', port: 0 });
  const agentUrl = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 5_000, placement: { cpuOvercommit: 8 }, logger });
  const ctl = controller;
  const c = new NuboClient(ctl.url, (await ctl.bootstrapAdmin())!);
  await c.registerHost({ name: 'h1', agentUrl, agentToken: token });
  const beat = async (): Promise<void> => {
    await jsonRequest({ method: 'POST', url: `${ctl.url}/internal/v1/heartbeat`, token, body: await hostReport(), timeoutMs: 10_000 }).catch((err: unknown) => logger.warn({ err }, 'heartbeat failed'));
  };
  await beat();
  timer = setInterval(() => void beat(), 1_000);
  await pollUntil('host h1 enabled', async () => ((await c.getHost('h1')).state === 'enabled' ? true : undefined), { timeoutMs: 20_000 });
  await c.uploadImage({ name: 'tiny-disk', file: image.dataDisk });
  await c.uploadImage({ name: 'tiny-kernel', file: image.kernel, format: 'kernel' });
  await c.uploadImage({ name: 'tiny-initrd', file: image.initrd, format: 'initrd' });
  await c.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, image: 'tiny-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: image.cmdline });
  // Warm-up (not counted): the image cache fetches the images once.
  const warm = await c.createVm({ template: 'tiny', name: 'warm' });
  await pollUntil('warm-up running', async () => ((await c.getVm(warm.id)).state === 'running' ? true : undefined), { timeoutMs: 60_000, intervalMs: 50 });

  for (let round = 0; round < rounds; round++) {
    const t0 = wallNow();
    const names = Array.from({ length: vmsPerRound }, (_, i) => `s${round}-${i}`);
    // A request that errs (a timeout under load) is a failure to report, not the end of the run.
    const posted = await Promise.allSettled(names.map((name) => c.createVm({ template: 'tiny', name }, { timeoutMs: 120_000 })));
    const created = posted.flatMap((p) => (p.status === 'fulfilled' ? [p.value] : []));
    const postFailed = posted.flatMap((p, i) => (p.status === 'rejected' ? [{ vm: names[i]!, state: 'POST failed', reason: String(p.reason) }] : []));
    const ids = new Set(created.map((v) => v.id));
    const settled = await pollUntil(`${vmsPerRound} VMs settled`, async () => {
      const vms = (await c.listVms()).filter((v) => ids.has(v.id));
      // Anything out of the creation's own states is an outcome: a VM that ended elsewhere (poweroff, unknown) is a failure to report, not one to wait for.
      return vms.every((v) => !CREATING.has(v.state)) ? vms : undefined;
    }, { timeoutMs: 600_000, intervalMs: 50 });
    const details = await Promise.all(settled.map((v) => c.getVm(v.id)));
    const at = (v: (typeof details)[number], to: string): number => Date.parse(v.history.find((h) => h.to === to)?.at ?? '');
    const running = details.filter((v) => v.state === 'running');
    const lastRunning = Math.max(...running.map((v) => at(v, 'running')));
    const wallMs = lastRunning - t0;
    results.push({
      round, requested: vmsPerRound, running: running.length,
      failed: [...postFailed, ...details.filter((v) => v.state !== 'running').map((v) => ({ vm: v.name, state: v.state, reason: v.stateReason }))],
      wallMs, vmsPerS: running.length / (wallMs / 1000),
      toRunning: running.map((v) => at(v, 'running') - t0),
      prolog: running.map((v) => at(v, 'boot') - at(v, 'prolog')),
    });
    for (const v of created) await c.vmAction(v.id, 'terminate-hard');
    await pollUntil('round terminated', async () => ((await c.listVms()).some((v) => ids.has(v.id) && v.state !== 'terminated') ? undefined : true), { timeoutMs: 300_000, intervalMs: 100 });
  }
} finally {
  clearInterval(timer);
  await controller?.orchestrator.idle();
  await controller?.stop();
  await server.close();
  await rm(root, { recursive: true, force: true });
}

console.log(`\nprovision at scale — fake driver (real controller, store, agent API, overlay and config drive files), ${vmsPerRound} requested at once × ${rounds} round(s), ${new Date().toISOString()}`);
console.log('| round | requested | running | failed | first request → last running | throughput | request→running p50 | p95 | prolog p50 | p95 |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const [p50, p95, pr50, pr95] = formatDistinct([quantile(r.toRunning, 0.5), quantile(r.toRunning, 0.95), quantile(r.prolog, 0.5), quantile(r.prolog, 0.95)]);
  console.log(`| ${r.round} | ${r.requested} | ${r.running} | ${r.failed.length} | ${(r.wallMs / 1000).toFixed(2)} s | ${r.vmsPerS.toFixed(1)} VMs/s | ${p50} ms | ${p95} ms | ${pr50} ms | ${pr95} ms |`);
}
for (const r of results) for (const f of r.failed) console.log(`failed: round ${r.round} / ${f.vm}: ${f.state} ${f.reason ?? ''}`);
const failed = results.reduce((a, r) => a + r.failed.length, 0);
console.log(`\n${failed === 0 ? 'PASS' : 'FAIL'} 0 failures of ${vmsPerRound * rounds} requested at once: ${failed} failed`);
await mkdir('bench/results', { recursive: true });
const out = join('bench/results', `provision-scale-${Date.now()}.json`);
await writeFile(out, JSON.stringify({ vmsPerRound, rounds, results }, null, 2));
console.log(`wrote ${out}`);
