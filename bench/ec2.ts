/**
 * EC2 launch benchmark (issue 14): RunInstances → `running` through the EC2
 * Query API against `POST /api/v1/vms` → `running` through the native API,
 * on an in-process cloud with real QEMU (nubo-tiny, 1 vCPU, 128 MiB: the
 * `tiny` template and the `nubo.tiny` type are the same size). Target: the
 * same within 10 % (median of per-pair ratios ≤ 1.10). Not a test.
 *
 * Each side is timed by its own client from the request until that client
 * first sees `running` (DescribeInstances, GET /vms/{id}), both polling every
 * --poll-ms, so the comparison is of the two APIs over the same orchestrator;
 * what EC2 adds is its translation (ids, XML, SigV4) and nothing else. Both
 * clients run in a process of their own (this file again, EC2B_CLIENT=1), as
 * a user's would: in the cloud's process the SDK's XML parsing of every poll
 * took the controller's event loop from the launch it was timing. Pairs
 * are interleaved (bench/support); each instance is terminated before the
 * next launch so that one guest runs at a time.
 *
 * --runs (BENCH_EC2_RUNS, default 15: with 5, a run or two of the shared
 * machine's noise left the verdict INCONCLUSIVE); --poll-ms (BENCH_EC2_POLL_MS,
 * default 100). The table also gives how long each side's create call took
 * to answer: a launch is that and the polls until `running`.
 * Prints a table, writes JSON to bench/results/.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand, type _InstanceType } from '@aws-sdk/client-ec2';
import { pino } from 'pino';
import { NuboClient } from '../src/client/nubo-client.js';
import { startInProcessCloud, type InProcessCloud } from '../test/support/in-process-cloud.js';
import { benchFlag } from './support/bench-flag.js';
import { interleaved } from './support/interleaved.js';
import { comparePairs, describeComparison } from './support/paired-comparison.js';
import { median, quantile } from './support/quantile.js';
import { textTable } from './support/text-table.js';
import { pollUntil } from '../src/util/deadline.js';
import { waitState } from './support/vm-waits.js';

const runs = benchFlag('runs', 'BENCH_EC2_RUNS', 15);
const pollMs = benchFlag('poll-ms', 'BENCH_EC2_POLL_MS', 100);
const say = (line: string): void => void process.stderr.write(`${line}\n`);
const TIMEOUT_MS = 600_000;

/** Polls with the shared helper: a deadline of TIMEOUT_MS, every --poll-ms. */
const until = <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => pollUntil(what, probe, { timeoutMs: TIMEOUT_MS, intervalMs: pollMs });

/** The clients' side, in a process of their own (EC2B_CLIENT=1): the interleaved pairs; prints them as JSON. */
async function clients(): Promise<void> {
  const e = process.env;
  const api = new NuboClient(e['EC2B_NATIVE_URL'] ?? '', e['EC2B_TOKEN'] ?? '');
  const ec2 = new EC2Client({ endpoint: e['EC2B_ENDPOINT'] ?? '', region: 'nubo-1', credentials: { accessKeyId: e['EC2B_ID'] ?? '', secretAccessKey: e['EC2B_SECRET'] ?? '' }, maxAttempts: 1 });
  try {
    const ami = (await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['tiny'] }] }))).Images?.[0]?.ImageId;
    if (ami === undefined) throw new Error('no AMI for the tiny template');
    // How long each side's create call took to answer (the rest of a run is polls): where a difference comes from.
    const answered = { ec2: [] as number[], native: [] as number[] };
    const viaEc2 = async (): Promise<number> => {
      const t0 = performance.now();
      const run = await ec2.send(new RunInstancesCommand({ ImageId: ami, InstanceType: 'nubo.tiny' as _InstanceType, MinCount: 1, MaxCount: 1 }));
      answered.ec2.push(performance.now() - t0);
      const id = run.Instances?.[0]?.InstanceId;
      if (id === undefined) throw new Error('RunInstances returned no instance');
      await until(`${id} running`, async () => {
        const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
        const state = d.Reservations?.[0]?.Instances?.[0]?.State?.Name;
        if (state === 'terminated' || state === 'shutting-down') throw new Error(`${id} ended ${state}`);
        return state === 'running' ? true : undefined;
      });
      const ms = performance.now() - t0;
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
      await until(`${id} terminated`, async () => {
        const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
        // A terminated instance may also drop out of DescribeInstances.
        const state = d.Reservations?.[0]?.Instances?.[0]?.State?.Name;
        return state === undefined || state === 'terminated' ? true : undefined;
      });
      return ms;
    };
    let n = 0;
    const viaNative = async (): Promise<number> => {
      const t0 = performance.now();
      const vm = await api.createVm({ template: 'tiny', name: `native-${n++}` });
      answered.native.push(performance.now() - t0);
      await until(`${vm.id} running`, async () => {
        const v = await api.getVm(vm.id);
        if (v.state === 'failed' || v.state === 'terminated') throw new Error(`${vm.id} ended ${v.state}`);
        return v.state === 'running' ? true : undefined;
      });
      const ms = performance.now() - t0;
      await api.vmAction(vm.id, 'terminate-hard');
      await waitState(api, vm.id, 'terminated', TIMEOUT_MS);
      return ms;
    };
    const pairs = await interleaved(runs, viaNative, viaEc2);
    process.stdout.write(`${JSON.stringify({ pairs, answered })}\n`);
  } finally {
    ec2.destroy();
  }
}

/** The cloud's side: the controller, agent and QEMU in this process; the clients in a child (their work off this event loop). */
async function host(): Promise<void> {
  let cloud: InProcessCloud | undefined;
  try {
    cloud = await startInProcessCloud({ prefix: 'nubo-bench-ec2-', logger: pino({ level: process.env['NUBO_BENCH_LOG'] ?? 'silent' }), ec2: { listen: { host: '127.0.0.1', port: 0 } } });
    // The same user on both sides: the admin, with its native token and an access key for EC2.
    const admin = await cloud.controller.store.users.findByName('admin');
    if (!admin) throw new Error('no admin user');
    const key = await cloud.controller.accessKeys.create(admin.id);
    say(`${runs} interleaved pairs: native POST /vms → running, EC2 RunInstances → running (poll every ${pollMs} ms; the clients in a process of their own)`);
    const env = { ...process.env, EC2B_CLIENT: '1', EC2B_ENDPOINT: cloud.controller.ec2!.url, EC2B_ID: key.key.id, EC2B_SECRET: key.secretAccessKey, EC2B_NATIVE_URL: cloud.api.baseUrl, EC2B_TOKEN: cloud.api.token };
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { env, maxBuffer: 16 << 20, timeout: TIMEOUT_MS * runs }, (err, stdout, stderr) => {
        if (err) reject(new Error(`the clients' process: ${stderr || err.message}`));
        else resolve(stdout);
      });
    });
    const { pairs, answered } = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { pairs: { raw: number; nubo: number }[]; answered: { ec2: number[]; native: number[] } };
    for (const [i, p] of pairs.entries()) say(`  pair ${i + 1}: native ${(p.raw / 1000).toFixed(2)} s, EC2 ${(p.nubo / 1000).toFixed(2)} s`);
    const c = comparePairs('EC2 RunInstances → running vs native POST /vms → running', pairs, 'ratio', { limit: 1.1, kind: 'atMost' }, 'ms');
    const row = (name: string, xs: readonly number[], create: readonly number[]): string[] => [name, (median(xs) / 1000).toFixed(3), (quantile(xs, 0.9) / 1000).toFixed(3), median(create).toFixed(1), `${xs.length}`];
    console.log(`\nLaunch → running, real QEMU (TCG), nubo-tiny 128 MiB, one guest at a time, ${new Date().toISOString()}`);
    console.log(textTable(['API', 'p50 s', 'p90 s', 'create answered p50 ms', 'runs'], [row('native POST /api/v1/vms', pairs.map((p) => p.raw), answered.native), row('EC2 RunInstances', pairs.map((p) => p.nubo), answered.ec2)]));
    console.log('');
    console.log(describeComparison(c));
    await mkdir('bench/results', { recursive: true });
    const file = join('bench/results', `ec2-${Date.now()}.json`);
    await writeFile(file, `${JSON.stringify({ at: new Date().toISOString(), runs, pollMs, comparison: c, createAnsweredMs: answered }, null, 2)}\n`);
    console.log(`\nwrote ${file}`);
  } finally {
    await cloud?.stop().catch((err: unknown) => say(`clean-up: ${String(err)}`));
  }
}

if (process.env['EC2B_CLIENT'] === '1') await clients();
else await host();
