import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  DescribeImagesCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand, waitUntilInstanceRunning, waitUntilInstanceTerminated,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { AccessKeyClient } from '../src/client/access-key-client.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';
import type { DaemonProcess } from './support/daemon-process.js';
import { closeOneHostSite, startOneHostSite, startSiteController, type OneHostSite } from './support/one-host-site.js';

// RunInstances' crash points with the real processes: a `nubo controller`
// serving EC2 (and one real-QEMU agent) started with
// NUBO_FAILPOINTS=<point>=exit, so it SIGKILLs itself after the ClientToken's
// claim and before any create (`ec2.run.claimed`), after the VM's native
// create and before its EC2 record (`ec2.run.created`), and after the records,
// before the answer (`ec2.run.recorded`). The client never hears back; after
// the restart, the same RunInstances with the same ClientToken (what the SDK
// does with its idempotency token) ends with exactly one instance — the VM the
// first call made, or (killed before any create) the one the retry makes —,
// which runs: nothing duplicated, nothing lost.

let site: OneHostSite | undefined;
let controller: DaemonProcess;
let ec2Port: number;
let ec2: EC2Client;
let credentials: { accessKeyId: string; secretAccessKey: string };
const TINY = 'nubo.tiny' as _InstanceType;
const WAIT = { maxWaitTime: 600, minDelay: 1, maxDelay: 2 };

const ec2Args = (): string[] => ['--ec2-listen', `127.0.0.1:${ec2Port}`];
const client = (): EC2Client => new EC2Client({ endpoint: `http://127.0.0.1:${ec2Port}`, region: 'nubo-1', credentials, maxAttempts: 1 });

async function startController(env: NodeJS.ProcessEnv = {}): Promise<void> {
  controller = startSiteController(site!.root, site!.controllerPort, env, ec2Args());
  await controller.waitFor(/EC2 Query API listening/, 120_000);
}

before(async () => {
  ec2Port = await freePort();
  site = await startOneHostSite('nubo-ec2-crash-', { controllerArgs: ec2Args() });
  controller = site.controller;
  await controller.waitFor(/EC2 Query API listening/, 60_000);
  const key = await new AccessKeyClient(site.url, site.adminToken).create('me', {});
  credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  ec2 = client();
});

after(async () => {
  ec2?.destroy();
  if (site) await closeOneHostSite({ ...site, controller });
});

/** The VMs not terminated. */
const live = async (): Promise<{ id: string; state: string }[]> => (await site!.api.listVms()).filter((v) => v.state !== 'terminated');

for (const point of ['ec2.run.claimed', 'ec2.run.created', 'ec2.run.recorded']) {
  test(`the controller SIGKILLed at ${point}: the RunInstances retried with its ClientToken after the restart ends with exactly one instance`, async () => {
    const ami = (await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['tiny'] }] }))).Images?.[0]?.ImageId;
    assert.ok(ami);
    assert.deepEqual(await live(), [], 'nothing runs before');
    const token = `crash-${point}`;
    const params = { ImageId: ami, InstanceType: TINY, MinCount: 1, MaxCount: 1, ClientToken: token };

    await controller.stop();
    await startController({ NUBO_FAILPOINTS: `${point}=exit` });
    const doomed = client();
    const first = await doomed.send(new RunInstancesCommand(params)).then((r) => `answered ${JSON.stringify(r.Instances?.map((i) => i.InstanceId))}`, (err: unknown) => String(err));
    doomed.destroy();
    await pollUntil(`the controller to die at ${point}`, async () => (controller.alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 100 }).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; the call got ${first}; the controller's last output:\n${controller.output.join('').slice(-3000)}`);
    });
    assert.equal(controller.child.signalCode, 'SIGKILL', 'a crash, not an orderly stop');
    await startController();

    const made = await live();
    // Killed after the claim, the first call made nothing; later, its one VM.
    assert.equal(made.length, point === 'ec2.run.claimed' ? 0 : 1, `the VMs the first call made: ${JSON.stringify(made)}`);
    const retry = await ec2.send(new RunInstancesCommand(params));
    const ids = retry.Instances?.map((i) => i.InstanceId ?? '') ?? [];
    assert.equal(ids.length, 1, `one instance in the answer: ${JSON.stringify(retry.Instances)}`);
    const id = ids[0]!;
    assert.match(id, /^i-[0-9a-f]{17}$/);
    const after = await live();
    assert.equal(after.length, 1, `one VM: ${JSON.stringify(after)}`);
    if (made[0] !== undefined) assert.equal(after[0]!.id, made[0].id, 'no second VM: the retry found the first call\'s');
    const again = await ec2.send(new RunInstancesCommand(params));
    assert.deepEqual(again.Instances?.map((i) => i.InstanceId), [id], 'a further retry answers the same instance');
    assert.equal(again.ReservationId, retry.ReservationId);

    await waitUntilInstanceRunning({ client: ec2, ...WAIT }, { InstanceIds: [id] });
    const described = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['running', 'pending'] }] }));
    assert.deepEqual(described.Reservations?.flatMap((r) => r.Instances?.map((i) => [i.InstanceId, i.InstanceType]) ?? []), [[id, 'nubo.tiny']], 'one instance, with its record (its type)');
    const vm = await site!.api.getVm(after[0]!.id);
    assert.equal(vm.history.filter((h) => h.to === 'running').length, 1, `reached running once: ${JSON.stringify(vm.history.map((h) => h.to))}`);

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitUntilInstanceTerminated({ client: ec2, ...WAIT }, { InstanceIds: [id] });
  });
}
