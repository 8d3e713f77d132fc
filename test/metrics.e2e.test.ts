import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';
import { startProbingVm } from './support/console-probes.js';
import { remoteRejects } from './support/remote-rejects.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { TenancyClient } from '../src/client/tenancy-client.js';
import { runCli } from '../src/cli/cli-test-kit.js';
import { pollUntil } from '../src/util/deadline.js';
import type { VmMetricsView } from '../src/contract/metrics-schemas.js';

/**
 * Issue 16 item 1 with real QEMU on one host: the agent samples each VM
 * (CPU from the QEMU threads, disk I/O from QMP's block stats), the
 * controller pulls the samples into its history and serves them — to the
 * VM's owner only —, `vm top --once` prints them, and /metrics is
 * Prometheus text with the controller's own series.
 */

let cloud: InProcessCloud;
before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-metrics-', logger: pino({ level: 'silent' }), metricsIntervalMs: 1_000 });
});
after(async () => {
  await cloud?.stop();
});

/** Burns one vCPU and writes 4 MiB to the data disk every second, synced so it reaches the block layer. */
const BUSY = '#!/bin/sh\n(while :; do :; done) &\n(while :; do dd if=/dev/zero of=/data/blob bs=64k count=64 conv=fsync 2>/dev/null; echo PROBE busy; sleep 1; done) &\n';
const IDLE = '#!/bin/sh\n(while :; do echo PROBE idle; sleep 2; done) &\n';

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

test('a busy guest shows more CPU than an idle one and its disk writes; only its owner reads them; /metrics and vm top --once', async () => {
  const api = cloud.api;
  const busy = await startProbingVm(api, { template: 'tiny', name: 'busy', userData: BUSY });
  const idle = await startProbingVm(api, { template: 'tiny', name: 'idle', userData: IDLE });
  const since = new Date().toISOString();

  // Four samples of each taken after both guests settled into their loops.
  const enough = async (id: string): Promise<VmMetricsView> =>
    pollUntil(`four samples of ${id}`, async () => {
      const m = await api.vmMetrics(id, since);
      return m.samples.length >= 4 ? m : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });
  const [b, i] = [await enough(busy), await enough(idle)];
  const host = (await api.getHost('h1')).id;
  assert.equal(b.hostId, host);
  assert.equal(b.intervalMs, 1_000);
  assert.ok(b.samples.every((s) => Date.parse(s.at) > Date.parse(since)), 'only samples after `since`');
  const busyCpu = mean(b.samples.map((s) => s.vcpuPercent));
  const idleCpu = mean(i.samples.map((s) => s.vcpuPercent));
  assert.ok(busyCpu > 20 && busyCpu > 2 * idleCpu, `busy guest ${busyCpu.toFixed(1)} % vs idle ${idleCpu.toFixed(1)} % of a CPU`);
  assert.ok(b.samples.every((s) => s.memoryBytes === 128 * 2 ** 20 && s.rssBytes > 0));
  // The dd loop writes 4 MiB a second: the block stats must have counted writes, and the rate must show them.
  assert.ok((b.totals?.diskWriteBytes ?? 0) >= 4 * 2 ** 20, `busy guest wrote ${b.totals?.diskWriteBytes} bytes`);
  assert.ok(b.samples.some((s) => s.diskWriteBytesPerSec > 256 * 1024), `write rates ${b.samples.map((s) => s.diskWriteBytesPerSec).join(', ')}`);
  assert.ok((i.totals?.diskWriteBytes ?? 0) < (b.totals?.diskWriteBytes ?? 0));

  // The host's samples add up its VMs; the top views have the latest of each.
  const hm = await api.hostMetrics('h1');
  const last = hm.samples.at(-1);
  assert.ok(last && last.vms === 2 && last.cpuPercent > 0 && last.machineCpus > 0 && last.machineMemoryTotalBytes > 0, JSON.stringify(last));
  const top = await api.vmTop();
  assert.deepEqual(top.map((t) => t.name).sort(), ['busy', 'idle']);
  assert.ok(top.every((t) => t.sample !== null));
  assert.equal((await api.hostTop()).find((h) => h.name === 'h1')?.sample?.vms, 2);

  // Another user sees none of it: the VM is "not found", the host's metrics need an admin.
  const bob = await new TenancyClient(cloud.controller.url, api.token).createUser({ name: 'bob' });
  const asBob = new NuboClient(cloud.controller.url, bob.token);
  await remoteRejects(asBob.vmMetrics(busy), 404, 'NOT_FOUND');
  await remoteRejects(asBob.hostMetrics('h1'), 403, 'FORBIDDEN');
  assert.deepEqual(await asBob.vmTop(), []);
  await remoteRejects(asBob.hostTop(), 403, 'FORBIDDEN');
  // A malformed `since` is refused, naming the field.
  await remoteRejects(api.vmMetrics(busy, 'yesterday'), 400, 'VALIDATION_FAILED', 'since');

  // The CLI's one-shot table, for scripts.
  const cli = await runCli(['vm', 'top', '--once', '--url', cloud.controller.url, '--token', api.token]);
  assert.equal(cli.code, 0, cli.stderr);
  const lines = cli.stdout.trim().split('\n');
  assert.match(lines[0] ?? '', /^ID\s+NAME\s+CPU\s+VCPU\s+MEMORY\s+DISK READ\s+DISK WRITE\s+NET RX\s+NET TX/);
  // Busiest first.
  assert.match(lines[1] ?? '', /\bbusy\b/);
  assert.match(lines[2] ?? '', /\bidle\b/);

  // Prometheus text: every sample line well-formed, and the controller's series present.
  const res = await fetch(`${cloud.controller.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.]+(e[+-]?[0-9]+)?|NaN|[+-]Inf)$/, `a Prometheus sample line: ${line}`);
  }
  for (const [name, type] of [['nubo_api_request_duration_seconds', 'histogram'], ['nubo_migration_duration_seconds', 'histogram'], ['nubo_migration_downtime_seconds', 'histogram'], ['nubo_operations_in_flight', 'gauge'], ['nubo_host_cpu_percent', 'gauge']] as const) {
    assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `${name} is a ${type}`);
  }
  assert.match(text, /^nubo_api_request_duration_seconds_count\{method="GET",route="\/api\/v1\/vms\/:id\/metrics",status="200"\} [1-9]/m);
  assert.match(text, /^nubo_host_vms\{host="h1"\} 2$/m);
});
