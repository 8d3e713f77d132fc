import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStore, type Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import type { JsonObject } from '../store/store-context.js';
import { compilePlacementPolicy } from '../core/placement/placement-policy.js';
import type { AgentClient } from '../client/agent-client.js';
import type { AgentVmReport } from '../contract/agent-api.js';
import { RemoteError, UnreachableError } from '../client/remote-error.js';
import { pollUntil } from '../util/deadline.js';
import type { VmPhaseTable } from './vm-phase-table.js';
import { HostMonitor } from './host-monitor.js';
import { VmOrchestrator } from './vm-orchestrator.js';
import type { VmOrchestratorOptions } from './vm-orchestrator-options.js';
import type { CloudStepOutcome } from './cloud-step-outcome.js';
import { CloudUnreachableError } from './cloud-unreachable-error.js';
import type { CloudVm } from '../store/repositories/clouds-repository.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { CloudBursting } from './cloud-bursting.js';
import type { AccessKeyCipher } from './access-key-cipher.js';
import type { BurstPolicy } from '../core/placement/burst-timing.js';

// The orchestrator's decisions over a real SQLite store; the agent is a scripted stand-in (no hypervisor is involved).

type AgentScript = Partial<Record<'prepare' | 'start' | 'suspend' | 'delete', (id: string) => Promise<unknown>>>;

const spec = (cpus: number): ControllerVmSpec => ({
  agent: { vcpus: cpus, memoryMiB: 128, disk: { image: { id: 'i', name: 'i', url: 'http://127.0.0.1:9/i', sha256: 'a'.repeat(64), format: 'qcow2' } } } as unknown as ControllerVmSpec['agent'],
  demand: { vcpus: cpus, memoryMiB: 128, diskMiB: 64, cpuModel: 'qemu64' },
});

async function setup(script: AgentScript = {}, o: { cpus?: number; phases?: (store: Store) => VmPhaseTable; clouds?: (store: Store) => VmOrchestratorOptions['clouds'] } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-orch-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  const { user } = await store.users.create({ name: 'u', role: 'admin' });
  const registered = await store.hosts.register({ name: 'h1', agentUrl: 'http://127.0.0.1:9', agentToken: 't'.repeat(20), cpuModel: 'qemu64', totalCpus: o.cpus ?? 2, totalMemoryMib: 4096, totalDiskMib: 10_000 });
  await store.hosts.recordHeartbeat(registered.id, { load: 0, usedMemoryMiB: 0, usedDiskMiB: 0, cpuModels: ['qemu64'], kvm: false });
  await store.hosts.setState(registered.id, 'enabled');
  const calls: string[] = [];
  const call = async (name: keyof AgentScript, id: string, dflt: unknown): Promise<unknown> => {
    calls.push(`${name} ${id}`);
    const f = script[name];
    return f ? f(id) : dflt;
  };
  const running = (id: string): AgentVmReport => ({ id, state: 'running' });
  const agent = {
    prepare: (id: string) => call('prepare', id, { id, state: 'poweroff' }),
    start: (id: string) => call('start', id, running(id)),
    suspend: (id: string) => call('suspend', id, { id, state: 'suspended' }),
    delete: (id: string) => call('delete', id, undefined),
  } as unknown as AgentClient;
  // What `stop` needs of the system store: the VM's files leave the host, and so does its reservation.
  const phases: VmPhaseTable = o.phases?.(store) ?? {
    'epilog-stop': async (vm: Vm) => {
      await store.vms.releaseFromHost(vm.id, { reason: 'stopped' });
    },
    forget: async () => {},
  };
  const orchestrator = new VmOrchestrator({
    store, agentFor: (_h: Host) => agent, policy: compilePlacementPolicy({}), logger: pino({ level: 'silent' }), phases,
    unreachableRetry: { initialMs: 20, maxMs: 100, giveUpAfterMs: 60_000 }, clouds: o.clouds?.(store),
  });
  const newVm = (name: string, cpus = 1): Promise<Vm> =>
    store.vms.create({ name, ownerId: user.id, spec: spec(cpus) as unknown as JsonObject, operation: { action: 'create', from: 'pending' } });
  const waitState = (id: string, states: readonly string[], timeoutMs = 5_000): Promise<Vm> =>
    pollUntil(`VM ${id} ${states.join('|')}`, async () => {
      const vm = await store.vms.get(id);
      return states.includes(vm.state) ? vm : undefined;
    }, { timeoutMs, intervalMs: 10 });
  return {
    store, orchestrator, calls, newVm, waitState, hostId: registered.id,
    async cleanup() {
      await orchestrator.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A store whose `hosts.list` (the scheduler's read of the hosts) can be held after it has read. */
function withHeldHostList(store: Store): { store: Store; hold(): Promise<void>; release(): void } {
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let reached: (() => void) | undefined;
  const list = store.hosts.list.bind(store.hosts);
  const hosts = Object.create(store.hosts) as Store['hosts'];
  hosts.list = async (...args: Parameters<Store['hosts']['list']>) => {
    const read = await list(...args);
    if (gate) {
      reached?.();
      await gate;
    }
    return read;
  };
  return {
    store: { ...store, hosts },
    hold: () => {
      gate = new Promise((resolve) => (open = resolve));
      return new Promise((resolve) => (reached = resolve));
    },
    release: () => {
      gate = undefined;
      open?.();
    },
  };
}

test('a kick that arrives while the VM\'s scheduling pass runs is not lost', async () => {
  const base = await setup({}, { cpus: 1 });
  const held = withHeldHostList(base.store);
  const orchestrator = new VmOrchestrator({ store: held.store, agentFor: () => ({ prepare: async () => ({}), start: async (id: string) => ({ id, state: 'running' }) }) as unknown as AgentClient, policy: compilePlacementPolicy({}), logger: pino({ level: 'silent' }) });
  try {
    // The host's only CPU is taken: the second VM has to wait.
    const a = await base.newVm('a');
    await base.store.vms.bindToHost(a.id, base.hostId, { cpus: 1, memoryMib: 128, diskMib: 64 });
    const b = await base.newVm('b');
    const reached = held.hold();
    orchestrator.kick(b.id);
    await reached; // the pass has read the hosts (still full) and not decided yet
    await base.store.vms.releaseFromHost(a.id);
    orchestrator.kick(b.id); // room appeared: this kick must lead to another pass
    held.release();
    const vm = await base.waitState(b.id, ['running'], 3_000);
    assert.equal(vm.hostId, base.hostId);
  } finally {
    await orchestrator.close();
    await base.cleanup();
  }
});

test('capacity freed by `stop` wakes a VM waiting in pending: it is scheduled at once', async () => {
  const t = await setup({}, { cpus: 1 });
  try {
    const a = await t.newVm('a');
    t.orchestrator.kick(a.id);
    await t.waitState(a.id, ['running']);
    const b = await t.newVm('b');
    t.orchestrator.kick(b.id);
    await t.orchestrator.idle();
    assert.equal((await t.store.vms.get(b.id)).state, 'pending', 'no room for b while a runs');
    await t.orchestrator.act(a.id, 'stop');
    await t.waitState(a.id, ['stopped']);
    // Nothing else kicks b: no timer, no heartbeat in this test.
    const vm = await t.waitState(b.id, ['running'], 3_000);
    assert.equal(vm.hostId, t.hostId);
  } finally {
    await t.cleanup();
  }
});

test('a delegated phase runs from the table with the VM, its host and the stop signal; after the epilog the table forgets the VM', async () => {
  const seen: string[] = [];
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void (w.name === 'MaxListenersExceededWarning' && warnings.push(w.message));
  process.on('warning', onWarning);
  const t = await setup({}, {
    phases: (store) => ({
      'epilog-stop': async (vm, host, signal) => {
        seen.push(`epilog-stop ${vm.id} on ${host.name}, signal ${signal.aborted ? 'aborted' : 'live'}`);
        // Shared by every agent call in flight (one per VM driven at once): a dozen of them must not warn of a leak.
        const calls = Array.from({ length: 12 }, () => () => {});
        for (const f of calls) signal.addEventListener('abort', f);
        for (const f of calls) signal.removeEventListener('abort', f);
        await store.vms.releaseFromHost(vm.id, { reason: 'stopped' });
      },
      forget: async (vmId) => {
        seen.push(`forget ${vmId}`);
      },
    }),
  });
  try {
    const a = await t.newVm('a');
    t.orchestrator.kick(a.id);
    await t.waitState(a.id, ['running']);
    await t.orchestrator.act(a.id, 'stop');
    await t.waitState(a.id, ['stopped']);
    await t.orchestrator.act(a.id, 'terminate');
    await t.waitState(a.id, ['terminated']);
    assert.deepEqual(seen, [`epilog-stop ${a.id} on h1, signal live`, `forget ${a.id}`]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings, [], 'no listener-leak warning for the stop signal');
  } finally {
    process.off('warning', onWarning);
    await t.cleanup();
  }
});

test('a phase the table leaves out fails its step as unsupported, saying which collaborator this controller lacks; the VM keeps running', async () => {
  const t = await setup({}, { phases: () => ({}) });
  try {
    const a = await t.newVm('a');
    t.orchestrator.kick(a.id);
    await t.waitState(a.id, ['running']);
    await t.orchestrator.act(a.id, 'migrate-live');
    await t.orchestrator.idle();
    const vm = await t.store.vms.get(a.id);
    assert.equal(vm.state, 'running');
    assert.equal(vm.operation, null);
    const last = (await t.store.vms.history(a.id)).at(-1);
    assert.match(last?.reason ?? '', /migrate-live failed: migrate-live is not supported: this controller has no live migrator/);
  } finally {
    await t.cleanup();
  }
});

test('an agent that is unreachable for a while (refused, 503) is retried, and the VM ends running', async () => {
  let prepares = 0;
  let starts = 0;
  const t = await setup({
    prepare: async (id) => {
      if (++prepares <= 3) throw new UnreachableError('http://127.0.0.1:9', 'connect ECONNREFUSED 127.0.0.1:9');
      return { id, state: 'poweroff' };
    },
    start: async (id) => {
      if (++starts <= 2) throw new RemoteError(503, 'HTTP_503', 'Service Unavailable', {});
      return { id, state: 'running' };
    },
  });
  try {
    const vm = await t.newVm('a');
    t.orchestrator.kick(vm.id);
    const done = await t.waitState(vm.id, ['running', 'failed']);
    assert.equal(done.state, 'running', `reason: ${done.stateReason}`);
    assert.equal(prepares, 4);
    assert.equal(starts, 3);
    assert.ok(!(await t.store.vms.history(vm.id)).some((h) => h.toState === 'failed'), 'never recorded failed');
  } finally {
    await t.cleanup();
  }
});

test('a definite answer from the agent (a typed error) fails the step', async () => {
  let prepares = 0;
  const t = await setup({
    prepare: async () => {
      prepares++;
      throw new RemoteError(500, 'HYPERVISOR_ERROR', 'qemu-img create failed: no space left on device', {});
    },
  });
  try {
    const vm = await t.newVm('a');
    t.orchestrator.kick(vm.id);
    const done = await t.waitState(vm.id, ['running', 'failed']);
    assert.equal(done.state, 'failed');
    assert.match(done.stateReason ?? '', /prolog: .*no space left/);
    assert.equal(prepares, 1, 'not retried');
  } finally {
    await t.cleanup();
  }
});

test('an agent unreachable until its host is declared lost: the VM follows host loss (unknown), not failed', async () => {
  const t = await setup({
    start: async () => {
      throw new UnreachableError('http://127.0.0.1:9', 'connect ECONNREFUSED 127.0.0.1:9');
    },
  });
  const monitor = new HostMonitor({ store: t.store, orchestrator: t.orchestrator, logger: pino({ level: 'silent' }), heartbeatIntervalMs: 1000 });
  try {
    const vm = await t.newVm('a');
    t.orchestrator.kick(vm.id);
    await t.waitState(vm.id, ['boot']);
    await pollUntil('a few start attempts', () => (t.calls.filter((c) => c.startsWith('start')).length >= 3 ? true : undefined), { timeoutMs: 5_000, intervalMs: 10 });
    assert.equal((await t.store.vms.get(vm.id)).state, 'boot', 'still retrying');
    await monitor.checkSilence(Date.now() + 60_000);
    await t.orchestrator.idle();
    const after = await t.store.vms.get(vm.id);
    assert.equal(after.state, 'unknown');
    assert.equal(after.operation, null);
    assert.ok(!(await t.store.vms.history(vm.id)).some((h) => h.toState === 'failed'));
  } finally {
    await t.cleanup();
  }
});

test('a 502 that carries the agent\'s own error (an image that failed its checksum) is a verdict, not an unreachable agent', async () => {
  let prepares = 0;
  const t = await setup({
    prepare: async () => {
      prepares++;
      throw new RemoteError(502, 'IMAGE_FETCH_FAILED', 'image i: sha256 mismatch', {});
    },
  });
  try {
    const vm = await t.newVm('a');
    t.orchestrator.kick(vm.id);
    const done = await t.waitState(vm.id, ['failed']);
    assert.match(done.stateReason ?? '', /prolog: .*sha256 mismatch/);
    assert.equal(prepares, 1, 'not retried');
  } finally {
    await t.cleanup();
  }
});

test('an agent on a host the monitor has already declared lost is not waited for: the step fails at once', async () => {
  let starts = 0;
  const t = await setup({
    start: async () => {
      starts++;
      // As an admin's terminate or recover on a host that is in `error`: no host-loss verdict is coming any more.
      await t.store.hosts.setState(t.hostId, 'error', 'no heartbeat for 30 s');
      throw new UnreachableError('http://127.0.0.1:9', 'connect ECONNREFUSED 127.0.0.1:9');
    },
  });
  try {
    const vm = await t.newVm('a');
    t.orchestrator.kick(vm.id);
    const done = await t.waitState(vm.id, ['failed']);
    assert.match(done.stateReason ?? '', /boot: .*unreachable|boot: .*ECONNREFUSED/);
    assert.equal(starts, 1, 'not retried');
  } finally {
    await t.cleanup();
  }
});

test('retrying an unreachable agent is bounded: past the limit the step fails', async () => {
  const t = await setup();
  const orchestrator = new VmOrchestrator({
    store: t.store, agentFor: () => ({ prepare: async () => { throw new UnreachableError('http://127.0.0.1:9', 'connect ECONNREFUSED 127.0.0.1:9'); } }) as unknown as AgentClient,
    policy: compilePlacementPolicy({}), logger: pino({ level: 'silent' }), unreachableRetry: { initialMs: 10, maxMs: 20, giveUpAfterMs: 200 },
  });
  try {
    const vm = await t.newVm('a');
    orchestrator.kick(vm.id);
    const done = await t.waitState(vm.id, ['failed']);
    assert.match(done.stateReason ?? '', /prolog: .*unreachable/);
  } finally {
    await orchestrator.close();
    await t.cleanup();
  }
});

test('close() ends a retry wait at once; the operation stays recorded for the next controller', async () => {
  const t = await setup({
    prepare: async () => {
      throw new UnreachableError('http://127.0.0.1:9', 'connect ECONNREFUSED 127.0.0.1:9');
    },
  });
  try {
    const vm = await t.newVm('a');
    t.orchestrator.kick(vm.id);
    await pollUntil('a prepare attempt', () => (t.calls.length > 0 ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 });
    const started = Date.now();
    await t.orchestrator.close();
    assert.ok(Date.now() - started < 1_000, 'close did not wait for the backoff');
    const after = await t.store.vms.get(vm.id);
    assert.equal(after.state, 'prolog');
    assert.deepEqual(after.operation, { action: 'create', from: 'pending' });
  } finally {
    await t.cleanup();
  }
});

test('an ended operation wakes the VMs waiting for room, without listing every pending VM', async () => {
  const t = await setup({}, { cpus: 1 });
  let pendingLists = 0;
  const list = t.store.vms.list.bind(t.store.vms);
  t.store.vms.list = (...args: Parameters<Store['vms']['list']>) => {
    if (args[0]?.state === 'pending') pendingLists++;
    return list(...args);
  };
  try {
    const vms = await Promise.all(['a', 'b', 'c'].map((n) => t.newVm(n)));
    for (const vm of vms) t.orchestrator.kick(vm.id);
    const first = await pollUntil('one VM running', async () => {
      const all = await Promise.all(vms.map((v) => t.store.vms.get(v.id)));
      return all.find((v) => v.state === 'running');
    }, { timeoutMs: 5_000, intervalMs: 10 });
    await t.orchestrator.idle();
    await t.orchestrator.act(first.id, 'stop');
    await t.waitState(first.id, ['stopped']);
    // One of the two that waited takes the freed CPU at once: nothing else kicks them in this test.
    await pollUntil('a waiting VM running', async () => {
      const all = await Promise.all(vms.filter((v) => v.id !== first.id).map((v) => t.store.vms.get(v.id)));
      return all.some((v) => v.state === 'running') ? true : undefined;
    }, { timeoutMs: 3_000, intervalMs: 10 });
    assert.equal(pendingLists, 0);
  } finally {
    await t.cleanup();
  }
});

/** A scripted remote cloud: binds every VM the local hosts did not take (through the real store), records the steps asked of it. */
function scriptedCloud(steps: string[], run: (phase: string, attempt: number) => Promise<CloudStepOutcome> = async () => ({ done: true })) {
  let cloudId = '';
  const attempts = new Map<string, number>();
  return {
    clouds: (store: Store): VmOrchestratorOptions['clouds'] => ({
      binding: (vmId: string) => store.clouds.binding(vmId),
      place: async (vm: Vm, _demand: unknown, localSummary: string) => {
        cloudId ||= (await store.clouds.create({ name: 'burst-1', endpoint: 'http://127.0.0.1:9', region: 'r', accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', seal: () => 'v1:x', instanceTypes: {}, images: {}, capacityVms: 5, pricePerHour: 0, burst: 'when-full' })).id;
        if (steps.includes('full')) return { summary: `${localSummary}; no cloud takes it (burst-1: full)` };
        const b = await store.clouds.bind({ vmId: vm.id, cloudId, instanceType: 't', imageId: 'ami-00000001' });
        if ('full' in b) throw new Error('full');
        return { bound: b, cloud: 'burst-1' };
      },
      runPhase: async (vm: Vm, _b: CloudVm, phase: string) => {
        const n = (attempts.get(phase) ?? 0) + 1;
        attempts.set(phase, n);
        steps.push(phase);
        const r = await run(phase, n);
        // As the real one: a refused launch gives the VM's place on the cloud back; so does the epilog.
        if ('requeue' in r || phase === 'epilog') await store.clouds.unbind(vm.id);
        return r;
      },
    }),
  };
}

test('a VM no local host takes is bound to a cloud and its steps run there; the local host is untouched', async () => {
  const steps: string[] = [];
  const c = await setup({}, { cpus: 1, clouds: scriptedCloud(steps).clouds });
  try {
    const a = await c.newVm('a');
    c.orchestrator.kick(a.id);
    await c.waitState(a.id, ['running']);
    const b = await c.newVm('b');
    c.orchestrator.kick(b.id);
    const running = await c.waitState(b.id, ['running']);
    assert.equal(running.hostId, null);
    assert.deepEqual(steps, ['prolog', 'boot']);
    assert.deepEqual(c.calls.filter((x) => x.endsWith(running.id)), [], 'no agent call for the cloud VM');
    assert.ok((await c.store.vms.history(b.id)).some((h) => h.reason === 'placed on cloud burst-1'));
    // What moves or saves a host's files is refused for it, before anything starts.
    await assert.rejects(c.orchestrator.act(b.id, 'suspend'), /cannot suspend: it runs on a remote cloud/);
    await assert.rejects(c.orchestrator.act(b.id, 'stop'), /cannot stop: it runs on a remote cloud/);
    assert.equal((await c.store.vms.get(b.id)).state, 'running');
    await c.orchestrator.act(b.id, 'terminate-hard');
    await c.waitState(b.id, ['terminated']);
    assert.deepEqual(steps, ['prolog', 'boot', 'shutdown-hard', 'epilog']);
  } finally {
    await c.cleanup();
  }
});

test('a launch the cloud refuses sends the VM back to pending with the reason; an unreachable cloud is retried', async () => {
  const steps: string[] = [];
  const cloud = scriptedCloud(steps, async (phase, n) => {
    if (phase === 'prolog' && n === 1) throw new CloudUnreachableError('burst-1', 'connect ECONNREFUSED');
    if (phase === 'prolog' && n === 2) {
      steps.push('full');
      return { requeue: 'cloud burst-1 refused the launch: InsufficientInstanceCapacity: no room' };
    }
    return { done: true };
  });
  const c = await setup({}, { cpus: 1, clouds: cloud.clouds });
  try {
    const a = await c.newVm('a');
    c.orchestrator.kick(a.id);
    await c.waitState(a.id, ['running']);
    const b = await c.newVm('b');
    c.orchestrator.kick(b.id);
    const waiting = await pollUntil('b waiting with the cloud\'s reason', async () => {
      const v = await c.store.vms.get(b.id);
      return v.state === 'pending' && /burst-1: full/.test(v.stateReason ?? '') ? v : undefined;
    }, { timeoutMs: 5_000, intervalMs: 10 });
    assert.ok((await c.store.vms.history(b.id)).some((h) => /InsufficientInstanceCapacity/.test(h.reason ?? '')), 'the refusal is in the history');
    assert.deepEqual(steps.slice(0, 2), ['prolog', 'prolog'], 'the unreachable launch was retried');
    assert.equal(waiting.hostId, null);
  } finally {
    await c.cleanup();
  }
});

/** The real CloudBursting's placement (its wait policy, over the store) with scripted steps: no EC2 is reached. */
function waitingCloud(steps: string[], policy: BurstPolicy, now?: () => number) {
  return (store: Store): VmOrchestratorOptions['clouds'] => {
    const real = new CloudBursting({ store, cipher: {} as AccessKeyCipher, logger: pino({ level: 'silent' }), policy, now, onRoom: () => {} });
    return {
      binding: (vmId: string) => real.binding(vmId),
      place: (vm, demand, summary) => real.place(vm, demand, summary),
      runPhase: async (vm: Vm, _b: CloudVm, phase: string) => {
        steps.push(phase);
        if (phase === 'epilog') await store.clouds.unbind(vm.id);
        return { done: true };
      },
    };
  };
}

async function addCloud(store: Store): Promise<void> {
  await store.clouds.create({ name: 'burst-1', endpoint: 'http://127.0.0.1:9', region: 'r', accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', seal: () => 'v1:x', instanceTypes: { '1x128': 't' }, images: { i: 'ami-00000001' }, capacityVms: 5, pricePerHour: 0, burst: 'when-full' });
}

test('when-wait-exceeds: a VM no local host takes waits with the reason, then bursts once when its wait is over, the history saying why', async () => {
  const steps: string[] = [];
  const c = await setup({}, { cpus: 1, clouds: waitingCloud(steps, { kind: 'when-wait-exceeds', maxWaitS: 0.4 }) });
  try {
    await addCloud(c.store);
    const a = await c.newVm('a');
    c.orchestrator.kick(a.id);
    await c.waitState(a.id, ['running']);
    const b = await c.newVm('b');
    c.orchestrator.kick(b.id);
    const waiting = await pollUntil('b waiting out the wait', async () => {
      const v = await c.store.vms.get(b.id);
      return /burst-1: it takes VMs that waited more than 0\.4 s for a local host/.test(v.stateReason ?? '') ? v : undefined;
    }, { timeoutMs: 5_000, intervalMs: 10 });
    assert.equal(waiting.state, 'pending');
    // Nothing kicks it but its own timer.
    const running = await c.waitState(b.id, ['running'], 10_000);
    assert.equal(running.hostId, null);
    const history = await c.store.vms.history(b.id);
    const placed = history.filter((h) => /placed on cloud/.test(h.reason ?? ''));
    assert.equal(placed.length, 1);
    assert.match(placed[0]!.reason ?? '', /^placed on cloud burst-1: waited \d+(\.\d)? s > 0\.4 s for a local host$/);
    assert.ok(Date.parse(placed[0]!.at) - Date.parse(history[0]!.at) > 400, 'not before the wait was over');
    assert.deepEqual(steps, ['prolog', 'boot']);
  } finally {
    await c.cleanup();
  }
});

test('when-wait-exceeds: the wait is measured from the stored pending time (a controller that starts an hour later bursts it at once); a VM that finds a local host first never bursts', async () => {
  const steps: string[] = [];
  const hourLater = (): number => Date.now() + 3_600_000;
  const c = await setup({}, { cpus: 1, clouds: waitingCloud(steps, { kind: 'when-wait-exceeds', maxWaitS: 30 }, hourLater) });
  try {
    await addCloud(c.store);
    const a = await c.newVm('a');
    c.orchestrator.kick(a.id);
    await c.waitState(a.id, ['running']);
    const b = await c.newVm('b');
    c.orchestrator.kick(b.id);
    await c.waitState(b.id, ['running']);
    assert.ok((await c.store.vms.history(b.id)).some((h) => /^placed on cloud burst-1: waited 360\d s > 30 s for a local host$/.test(h.reason ?? '')));
  } finally {
    await c.cleanup();
  }
  const local: string[] = [];
  const d = await setup({}, { cpus: 1, clouds: waitingCloud(local, { kind: 'when-wait-exceeds', maxWaitS: 60 }) });
  try {
    await addCloud(d.store);
    const a = await d.newVm('a');
    d.orchestrator.kick(a.id);
    await d.waitState(a.id, ['running']);
    const b = await d.newVm('b');
    d.orchestrator.kick(b.id);
    await pollUntil('b waiting', async () => (/waited more than 60 s/.test((await d.store.vms.get(b.id)).stateReason ?? '') ? true : undefined), { timeoutMs: 5_000, intervalMs: 10 });
    // `stop` moves a off the host (the scripted agent has no power-off): its room wakes b.
    await d.orchestrator.act(a.id, 'stop');
    const onHost = await d.waitState(b.id, ['running']);
    assert.equal(onHost.hostId, d.hostId);
    assert.deepEqual(local, [], 'no step ran on the cloud');
    assert.equal(await d.store.clouds.binding(b.id), undefined);
  } finally {
    await d.cleanup();
  }
});

/**
 * Several hosts over a real store, each with its own scripted agent: `prepare(host, id, n)` decides the prolog's call
 * (n: that host's how-manieth prepare of the VM). Records which host made which VM.
 */
async function setupHosts(names: readonly string[], prepare: (host: string, id: string, n: number) => Promise<unknown>, o: { giveUpAfterMs?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-orch-hosts-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  const { user } = await store.users.create({ name: 'u', role: 'admin' });
  const hosts = new Map<string, string>();
  for (const name of names) {
    const h = await store.hosts.register({ name, agentUrl: `http://127.0.0.1:9/${name}`, agentToken: 't'.repeat(20), cpuModel: 'qemu64', totalCpus: 2, totalMemoryMib: 4096, totalDiskMib: 10_000 });
    await store.hosts.recordHeartbeat(h.id, { load: 0, usedMemoryMiB: 0, usedDiskMiB: 0, cpuModels: ['qemu64'], kvm: false });
    await store.hosts.setState(h.id, 'enabled');
    hosts.set(name, h.id);
  }
  /** Per host, the prepare calls in order, and the VMs its agent holds (made by a prepare that answered). */
  const asked: string[] = [];
  const made = new Map<string, string[]>();
  const orchestrator = new VmOrchestrator({
    store, policy: compilePlacementPolicy({}), logger: pino({ level: 'silent' }),
    unreachableRetry: { initialMs: 10, maxMs: 20, giveUpAfterMs: o.giveUpAfterMs ?? 60_000 },
    agentFor: (h: Host) => ({
      prepare: async (id: string) => {
        asked.push(h.name);
        const r = await prepare(h.name, id, asked.filter((x) => x === h.name).length);
        made.set(h.name, [...(made.get(h.name) ?? []), id]);
        return r;
      },
      start: async (id: string) => ({ id, state: 'running' }),
    }) as unknown as AgentClient,
  });
  const vm = await store.vms.create({ name: 'a', ownerId: user.id, spec: spec(1) as unknown as JsonObject, operation: { action: 'create', from: 'pending' } });
  const nameOf = (id: string | null): string | undefined => [...hosts].find(([, hid]) => hid === id)?.[0];
  return {
    store, orchestrator, vm, hosts, asked, made, nameOf,
    async reserved(name: string): Promise<number> {
      return (await store.hosts.get(hosts.get(name)!)).reserved.cpus;
    },
    waitState: (states: readonly string[], timeoutMs = 10_000): Promise<Vm> =>
      pollUntil(`VM ${states.join('|')}`, async () => {
        const v = await store.vms.get(vm.id);
        return states.includes(v.state) ? v : undefined;
      }, { timeoutMs, intervalMs: 10 }),
    async cleanup() {
      await orchestrator.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const refused = (host: string): UnreachableError =>
  new UnreachableError(`http://127.0.0.1:9/${host}`, 'connect ECONNREFUSED 127.0.0.1:9 (no connection was made: the request was not sent)', { notSent: true });

test('a create whose host never got the prolog (connection refused) is placed on another host: made once, the first host\'s room given back, an event says why', async () => {
  let first: string | undefined;
  const t = await setupHosts(['h1', 'h2', 'h3'], async (host, id) => {
    first ??= host;
    if (host === first) throw refused(host);
    return { id, state: 'poweroff' };
  });
  try {
    t.orchestrator.kick(t.vm.id);
    const done = await t.waitState(['running', 'failed']);
    assert.equal(done.state, 'running', `reason: ${done.stateReason}`);
    const on = t.nameOf(done.hostId)!;
    assert.notEqual(on, first, 'placed on another host');
    assert.deepEqual([...t.made].map(([h, ids]) => [h, ids.length]), [[on, 1]], 'made once, on its host only');
    assert.deepEqual(t.asked, [first, on], 'the refused host is not asked again');
    assert.equal(await t.reserved(first!), 0, 'the first host\'s reservation is given back');
    assert.equal(await t.reserved(on), 1);
    assert.deepEqual((done.spec as unknown as ControllerVmSpec).avoidHosts, [t.hosts.get(first!)]);
    const history = await t.store.vms.history(t.vm.id);
    assert.deepEqual(history.map((h) => `${h.fromState ?? '-'}→${h.toState}`), ['-→pending', 'pending→prolog', 'prolog→pending', 'pending→prolog', 'prolog→boot', 'boot→running']);
    const back = history.find((h) => h.fromState === 'prolog' && h.toState === 'pending')!;
    assert.match(back.reason ?? '', new RegExp(`placed again: host ${first} could not be reached and never received the request .*ECONNREFUSED`));
    const events = (await t.store.events.listSince(0, 1000)).filter((e) => e.kind === 'vm.state' && e.resourceId === t.vm.id && e.data['to'] === 'pending' && e.data['from'] === 'prolog');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.data['releasedHostId'], t.hosts.get(first!));
    assert.equal(events[0]!.data['cpus'], 1);
  } finally {
    await t.cleanup();
  }
});

test('a reset after the prolog was sent is not placed again: the same host is retried — also when it refuses afterwards — and the VM is made there once', async () => {
  let first: string | undefined;
  const t = await setupHosts(['h1', 'h2'], async (host, id, n) => {
    first ??= host;
    // The request went out, then the connection was reset: the agent may have made the VM. Then the agent refuses a while.
    if (n === 1) throw new UnreachableError(`http://127.0.0.1:9/${host}`, 'read ECONNRESET');
    if (n === 2) throw refused(host);
    return { id, state: 'poweroff' };
  });
  try {
    t.orchestrator.kick(t.vm.id);
    const done = await t.waitState(['running', 'failed']);
    assert.equal(done.state, 'running', `reason: ${done.stateReason}`);
    assert.equal(t.nameOf(done.hostId), first, 'kept on the host that may hold it');
    assert.deepEqual(t.asked, [first, first, first]);
    assert.deepEqual([...t.made].map(([h, ids]) => [h, ids.length]), [[first, 1]]);
    assert.ok(!(await t.store.vms.history(t.vm.id)).some((h) => h.fromState === 'prolog' && h.toState === 'pending'), 'never placed again');
    assert.equal((done.spec as unknown as ControllerVmSpec).avoidHosts, undefined);
  } finally {
    await t.cleanup();
  }
});

test('placing again is bounded: after 3 hosts refused, the 4th is retried as any step (and fails past the limit); with no host left, the VM waits', async () => {
  const t = await setupHosts(['h1', 'h2', 'h3', 'h4', 'h5'], async (host) => {
    throw refused(host);
  }, { giveUpAfterMs: 300 });
  try {
    t.orchestrator.kick(t.vm.id);
    const done = await t.waitState(['failed']);
    assert.match(done.stateReason ?? '', /prolog: .*ECONNREFUSED/);
    const again = (await t.store.vms.history(t.vm.id)).filter((h) => h.fromState === 'prolog' && h.toState === 'pending');
    assert.equal(again.length, 3);
    assert.equal((done.spec as unknown as ControllerVmSpec).avoidHosts?.length, 3);
    const tried = [...new Set(t.asked)];
    assert.equal(tried.length, 4, 'four hosts tried, each one only once placed on');
    assert.ok(t.asked.filter((h) => h === tried[3]).length > 1, 'the 4th host was retried');
    assert.deepEqual(t.made.size, 0);
  } finally {
    await t.cleanup();
  }
  // Two hosts that both refuse: placed again once, then no other host is left, so the second one is retried in the VM's
  // prolog (its agent may come back) — not left pending for ever with every host avoided.
  const two = await setupHosts(['h1', 'h2'], async (host) => {
    throw refused(host);
  });
  try {
    two.orchestrator.kick(two.vm.id);
    const retried = await pollUntil('the second host retried', async () => {
      const v = await two.store.vms.get(two.vm.id);
      const second = two.asked[1];
      return v.state === 'prolog' && second !== undefined && two.asked.filter((h) => h === second).length > 2 ? v : undefined;
    }, { timeoutMs: 10_000, intervalMs: 10 });
    assert.equal((retried.spec as unknown as ControllerVmSpec).avoidHosts?.length, 1, 'placed again once only');
    assert.equal(new Set(two.asked).size, 2);
    assert.equal(two.nameOf(retried.hostId), two.asked[1]);
    assert.equal(await two.reserved(two.asked[0]!), 0, 'the first host holds nothing');
    assert.ok((await two.reserved(two.asked[1]!)) > 0, 'the host it waits on holds its room');
  } finally {
    await two.cleanup();
  }
});

test('a one-host site whose agent refuses (restarting): the create stays in its prolog on that host and runs once it answers', async () => {
  let refusals = 0;
  const t = await setupHosts(['h1'], async (host, id) => {
    if (++refusals <= 3) throw refused(host);
    return { id, state: 'poweroff' };
  });
  try {
    t.orchestrator.kick(t.vm.id);
    const done = await t.waitState(['running', 'failed']);
    assert.equal(done.state, 'running');
    assert.deepEqual(t.asked, ['h1', 'h1', 'h1', 'h1']);
    const history = await t.store.vms.history(t.vm.id);
    assert.ok(!history.some((h) => h.toState === 'pending' && h.fromState === 'prolog'), 'never placed again: there was no other host');
    assert.equal((done.spec as unknown as ControllerVmSpec).avoidHosts, undefined);
  } finally {
    await t.cleanup();
  }
});

test('an admin\'s chosen host that refuses is not given up for another: the create keeps to it', async () => {
  let refusals = 0;
  const t = await setupHosts(['h1', 'h2'], async (host, id) => {
    if (host === 'h1' && ++refusals <= 2) throw refused(host);
    return { id, state: 'poweroff' };
  });
  try {
    const s = { ...spec(1), deploy: { hostId: t.hosts.get('h1')! } };
    await t.store.vms.transition(t.vm.id, { from: ['pending'], to: 'pending', action: 'x', patch: { spec: s as unknown as JsonObject } });
    t.orchestrator.kick(t.vm.id);
    const done = await t.waitState(['running', 'failed']);
    assert.equal(done.state, 'running');
    assert.equal(t.nameOf(done.hostId), 'h1');
    assert.deepEqual(t.asked, ['h1', 'h1', 'h1']);
  } finally {
    await t.cleanup();
  }
});
